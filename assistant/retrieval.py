"""Hybrid retrieval: dense (e5 in Chroma) and lexical (BM25, Snowball-stemmed), fused.

Fusion is weighted reciprocal rank. The lexical weight drops when the question's language
differs from the chunk's: an English question over German text shares only names and
numbers with it, and plain RRF would let those few accidental BM25 matches drown the
dense ranking (measured on XQuAD, see the README).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .store import StoredChunk

RRF_K = 60
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
    """Lower-cased word tokens without stopwords (stemming happens in LexicalIndex)."""
    return [t for t in (m.group(0).lower() for m in _TOKEN.finditer(text)) if t not in STOPWORDS]


@dataclass
class Hit:
    """A retrieved chunk with the evidence for it."""

    chunk: StoredChunk
    dense: float = 0.0  # cosine similarity to the question
    lexical: float = 0.0  # BM25 score (0: no shared term)
    fused: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)


class LexicalIndex:
    """BM25 over committed chunks, rebuilt in memory whenever the index changes."""

    def __init__(self, chunks: list[StoredChunk]):
        import Stemmer

        self.chunks = chunks
        langs = [c.lang for c in chunks]
        self.lang = max(set(langs), key=langs.count) if langs else "de"
        self._stemmer = Stemmer.Stemmer("german" if self.lang == "de" else "english")
        self._retriever = None
        self._df: Counter[str] = Counter()
        self._words: set[str] = set()
        if chunks:
            import bm25s

            corpus = [self.terms(c.text) or ["\x00"] for c in chunks]
            for terms in corpus:
                self._df.update(set(terms))
            for c in chunks:
                self._words.update(m.group(0).lower() for m in _TOKEN.finditer(c.text))
            self._retriever = bm25s.BM25()
            self._retriever.index(corpus, show_progress=False)

    def terms(self, text: str) -> list[str]:
        """Stemmed content terms, as the index and the answerability evidence see them."""
        return self._stemmer.stemWords(tokenize(text))

    def stem(self, words: list[str]) -> list[str]:
        return self._stemmer.stemWords(words)

    def idf(self, term: str) -> float:
        """Rarity of a stemmed term; a term in no chunk is as rare as it gets."""
        return math.log(1.0 + len(self.chunks) / (1.0 + self._df.get(term, 0)))

    def term_weights(self, text: str) -> dict[str, float]:
        return {t: self.idf(t) for t in set(self.terms(text))}

    def rarity_scale(self) -> float:
        """The rarity of a term in no chunk: what idf values are measured against."""
        return math.log(1.0 + len(self.chunks))

    def known(self, word: str) -> bool:
        """Whether a lower-cased word occurs anywhere in the corpus."""
        return word in self._words

    def search(self, question: str, k: int) -> list[tuple[StoredChunk, float]]:
        terms = self.terms(question)
        if self._retriever is None or not terms:
            return []
        k = min(k, len(self.chunks))
        docs, scores = self._retriever.retrieve([terms], k=k, show_progress=False)
        return [(self.chunks[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if float(s) > 0]

    def coverage(self, question: str, chunks: list[StoredChunk]) -> dict[str, float]:
        """IDF-weighted share of the question's terms each chunk contains (by chunk id)."""
        weights = self.term_weights(question)
        total = sum(weights.values()) or 1.0
        out = {}
        for c in chunks:
            present = set(self.terms(c.text))
            out[c.id] = sum(w for t, w in weights.items() if t in present) / total
        return out


def fuse(
    dense: list[tuple[StoredChunk, float]],
    lexical: list[tuple[StoredChunk, float]],
    question_lang: str,
    same_weight: float,
    cross_weight: float,
    coverage: dict[str, float] | None = None,
    gate: float | None = None,
) -> list[Hit]:
    """Weighted reciprocal-rank fusion; pure, so it is unit-tested on its own.

    A lexical hit counts in proportion to the share of the question's (IDF-weighted)
    terms it contains, so a chunk that shares one common word with the question ("hours")
    cannot push the best dense match out of the answerer's view. With ``gate``, lexical
    evidence only reorders chunks whose dense similarity is within ``gate`` of the best
    one, fading linearly: words shared with a chunk on another topic (an English chunk
    for an English question about a German article) cannot lift it over the right one.
    When the best dense match is in another language than the question, the dense
    ranking stands as it is.
    """
    hits: dict[str, Hit] = {}
    for rank, (chunk, score) in enumerate(dense):
        hit = hits.setdefault(chunk.id, Hit(chunk))
        hit.dense = score
        hit.ranks["dense"] = rank + 1
        hit.fused += 1.0 / (RRF_K + rank + 1)
    best = max((score for _, score in dense), default=0.0)
    # dense retrieval's best match in the other language: the question is about a
    # document in that language, and its own words can only mislead
    if dense and dense[0][0].lang != question_lang:
        lexical = []
    for rank, (chunk, score) in enumerate(lexical):
        hit = hits.setdefault(chunk.id, Hit(chunk))
        hit.lexical = score
        hit.ranks["lexical"] = rank + 1
        weight = same_weight if chunk.lang == question_lang else cross_weight
        if coverage is not None:
            weight *= coverage.get(chunk.id, 0.0)
        if gate is not None:
            near = 1.0 - (best - hit.dense) / gate if "dense" in hit.ranks else 0.0
            weight *= max(0.0, near)
        hit.fused += weight / (RRF_K + rank + 1)
    return sorted(hits.values(), key=lambda h: h.fused, reverse=True)


def keep_dense_top(hits: list[Hit], k: int, n: int) -> list[Hit]:
    """The first ``k`` fused hits, with the ``n`` best dense hits always among them: fusion
    may reorder, but it never hides what dense retrieval alone would have found."""
    top = hits[:k]
    dense_best = sorted((h for h in hits if "dense" in h.ranks), key=lambda h: h.ranks["dense"])[:n]
    missing = [h for h in dense_best if h not in top]
    if missing:
        top = top[: k - len(missing)] + missing
    return top


def cosine_fill(hits: list[Hit], query_vec: list[float], vectors: dict[str, list[float]]) -> None:
    """Give lexical-only hits their dense score, so every candidate is comparable."""
    q = np.asarray(query_vec, dtype=np.float32)
    for hit in hits:
        if "dense" not in hit.ranks and hit.chunk.id in vectors:
            v = np.asarray(vectors[hit.chunk.id], dtype=np.float32)
            hit.dense = float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q) + 1e-9))
