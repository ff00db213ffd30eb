"""Hybrid retrieval: dense (e5 in Chroma) and lexical (BM25 per language), fused.

:class:`HybridRetriever` is the whole pipeline and a llama-index ``BaseRetriever``; the
fusion steps are pure functions beside it. Fusion is weighted reciprocal rank. The
lexical weight drops when the question's language differs from the chunk's: an English
question over German text shares only names and numbers with it, and plain RRF would
let those few accidental BM25 matches drown the dense ranking (measured on XQuAD, see
the README).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from assistant.question.language import detect_language
from assistant.retrieve.lexical import Lexicon, tokenize
from assistant.store.records import FileEntry, StoredChunk

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = [
    "Hit",
    "HybridRetriever",
    "LexicalSearch",
    "Snapshot",
    "fuse",
    "keep_dense_top",
    "tokenize",
]

logger = logging.getLogger(__name__)

RRF_K = 60
DENSE_KEPT = 2  # the best dense hits the answerer always sees, whatever fusion says


@dataclass
class Hit:
    """A retrieved chunk with the evidence for it."""

    chunk: StoredChunk
    dense: float = 0.0  # cosine similarity to the question
    lexical: float = 0.0  # BM25 score (0: no shared term)
    fused: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)


def fuse(
    dense: list[tuple[StoredChunk, float]],
    lexical: list[tuple[StoredChunk, float]],
    question_lang: str,
    same_weight: float,
    cross_weight: float,
    coverage: dict[str, float] | None = None,
    gate: float | None = None,
    translated: dict[str, float] | None = None,
) -> list[Hit]:
    """Weighted reciprocal-rank fusion; pure, so it is unit-tested on its own.

    A lexical hit counts in proportion to the share of the question's (IDF-weighted)
    terms it contains, so a chunk that shares one common word with the question ("hours")
    cannot push the best dense match out of the answerer's view. With ``gate``, lexical
    evidence only reorders chunks whose dense similarity is within ``gate`` of the best
    one, fading linearly: words shared with a chunk on another topic (an English chunk
    for an English question about a German article) cannot lift it over the right one.
    When the best dense match is in another language than the question, the dense
    ranking stands as it is. ``lexical`` may hold the lists of several per-language
    indexes: a chunk's lexical rank is its place among the chunks of its language.
    ``translated``: document languages the question was put into by a dictionary, with
    the weight their lexical hits get (they count like the question's own language).
    """
    translated = translated or {}
    hits: dict[str, Hit] = {}
    for rank, (chunk, score) in enumerate(dense):
        hit = hits.setdefault(chunk.id, Hit(chunk))
        hit.dense = score
        hit.ranks["dense"] = rank + 1
        hit.fused += 1.0 / (RRF_K + rank + 1)
    best = max((score for _, score in dense), default=0.0)
    # dense retrieval's best match in the other language: the question is about a
    # document in that language, and its own words can only mislead
    if dense and dense[0][0].lang not in (question_lang, *translated):
        lexical = []
    seen: dict[str, int] = {}  # lexical ranks count within each document language
    for chunk, score in lexical:
        rank = seen[chunk.lang] = seen.get(chunk.lang, -1) + 1
        hit = hits.setdefault(chunk.id, Hit(chunk))
        hit.lexical = score
        hit.ranks["lexical"] = rank + 1
        weight = (
            same_weight if chunk.lang == question_lang else translated.get(chunk.lang, cross_weight)
        )
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
    n = min(n, k)  # a list of k can only guarantee k of them
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


@dataclass(frozen=True)
class Snapshot:
    """The committed state a question is answered from: manifest and lexical index."""

    manifest: dict[str, FileEntry]
    lexicon: Lexicon

    def committed(self, chunk: StoredChunk) -> bool:
        entry = self.manifest.get(chunk.source)
        return entry is not None and entry.version == chunk.version


@runtime_checkable
class LexicalSearch(Protocol):
    """The lexical leg: BM25-like search over the committed chunks, per document language.

    In process, :class:`~assistant.retrieve.lexical.Lexicon` (postings memory-mapped beside
    the index, built per manifest). Past one machine, a search server's sparse index could
    answer instead (Chroma's distributed deployment; see docs/scaling.md): the retriever
    needs no more than these three.
    """

    @property
    def languages(self) -> list[str]:
        """The document languages it indexes (a question is also put into their words)."""
        ...

    def search(
        self, question: str, k: int, queries: dict[str, str] | None = None
    ) -> list[tuple[str, float, str]]:
        """(chunk id, score, language) of the best ``k`` chunks of each language; scores
        rank within a language only. ``queries``: the question in a language's words."""
        ...

    def coverage(
        self,
        question: str,
        texts: dict[str, tuple[str, str]],
        queries: dict[str, str] | None = None,
    ) -> dict[str, float]:
        """Per chunk id (``texts``: id -> (language, text)): the share of the question's
        weighted terms the text holds."""
        ...


class ChunkReader(Protocol):
    """What retrieval reads of the chunk store (``assistant.store.chunks.ChunkStore``)."""

    def query(self, embedding: list[float], k: int) -> list[tuple[StoredChunk, float]]: ...

    def chunks(self, ids: list[str]) -> dict[str, StoredChunk]: ...

    def embeddings(self, ids: list[str]) -> dict[str, list[float]]: ...


class QueryEmbedder(Protocol):
    def get_query_embedding(self, query: str) -> list[float]: ...


class Translator(Protocol):
    """Puts a question's content words into the words of another language (a bilingual
    dictionary), so lexical search and term evidence work across languages."""

    def can(self, source: str, target: str) -> bool: ...

    def query(self, question: str, source: str, target: str) -> str: ...

    def groups(self, question: str, source: str, target: str) -> list[list[str]]: ...

    def common_word(self, word: str) -> bool: ...


class HybridRetriever(BaseRetriever):
    """Dense and lexical candidates of the committed state, fused, best first.

    ``snapshot`` is called once per question and returns the current committed state,
    so a retriever follows re-indexing done elsewhere. :meth:`search` gives the hits with
    their evidence (what the answerers use); as a llama-index retriever it returns whole
    chunks as nodes, ``start_char_idx``/``end_char_idx`` their span in the file.
    """

    def __init__(
        self,
        settings: Settings,
        store: ChunkReader,
        embedder: QueryEmbedder,
        snapshot: Callable[[], Snapshot],
        top_k: int | None = None,
        translator: Translator | None = None,
        lexical: Callable[[Snapshot], LexicalSearch] | None = None,
    ):
        super().__init__()
        self._settings = settings
        self._store = store
        self._embedder = embedder
        self._snapshot = snapshot
        self._top_k = top_k
        self._translator = translator
        # the lexical search of a snapshot: by default its in-process lexicon
        self._lexical = lexical or (lambda snap: snap.lexicon)

    def search(
        self,
        question: str,
        lang: str | None = None,
        k: int | None = None,
        q_vec: list[float] | None = None,
    ) -> tuple[list[Hit], list[float]]:
        """Hits best first, and the question's embedding."""
        snap = self._snapshot()
        settings = self._settings
        lang = lang or detect_language(question)
        if q_vec is None:
            q_vec = self._embedder.get_query_embedding(question)
        n = settings.candidates
        k = k or self._top_k or settings.top_k
        dense = [(c, s) for c, s in self._store.query(q_vec, n) if snap.committed(c)]
        # under the gate a chunk dense retrieval did not find gets no lexical weight: with
        # k dense hits it cannot reach the top k, and its text is not worth a store read
        texts = not settings.lexical_gate or len(dense) < k
        search = self._lexical(snap)
        queries = self.translations(question, lang, search.languages)
        lexical = self._lexical_hits(
            snap, search, question, n, {c.id: c for c, _ in dense}, texts, queries
        )
        read = {c.id: (c.lang, c.text) for c, _ in lexical if c.version}
        fused = fuse(
            dense,
            lexical,
            lang,
            settings.lexical_weight_same_language,
            settings.lexical_weight_cross_language,
            coverage=search.coverage(question, read, queries),
            gate=settings.lexical_gate or None,
            translated=dict.fromkeys(queries, settings.lexical_weight_translated),
        )
        hits = keep_dense_top(fused, k, DENSE_KEPT)
        missing = [h.chunk.id for h in hits if "dense" not in h.ranks]
        if missing:
            cosine_fill(hits, q_vec, self._store.embeddings(missing))
        return hits, q_vec

    def translations(self, question: str, lang: str, languages) -> dict[str, str]:
        """The question in the words of each other document language the dictionary
        knows (for the lexical leg); {} without a dictionary or a zero weight."""
        t = self._translator
        if t is None or not self._settings.lexical_weight_translated:
            return {}
        out = {}
        for target in languages:
            if target != lang and t.can(lang, target):
                query = t.query(question, lang, target)
                if query.strip():
                    out[target] = query
        return out

    def _lexical_hits(
        self,
        snap: Snapshot,
        search: LexicalSearch,
        question: str,
        n: int,
        known: dict[str, StoredChunk],
        texts: bool = True,
        queries: dict[str, str] | None = None,
    ) -> list[tuple[StoredChunk, float]]:
        """BM25 hits as chunks: texts the dense half did not bring are read from the store
        (without ``texts``, such hits keep only their id and language, for their ranks)."""
        found = search.search(question, n, queries)
        missing = [cid for cid, _, _ in found if cid not in known]
        if missing and texts:
            known = known | self._store.chunks(missing)
        out = []
        for cid, score, lang in found:
            chunk = known.get(cid)
            if chunk is None and not texts:  # unread: no text, no version
                out.append((StoredChunk(cid, "", "", "", 0, 0, None, lang, 0), score))
            elif chunk is not None and snap.committed(chunk):
                out.append((chunk, score))
        return out

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits, _ = self.search(query_bundle.query_str, q_vec=query_bundle.embedding)
        return [hit_node(h) for h in hits]


def hit_node(hit: Hit) -> NodeWithScore:
    """A retrieved chunk as a llama-index node, scored by its cosine to the question."""
    c = hit.chunk
    node = TextNode(
        id_=c.id,
        text=c.text,
        start_char_idx=c.start,
        end_char_idx=c.end,
        metadata={"source": c.source, "page": c.page, "language": c.lang},
    )
    return NodeWithScore(node=node, score=float(hit.dense))
