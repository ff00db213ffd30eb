"""The lexical half of retrieval: BM25 per document language, persisted beside the index.

One index per language, so German chunks are stemmed as German and English ones as
English. Each is stored under ``<index_dir>/lexical/<lang>-<key>/``, the key a hash of
that language's files and versions in the manifest: it is built once when the corpus
changes (by whichever process sees the change first) and afterwards opened in
milliseconds, memory-mapped, in every process (server, ``assistant ask``). Chunk texts
are not kept: a search returns chunk ids, the store returns their texts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# Bump when tokenising, stemming or the file layout change: cached indexes are rebuilt.
LEXICAL_FORMAT = 2
# BM25 in Lucene's form (its idf, no (k1 + 1) factor), but not Lucene's default k1 (1.2):
# k1 from 0.9 to 2.0 changes no hit@5 on the development set (bench/SWEEP.md), so 1.5 stays.
K1, B = 1.5, 0.75
STEMMERS = {"de": "german", "en": "english"}
KEEP_BUILDS = 2  # per language: the current build and the one before it (a reader may hold it)

_TOKEN = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    """
    der die das den dem des ein eine einer eines einem einen und oder aber ist sind war waren
    wird werden wurde wurden hat haben hatte hatten sein seine ihr ihre es er sie wir ich
    in im an am auf aus bei mit nach von vom zu zum zur für über unter um durch als wie
    was wer wen wem wessen wann wo woher wohin warum welche welcher welches welchen
    nicht auch noch nur so dass daß sich man kann können viele viel gibt gab
    the a an and or but is are was were be been being has have had do does did of to in
    on at by for with from as into about than that this these those it its what who whom
    whose when where why which how many much not also there their they he she his her
    """.split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords (stemming is the language index's job)."""
    # each word lower-cased on its own: lower-casing the text first can split a word
    # ("İ" lower-cases to "i" and a combining dot, which \w does not match)
    return [t for t in map(str.lower, _TOKEN.findall(text)) if t not in STOPWORDS]


def words_of(text: str) -> set[str]:
    """Every lower-cased word of ``text``, stopwords included (the corpus vocabulary)."""
    return {m.group(0).lower() for m in _TOKEN.finditer(text)}


def language_key(files: Iterable[tuple[str, str]]) -> str:
    """Identity of one language's part of the corpus: its (source, version) pairs."""
    blob = json.dumps(sorted(files), ensure_ascii=False) + f"\x00{LEXICAL_FORMAT}"
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


class PostingsBuilder:
    """Term-major BM25 postings gathered one document at a time.

    Keeps a document's terms only as counts in three flat integer arrays (8 B a posting),
    not as a list of its terms or a tuple per posting: building a million chunks' index
    (80 million postings) then needs ~2 GB less than holding every stemmed word.
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._term, self._doc, self._tf = array("q"), array("q"), array("q")
        self._lengths = array("q")

    def add(self, terms: list[str]) -> None:
        """The next document's (stemmed) terms."""
        counts: dict[int, int] = {}
        vocab = self.vocab
        for t in terms:
            tid = vocab.setdefault(t, len(vocab))
            counts[tid] = counts.get(tid, 0) + 1
        self._term.extend(counts)
        self._tf.extend(counts.values())
        self._doc.extend(repeat(len(self._lengths), len(counts)))
        self._lengths.append(len(terms))

    def postings(
        self, k1: float = K1, b: float = B
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """As :func:`bm25_postings` returns them."""
        vocab = self.vocab
        n_docs = len(self._lengths)
        if not self._term:
            return [], np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        lengths = np.frombuffer(self._lengths, dtype=np.int64).astype(np.float32)
        term = np.frombuffer(self._term, dtype=np.int64)
        doc = np.frombuffer(self._doc, dtype=np.int64)
        order = np.lexsort((doc, term))
        term, doc = term[order], doc[order]
        tf = np.frombuffer(self._tf, dtype=np.int64)[order].astype(np.float32)
        del order
        df = np.bincount(term, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) or 1.0
        norm = tf + k1 * (1.0 - b + b * lengths[doc] / avgdl)
        weights = (idf[term] * tf / norm).astype(np.float32)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=len(vocab)), out=indptr[1:])
        return list(vocab), indptr, doc.astype(np.int32), weights


def bm25_postings(
    docs: list[list[str]], k1: float = K1, b: float = B
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Vocabulary and term-major postings (indptr, doc ids, BM25 weights) of ``docs``.

    Pure; a query's scores are the sums of its terms' weights per document. ``k1``, ``b``:
    BM25's saturation and length normalisation (bench/sweep_retrieval.py measures k1).
    """
    builder = PostingsBuilder()
    for terms in docs:
        builder.add(terms)
    return builder.postings(k1, b)


class LanguageIndex:
    """BM25 over the chunks of one document language, stemmed in that language.

    What the extractive answerer reads of it (terms, rarity, vocabulary) is the
    ``Lexicon`` protocol of :mod:`assistant.answer.extractive`.
    """

    def __init__(
        self,
        lang: str,
        ids: np.ndarray,
        vocab: list[str],
        indptr: np.ndarray,
        docs: np.ndarray,
        weights: np.ndarray,
        words: frozenset[str] | Path,
        known_anywhere=None,
    ):
        import Stemmer

        self.lang = lang
        self.ids = ids
        self._vocab = {t: i for i, t in enumerate(vocab)}
        self._indptr, self._docs, self._weights = indptr, docs, weights
        self._words = words
        self._words_lock = threading.Lock()
        self._known_anywhere = known_anywhere
        self._stemmer = Stemmer.Stemmer(STEMMERS.get(lang, "english"))

    # -- build and persist ----------------------------------------------------------------
    @classmethod
    def build(
        cls, lang: str, chunks: Iterable[tuple[str, str]], k1: float = K1, b: float = B
    ) -> LanguageIndex:
        """From (chunk id, text) pairs; ``k1``, ``b`` as for :func:`bm25_postings`."""
        import Stemmer

        stemmer = Stemmer.Stemmer(STEMMERS.get(lang, "english"))
        ids, builder, words = [], PostingsBuilder(), set()
        for cid, text in chunks:  # one chunk's words at a time (see PostingsBuilder)
            ids.append(cid)
            builder.add(stemmer.stemWords(tokenize(text)))
            words |= words_of(text)
        vocab, indptr, doc_ids, weights = builder.postings(k1, b)
        return cls(
            lang, np.asarray(ids, dtype=str), vocab, indptr, doc_ids, weights, frozenset(words)
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids)
        np.save(folder / "indptr.npy", self._indptr)
        np.save(folder / "docs.npy", self._docs)
        np.save(folder / "weights.npy", self._weights)
        (folder / "vocab.json").write_text(json.dumps(list(self._vocab), ensure_ascii=False))
        (folder / "words.txt").write_text("\n".join(sorted(self.words())))
        meta = {"lang": self.lang, "chunks": len(self.ids), "format": LEXICAL_FORMAT}
        (folder / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path, lang: str) -> LanguageIndex:
        """Memory-mapped; the vocabulary of surface words is read on first use."""
        return cls(
            lang,
            np.load(folder / "ids.npy", mmap_mode="r"),
            json.loads((folder / "vocab.json").read_text()),
            np.load(folder / "indptr.npy", mmap_mode="r"),
            np.load(folder / "docs.npy", mmap_mode="r"),
            np.load(folder / "weights.npy", mmap_mode="r"),
            folder / "words.txt",
        )

    # -- what the answerer reads ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def terms(self, text: str) -> list[str]:
        """Stemmed content terms, as the index and the answerability evidence see them."""
        return self._stemmer.stemWords(tokenize(text))

    def stem(self, words: list[str]) -> list[str]:
        return self._stemmer.stemWords(words)

    def df(self, term: str) -> int:
        tid = self._vocab.get(term)
        return 0 if tid is None else int(self._indptr[tid + 1] - self._indptr[tid])

    def idf(self, term: str) -> float:
        """Rarity of a stemmed term; a term in no chunk is as rare as it gets."""
        return math.log(1.0 + len(self.ids) / (1.0 + self.df(term)))

    def term_weights(self, text: str) -> dict[str, float]:
        return {t: self.idf(t) for t in set(self.terms(text))}

    def rarity_scale(self) -> float:
        """The rarity of a term in no chunk: what idf values are measured against."""
        return math.log(1.0 + len(self.ids))

    def words(self) -> frozenset[str]:
        with self._words_lock:
            if isinstance(self._words, Path):
                self._words = frozenset(self._words.read_text().split("\n"))
            return self._words

    def known(self, word: str) -> bool:
        """Whether a lower-cased word occurs anywhere in the corpus (any language)."""
        if self._known_anywhere is not None:
            return self._known_anywhere(word)
        return word in self.words()

    def with_known(self, known_anywhere) -> LanguageIndex:
        """The same index, answering ``known`` for the whole corpus."""
        view = object.__new__(LanguageIndex)
        view.__dict__.update(self.__dict__)
        view._known_anywhere = known_anywhere
        return view

    # -- search ---------------------------------------------------------------------------
    def search(
        self, question: str, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the best ``k`` chunks sharing a term with the question;
        ``allowed``: a mask over the chunks (a scope), None for all."""
        tids = {self._vocab[t] for t in self.terms(question) if t in self._vocab}
        if not tids or k <= 0:
            return []
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for tid in tids:
            a, b = int(self._indptr[tid]), int(self._indptr[tid + 1])
            scores[self._docs[a:b]] += self._weights[a:b]
        if allowed is not None:
            scores[~allowed] = 0.0
        k = min(k, int(np.count_nonzero(scores)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(str(self.ids[i]), float(scores[i])) for i in top]

    def coverage(self, question: str, text: str, weights: dict[str, float] | None = None) -> float:
        """IDF-weighted share of the question's terms that ``text`` contains; ``weights``:
        the question's :meth:`term_weights`, when already at hand."""
        if weights is None:
            weights = self.term_weights(question)
        total = sum(weights.values()) or 1.0
        present = set(self.terms(text))
        return sum(w for t, w in weights.items() if t in present) / total


@dataclass
class Lexicon:
    """The lexical indexes of the committed corpus, one per document language: the
    in-process ``retriever.LexicalSearch``."""

    indexes: dict[str, LanguageIndex]

    def __post_init__(self) -> None:
        self.indexes = {lang: index.with_known(self.known) for lang, index in self.indexes.items()}

    @property
    def languages(self) -> list[str]:
        return list(self.indexes)

    @property
    def primary(self) -> str:
        """The language most chunks are in (German for an empty corpus)."""
        if not self.indexes:
            return "de"
        return max(self.indexes, key=lambda lang: (len(self.indexes[lang]), lang == "de"))

    def for_language(self, lang: str | None = None) -> LanguageIndex:
        """The index of ``lang``'s documents (the primary one if there are none)."""
        if lang in self.indexes:
            return self.indexes[lang]
        if self.indexes:
            return self.indexes[self.primary]
        return LanguageIndex.build(lang or "de", []).with_known(self.known)

    def known(self, word: str) -> bool:
        return any(word in index.words() for index in self.indexes.values())

    def search(
        self, question: str, k: int, queries: dict[str, str] | None = None
    ) -> list[tuple[str, float, str]]:
        """(chunk id, score, language) of the best ``k`` chunks of each language, each
        language's index reading the question with its own stemmer (or ``queries[lang]``,
        the question put into that language's words). Scores of two indexes are not
        comparable (their idf is their own): rank within a language (see
        ``retrieval.fuse``)."""
        queries = queries or {}
        return [
            (cid, score, lang)
            for lang, index in self.indexes.items()
            for cid, score in index.search(queries.get(lang, question), k, self._allowed(lang))
        ]

    def _allowed(self, lang: str) -> np.ndarray | None:
        return None

    def within(self, prefixes: set[str]) -> Lexicon:
        """This lexicon searching only the chunks whose ids start with one of
        ``prefixes`` (a scope: ``records.chunk_prefix`` of each chosen file)."""
        return ScopedLexicon(self.indexes, prefixes)

    def coverage(
        self,
        question: str,
        texts: dict[str, tuple[str, str]],
        queries: dict[str, str] | None = None,
    ) -> dict[str, float]:
        """Per chunk id: the share of the question's terms its text holds, in its language
        (``texts``: chunk id -> (language, text); ``queries`` as for :meth:`search`)."""
        queries = queries or {}
        weights: dict[str, dict[str, float]] = {}  # the question's, once per language
        out = {}
        for cid, (lang, text) in texts.items():
            index, query = self.for_language(lang), queries.get(lang, question)
            if lang not in weights:
                weights[lang] = index.term_weights(query)
            out[cid] = index.coverage(query, text, weights[lang])
        return out


class ScopedLexicon(Lexicon):
    """A :class:`Lexicon` whose searches stay inside some files; rarity and vocabulary
    stay the whole corpus's, so a scope changes which chunks are found, not their scores."""

    def __init__(self, indexes: dict[str, LanguageIndex], prefixes: set[str]):
        self.indexes = indexes  # already bound to the whole corpus's vocabulary
        self._prefixes = np.array(sorted(prefixes), dtype=str)
        self._masks: dict[str, np.ndarray] = {}

    def _allowed(self, lang: str) -> np.ndarray | None:
        if lang not in self._masks:
            ids = np.asarray(self.indexes[lang].ids).astype(str)
            heads = np.char.partition(ids, "-")[:, 0] if len(ids) else ids
            self._masks[lang] = np.isin(heads, self._prefixes)
        return self._masks[lang]


class LexiconCache:
    """Opens the lexicon of a manifest from ``folder``, building what is missing.

    Builds land in a temporary folder renamed into place, so a reader never sees half
    an index and two processes building at once both end with a whole one.
    """

    def __init__(self, folder: Path, writable: bool = True):
        self.folder = Path(folder)
        self.writable = writable  # False: a read-only index folder; builds stay in memory

    def open(self, files_by_lang: dict[str, list[tuple[str, str]]], read_chunks) -> Lexicon:
        """``files_by_lang``: language -> [(source, version)]; ``read_chunks(sources)``
        yields (chunk id, text) of those committed files, read only to build."""
        indexes = {}
        for lang, files in sorted(files_by_lang.items()):
            target = self.folder / f"{lang}-{language_key(files)}"
            if (target / "meta.json").exists():
                try:
                    indexes[lang] = LanguageIndex.load(target, lang)
                    continue
                except (OSError, ValueError) as exc:
                    logger.warning("lexical index %s unreadable (%s); rebuilding", target, exc)
            indexes[lang] = self._build(target, lang, read_chunks([s for s, _ in files]))
        return Lexicon(indexes)

    def _build(self, target: Path, lang: str, chunks) -> LanguageIndex:
        index = LanguageIndex.build(lang, chunks)
        logger.info("built the %s lexical index: %d chunks", lang, len(index))
        if not self.writable:
            return index
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{lang}-build-"))
            try:
                index.save(tmp)
                if target.exists():  # another process was quicker with the same build
                    shutil.rmtree(tmp)
                else:
                    os.rename(tmp, target)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            self._prune(lang, keep=target)
        except OSError as exc:  # a read-only or full index folder: serve from memory
            logger.warning("cannot store the lexical index in %s (%s)", self.folder, exc)
        return index

    def _prune(self, lang: str, keep: Path) -> None:
        """Drop this language's older builds beyond the last ``KEEP_BUILDS``."""
        builds = [p for p in self.folder.glob(f"{lang}-*") if p.is_dir() and p != keep]
        builds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in builds[KEEP_BUILDS - 1 :]:
            shutil.rmtree(old, ignore_errors=True)
