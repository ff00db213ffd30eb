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
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from assistant.question.language import detect_language
from assistant.retrieve.lexical import Lexicon, tokenize
from assistant.store.records import FileEntry, StoredChunk, chunk_prefix

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = [
    "Hit",
    "HybridRetriever",
    "LexicalSearch",
    "Search",
    "Snapshot",
    "fuse",
    "hit_node",
    "hit_of",
    "keep_dense_top",
    "tokenize",
]

logger = logging.getLogger(__name__)

# Cormack et al.'s reciprocal-rank constant; 20 and 100 are no better (bench/SWEEP.md)
RRF_K = 60
# the best dense hits the answerer always sees, whatever fusion says: a guarantee (0 to 2
# retrieve the same on the development set, bench/SWEEP.md), not a tuned number
DENSE_KEPT = 2


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
    rrf_k: int = RRF_K,
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
    ``rrf_k``: the reciprocal-rank constant (bench/sweep_retrieval.py measures it).
    """
    translated = translated or {}
    hits: dict[str, Hit] = {}
    for rank, (chunk, score) in enumerate(dense):
        hit = hits.setdefault(chunk.id, Hit(chunk))
        hit.dense = score
        hit.ranks["dense"] = rank + 1
        hit.fused += 1.0 / (rrf_k + rank + 1)
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
        hit.fused += weight / (rrf_k + rank + 1)
    return sorted(hits.values(), key=lambda h: h.fused, reverse=True)


def keep_dense_top(hits: list[Hit], k: int, n: int) -> list[Hit]:
    """The first ``k`` fused hits, with the ``n`` best dense hits always among them: fusion
    may reorder, but it never hides what dense retrieval alone would have found."""
    top = hits[:k]
    n = min(n, k)  # a list of k can only guarantee k of them
    dense_best = sorted((h for h in hits if "dense" in h.ranks), key=lambda h: h.ranks["dense"])[:n]
    if all(h in top for h in dense_best):
        return top
    # the guaranteed ones, and the best of the rest in the room left, in fused order (cutting
    # the list's tail instead could cut a guaranteed hit that fusion placed there)
    kept = {id(h) for h in dense_best}
    others = [h for h in hits if id(h) not in kept][: k - len(dense_best)]
    kept |= {id(h) for h in others}
    return [h for h in hits if id(h) in kept]


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

    def within(self, sources: list[str]) -> Snapshot:
        """The same state seen through a scope: only ``sources`` count as committed, and
        the lexical index answers with their chunks only."""
        manifest = {s: e for s, e in self.manifest.items() if s in set(sources)}
        prefixes = {chunk_prefix(s, e.version) for s, e in manifest.items()}
        return Snapshot(manifest, self.lexicon.within(prefixes))


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

    def query(
        self, embedding: list[float], k: int, sources: list[str] | None = None
    ) -> list[tuple[StoredChunk, float]]: ...

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


@dataclass
class Search(QueryBundle):
    """A question for :meth:`HybridRetriever.retrieve` with what the answer pipeline knows
    of it: its language, how many chunks, and the documents it is scoped to (None: all).
    A plain ``QueryBundle`` or string works too (language detected, all documents)."""

    lang: str | None = None
    k: int | None = None
    sources: list[str] | None = None


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
        rrf_k: int = RRF_K,
        dense_kept: int = DENSE_KEPT,
        lexical: Callable[[Snapshot], LexicalSearch] | None = None,
    ):
        """``rrf_k``, ``dense_kept``: the fusion constants, as parameters so
        bench/sweep_retrieval.py can measure other values; ``lexical``: the lexical
        search of a snapshot (default: its in-process BM25 lexicon, which a scope
        narrows)."""
        super().__init__()
        self._rrf_k = rrf_k
        self._dense_kept = dense_kept
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
        sources: list[str] | None = None,
    ) -> tuple[list[Hit], list[float]]:
        """Hits best first, and the question's embedding; ``sources``: only chunks of
        these documents (None: all)."""
        snap = self._snapshot()
        settings = self._settings
        lang = lang or detect_language(question)
        if q_vec is None:
            q_vec = self._embedder.get_query_embedding(question)
        n = settings.candidates
        k = k or self._top_k or settings.top_k
        if sources is None:
            found = self._store.query(q_vec, n)
        else:
            snap = snap.within(sources)
            found = self._store.query(q_vec, n, sources)
        dense = [(c, s) for c, s in found if snap.committed(c)]
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
            rrf_k=self._rrf_k,
        )
        hits = keep_dense_top(fused, k, self._dense_kept)
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

    def embed(self, question: str) -> list[float]:
        """The question's embedding (what :class:`Search` carries to skip a second one)."""
        return self._embedder.get_query_embedding(question)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Through ``retrieve()``, so llama-index's instrumentation sees every search."""
        if isinstance(query_bundle, Search):
            q = query_bundle
            hits, _ = self.search(q.query_str, q.lang, q.k, q.embedding, q.sources)
        else:
            hits, _ = self.search(query_bundle.query_str, q_vec=query_bundle.embedding)
        return [hit_node(h) for h in hits]


_EVIDENCE = ("version", "ordinal", "page_starts", "dense", "lexical", "fused", "ranks")


def hit_node(hit: Hit) -> NodeWithScore:
    """A retrieved chunk as a llama-index node, scored by its cosine to the question; the
    evidence rides along in metadata that neither embeddings nor LLMs see (``hit_of``)."""
    c = hit.chunk
    metadata = {
        "source": c.source,
        "page": c.page,
        "language": c.lang,
        "version": c.version,
        "ordinal": c.ordinal,
        "page_starts": [list(p) for p in c.page_starts],
        "dense": hit.dense,
        "lexical": hit.lexical,
        "fused": hit.fused,
        "ranks": dict(hit.ranks),
    }
    node = TextNode(
        id_=c.id,
        text=c.text,
        start_char_idx=c.start,
        end_char_idx=c.end,
        metadata=metadata,
        excluded_embed_metadata_keys=list(_EVIDENCE),
        excluded_llm_metadata_keys=list(_EVIDENCE),
    )
    return NodeWithScore(node=node, score=float(hit.dense))


def hit_of(scored: NodeWithScore) -> Hit:
    """The :class:`Hit` a :func:`hit_node` node was made from."""
    node, m = scored.node, scored.node.metadata
    chunk = StoredChunk(
        node.node_id,
        node.get_content(MetadataMode.NONE),
        m["source"],
        m["version"],
        node.start_char_idx or 0,
        node.end_char_idx or 0,
        m["page"],
        m["language"],
        m["ordinal"],
        tuple((int(a), int(b)) for a, b in m.get("page_starts", ())),
    )
    return Hit(chunk, m["dense"], m["lexical"], m["fused"], dict(m["ranks"]))
