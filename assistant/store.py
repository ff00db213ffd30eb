"""Chroma, through llama-index's ChromaVectorStore: embedded by default, a server by setting.

Crash safety without copying the index: chunk ids carry the file version, and the
collection's metadata holds a manifest of the committed version of every file. A
re-index writes new chunks first and flips the manifest in one metadata update; readers
only trust chunks whose version the manifest names. A run that dies half way leaves
unreferenced chunks, which the next run deletes, never a half-written answerable index.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import IndexStateError
from .settings import Settings

SCHEMA = 1


@dataclass
class FileEntry:
    """The committed state of one corpus file in the index."""

    version: str  # sha256 of the file's bytes
    size: int
    mtime_ns: int
    chunks: int
    lang: str
    title: str | None = None  # readable title (heading, metadata); absent in old manifests


@dataclass
class StoredChunk:
    """A chunk as stored: text plus where it sits in its source."""

    id: str
    text: str
    source: str
    version: str
    start: int
    end: int
    page: int | None  # the page the chunk starts on (PDF)
    lang: str
    ordinal: int
    # (offset, page) of every page that starts inside the chunk, so a quote from the
    # middle of a chunk is cited with its own page, not the chunk's first one
    page_starts: tuple[tuple[int, int], ...] = ()

    def page_at(self, offset: int) -> int | None:
        """1-based page of source offset ``offset`` inside this chunk (None: no pages)."""
        page = self.page
        for start, number in self.page_starts:
            if offset >= start:
                page = number
        return page


def encode_page_starts(page_starts: list[tuple[int, int]]) -> str:
    """Chroma metadata holds scalars only: "offset:page,offset:page"."""
    return ",".join(f"{offset}:{page}" for offset, page in page_starts)


def decode_page_starts(raw: object) -> tuple[tuple[int, int], ...]:
    out = []
    for item in str(raw or "").split(","):
        offset, _, page = item.partition(":")
        if offset.strip().isdigit() and page.strip().isdigit():
            out.append((int(offset), int(page)))
    return tuple(sorted(out))


@dataclass
class SentenceVector:
    """One sentence ("s") or sentence-with-its-predecessor ("w") vector of a chunk."""

    id: str
    chunk: str
    source: str
    version: str
    start: int
    end: int
    kind: str
    vector: list[float]

    def metadata(self) -> dict:
        return {
            "chunk": self.chunk,
            "source": self.source,
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
        }


def chunk_id(source: str, version: str, ordinal: int) -> str:
    import hashlib

    return hashlib.sha1(f"{source}\x00{version}".encode()).hexdigest()[:20] + f"-{ordinal}"


def _client(settings: Settings) -> Any:
    import chromadb

    chroma_settings = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)


def _meta_to_chunk(cid: str, text: str, meta: dict) -> StoredChunk:
    page = meta.get("page", -1)
    return StoredChunk(
        id=cid,
        text=text or "",
        source=str(meta.get("source", "")),
        version=str(meta.get("version", "")),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        page=int(page) if page not in (None, "", -1) else None,
        lang=str(meta.get("lang", "de")),
        ordinal=int(meta.get("ordinal", 0)),
        page_starts=decode_page_starts(meta.get("page_starts")),
    )


PAGE = 5000  # Chroma's embedded SQLite refuses a get() of ~100k ids at once


def _scan(col: Any, include: list[str]) -> Iterator[tuple[str, Any, dict]]:
    """(id, document or None, metadata) of every record, a page at a time."""
    for offset in range(0, col.count(), PAGE):
        got = col.get(include=include, limit=PAGE, offset=offset)
        docs = got.get("documents") or [None] * len(got["ids"])
        yield from zip(got["ids"], docs, got["metadatas"])


class ChunkStore:
    """The chunk collection plus its manifest; the only module that talks to Chroma."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.where = (
            f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"index folder {settings.index_dir}"
        )
        try:
            self.client = _client(settings)
        except Exception as exc:  # corrupt sqlite, unreachable server, bad permissions
            raise IndexStateError(
                f"cannot open the {self.where}: {type(exc).__name__}: {exc}. If the index is "
                "corrupt, run `assistant index --rebuild`."
            ) from exc
        self._collection: Any = None
        self._sentences: Any = None
        self._vector_store: Any = None

    # -- collection and manifest -------------------------------------------------------
    def _get(self, name: str) -> Any | None:
        try:
            return self.client.get_collection(name, embedding_function=None)
        except Exception as exc:
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                return None
            raise IndexStateError(f"cannot read the {self.where}: {exc}") from exc

    def exists(self) -> bool:
        return self.collection(create=False) is not None

    def _create(self, name: str, metadata: dict) -> Any:
        return self.client.create_collection(
            name,
            embedding_function=None,  # never let Chroma's downloading default run
            configuration={"hnsw": {"space": "cosine"}},
            metadata=metadata,
        )

    def collection(self, create: bool = False, embed_id: str = "") -> Any | None:
        """The chunk collection (None if there is none and ``create`` is false)."""
        if self._collection is None:
            name = self.settings.collection
            col = self._get(name)
            if col is None:
                staged = self._get(name + "-rebuild")
                if staged is not None and (staged.metadata or {}).get("complete") == "1":
                    self._swap_in(name + "-rebuild")  # finish a rebuild that died after building
                    col = self._get(name)
            if col is None and create:
                col = self._create(name, self._metadata({}, embed_id))
            self._collection = col
        return self._collection

    def sentences(self) -> Any:
        """Sentence and sentence-window vectors; the extractive answerer's evidence."""
        if self._sentences is None:
            name = self.settings.collection + "-sentences"
            col = self._get(name)
            self._sentences = col if col is not None else self._create(name, {"schema": SCHEMA})
        return self._sentences

    @staticmethod
    def _metadata(manifest: dict[str, FileEntry], embed_id: str, complete: bool = True) -> dict:
        return {
            "schema": SCHEMA,
            "embed_model": embed_id,
            "manifest": json.dumps({k: asdict(v) for k, v in manifest.items()}, sort_keys=True),
            "complete": "1" if complete else "0",
        }

    def embed_model(self) -> str | None:
        col = self.collection()
        return None if col is None else (col.metadata or {}).get("embed_model")

    def check_model(self, embed_id: str) -> None:
        stored = self.embed_model()
        if stored and stored != embed_id:
            raise IndexStateError(
                f"the {self.where} was built with the embedding model '{stored}', but the "
                f"settings ask for '{embed_id}'. Vectors of two models cannot be compared: "
                "run `assistant index --rebuild`, or set ASSISTANT_EMBED_MODEL back."
            )

    def manifest(self) -> dict[str, FileEntry]:
        col = self.collection()
        if col is None:
            return {}
        raw = (col.metadata or {}).get("manifest") or "{}"
        try:
            return {k: FileEntry(**v) for k, v in json.loads(raw).items()}
        except (ValueError, TypeError) as exc:
            raise IndexStateError(
                f"the manifest in the {self.where} is corrupt ({exc}); run "
                "`assistant index --rebuild`"
            ) from exc

    def commit(self, manifest: dict[str, FileEntry], embed_id: str) -> None:
        """Make ``manifest`` the answerable state: one atomic metadata update."""
        self.collection(create=True, embed_id=embed_id).modify(
            metadata=self._metadata(manifest, embed_id)
        )

    # -- chunks ------------------------------------------------------------------------
    @property
    def vector_store(self) -> Any:
        if self._vector_store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vector_store = ChromaVectorStore(chroma_collection=self.collection())
        return self._vector_store

    def add(self, nodes: list[Any], sentences: list[SentenceVector] = ()) -> None:
        """Add llama-index TextNodes carrying their embeddings, and their sentence vectors."""
        if nodes:
            self.vector_store.add(nodes)
        for i in range(0, len(sentences), 1000):
            part = sentences[i : i + 1000]
            self.sentences().add(
                ids=[v.id for v in part],
                embeddings=[v.vector for v in part],
                metadatas=[v.metadata() for v in part],
            )

    def delete_where(self, where: dict) -> None:
        col = self.collection()
        if col is not None:
            col.delete(where=where)
            self.sentences().delete(where=where)

    def garbage_collect(self, manifest: dict[str, FileEntry]) -> int:
        """Delete every chunk whose (source, version) the manifest does not name."""
        if self.collection() is None:
            return 0
        removed = 0
        for col in (self.collection(), self.sentences()):
            stale = [
                cid
                for cid, _, meta in _scan(col, ["metadatas"])
                if (entry := manifest.get(str(meta.get("source")))) is None
                or entry.version != meta.get("version")
            ]
            for i in range(0, len(stale), 5000):
                col.delete(ids=stale[i : i + 5000])
            removed += len(stale)
        return removed

    def all_chunks(self, manifest: dict[str, FileEntry]) -> list[StoredChunk]:
        """All committed chunks (for the lexical index and the document list)."""
        col = self.collection()
        if col is None:
            return []
        out: list[StoredChunk] = []
        for cid, text, meta in _scan(col, ["documents", "metadatas"]):
            chunk = _meta_to_chunk(cid, text, meta)
            entry = manifest.get(chunk.source)
            if entry is not None and entry.version == chunk.version:
                out.append(chunk)
        out.sort(key=lambda c: (c.source, c.ordinal))
        return out

    def query(self, embedding: list[float], k: int) -> list[tuple[StoredChunk, float]]:
        """Top-k chunks by cosine similarity (highest first)."""
        col = self.collection()
        if col is None or k <= 0:
            return []
        k = min(k, col.count())
        if k == 0:
            return []
        from llama_index.core.vector_stores.types import VectorStoreQuery

        res = self.vector_store.query(
            VectorStoreQuery(query_embedding=embedding, similarity_top_k=k)
        )
        out = []
        for node, sim in zip(res.nodes, res.similarities or []):
            meta = dict(node.metadata)
            # ChromaVectorStore reports exp(-distance); cosine distance = 1 - cos.
            cos = 1.0 + math.log(max(sim, 1e-12))
            out.append((_meta_to_chunk(node.node_id, node.get_content(), meta), cos))
        return out

    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, list[SentenceVector]]:
        """Stored sentence and window vectors of the given chunks, by chunk id."""
        if not chunk_ids:
            return {}
        got = self.sentences().get(
            where={"chunk": {"$in": list(chunk_ids)}}, include=["embeddings", "metadatas"]
        )
        out: dict[str, list[SentenceVector]] = {}
        for sid, vec, meta in zip(got["ids"], got["embeddings"], got["metadatas"]):
            out.setdefault(str(meta["chunk"]), []).append(
                SentenceVector(
                    sid,
                    str(meta["chunk"]),
                    str(meta["source"]),
                    str(meta["version"]),
                    int(meta["start"]),
                    int(meta["end"]),
                    str(meta["kind"]),
                    list(vec),
                )
            )
        return out

    def embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        col = self.collection()
        if col is None or not ids:
            return {}
        got = col.get(ids=ids, include=["embeddings"])
        return {cid: list(vec) for cid, vec in zip(got["ids"], got["embeddings"])}

    # -- rebuild -------------------------------------------------------------------------
    def start_rebuild(self, embed_id: str) -> ChunkStore:
        """A sibling store writing to ``<name>-rebuild``; swapped in by finish_rebuild."""
        staged_name = self.settings.collection + "-rebuild"
        for name in (staged_name, staged_name + "-sentences"):
            if self._get(name) is not None:
                self.client.delete_collection(name)
        staged = ChunkStore.__new__(ChunkStore)
        staged.settings = self.settings.model_copy(update={"collection": staged_name})
        staged.where, staged.client = self.where, self.client
        staged._vector_store = staged._sentences = None
        staged._collection = self._create(staged_name, self._metadata({}, embed_id, complete=False))
        return staged

    def finish_rebuild(self, staged: ChunkStore) -> None:
        self._swap_in(staged.settings.collection)
        self._collection = self._sentences = self._vector_store = None

    def _swap_in(self, staged_name: str) -> None:
        """Replace the live collections by the staged ones; the chunks last, as the commit.

        Safe to repeat after a crash at any step: each step checks what is still staged.
        """
        name = self.settings.collection
        staged_sentences = self._get(staged_name + "-sentences")
        if staged_sentences is not None:
            if self._get(name + "-sentences") is not None:
                self.client.delete_collection(name + "-sentences")
            staged_sentences.modify(name=name + "-sentences")
        if self._get(name) is not None:
            self.client.delete_collection(name)
        self._get(staged_name).modify(name=name)


@contextlib.contextmanager
def write_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time; a second indexing run gets a clear error, not a corrupt index."""
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    path = Path(settings.index_dir) / ".write.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise IndexStateError(
                f"the index in {settings.index_dir} is locked by {holder}, which is indexing "
                "right now; wait for it to finish"
            ) from exc
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
