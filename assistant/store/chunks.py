"""The chunk store: chunks in Chroma (records llama-index's ChromaVectorStore also reads;
embedded by default, a server by setting), the manifest of committed file versions, and the
sentence vectors beside them (``assistant.store.sentences``).

Crash safety without copying the index: chunk ids carry the file version, and a
manifest names the committed version of every file. A re-index writes new chunks and
the new manifest's record first, then flips the collection's metadata to that record in
one update; readers only trust chunks whose version the manifest names. A run that
dies half way leaves unreferenced records, which the next run deletes, never a
half-written answerable index.

Other processes may re-index the same folder at any time: ``assistant.store.connection``
follows them. Chroma failures become readable :class:`IndexStateError` messages
(``assistant.store.errors``), not library exceptions.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.errors import IndexStateError
from assistant.store.connection import Connection, commit_key
from assistant.store.errors import ROOM_FACTOR, ROOM_FIXED, free_bytes, guarded, store_error
from assistant.store.paging import get_ids, get_in, scan, scan_in
from assistant.store.rebuild import MANIFESTS, STAGED, RebuildSteps
from assistant.store.records import (
    FileEntry,
    SentenceVector,
    StoredChunk,
    chunk_id,
    decode_manifest,
    encode_manifest,
)
from assistant.store.sentences import FileSentenceStore, SentenceStore, store_path

logger = logging.getLogger(__name__)
ADD_BATCH = 1000  # records per Chroma call (below its maximum batch size)

SCHEMA = 3  # 3: sentence vectors in a file of their own (2: in Chroma metadata)
PLACEHOLDER = [1.0]  # Chroma wants a vector per record; these records are fetched by id only
# The manifests (MANIFESTS, "-manifests"), one record per commit under the commit's stamp.
# Not in the chunk collection's metadata: Chroma reads that metadata on every query (at
# 17,000 files, 3.5 MB: +2 ms a query embedded, +10 ms and a p95 of 40+ ms from a server).


class ChunkStore(Connection, RebuildSteps):
    """The chunk collection plus its manifest and sentence vectors; the only module that
    talks to Chroma. ``ChunkStore(settings, client=...)`` takes another Chroma client.
    """

    def _forget(self) -> None:
        self._collection: Any = None
        self._count: int | None = None
        self._sentences: SentenceStore | None = None
        self._manifests: Any = None

    def close(self) -> None:
        """Stop the embedded Chroma this store runs and release the sentence file."""
        if self._sentences is not None:
            self._sentences.close()
        super().close()

    # -- collection and manifest -------------------------------------------------------
    @guarded
    def exists(self) -> bool:
        return self.collection(create=False) is not None

    @guarded
    def collection(self, create: bool = False, embed_id: str = "") -> Any | None:
        """The chunk collection (None if there is none and ``create`` is false)."""
        if self._collection is None:
            name = self.settings.collection
            col = self._get(name)
            if col is None:
                staged = self._get(name + STAGED)
                if staged is not None and (staged.metadata or {}).get("complete") == "1":
                    col = self._finish_rebuild_left(name)
            if col is None and create:
                col = self._create_collection(embed_id)
            self._collection = col
            self._seen = None if col is None else commit_key(col)
        return self._collection

    @guarded
    def sentences(self) -> SentenceStore | None:
        """The sentence vectors of this store's chunk collection, the
        extractive answerer's evidence (None while there is no collection)."""
        if self._sentences is None:
            col = self.collection()
            if col is None:
                return None
            self._sentences = FileSentenceStore(
                store_path(Path(self.settings.index_dir), str(col.id))
            )
        return self._sentences

    @guarded
    def manifests(self) -> Any:
        """The committed manifests (see MANIFESTS): the current one, and the one before it
        for a reader that looked just before a commit."""
        if self._manifests is None:
            name = self.settings.collection + MANIFESTS
            col = self._get(name)
            self._manifests = col if col is not None else self._create(name, {"schema": SCHEMA})
        return self._manifests

    def _create_collection(self, embed_id: str, complete: bool = True) -> Any:
        """This store's chunk collection, new, committed to an empty manifest."""
        meta = self._metadata(embed_id, complete=complete)
        self._put_manifest(meta["stamp"], {})
        return self._create(self.settings.collection, meta)

    def _start_empty(self, embed_id: str) -> None:
        """Start this store's collection anew, not complete yet (a staged rebuild's)."""
        self._collection = self._create_collection(embed_id, complete=False)

    def _put_manifest(self, stamp: str, manifest: dict[str, FileEntry]) -> None:
        self.manifests().upsert(
            ids=[stamp], embeddings=[PLACEHOLDER], metadatas=[{"z": encode_manifest(manifest)}]
        )

    def _prune_manifests(self, keep: set[str]) -> None:
        old = [mid for mid, _, _ in scan(self.manifests(), []) if mid not in keep]
        if old:
            self.manifests().delete(ids=old)

    @staticmethod
    def _metadata(
        embed_id: str,
        complete: bool = True,
        dirty: bool = False,
        pending: list[str] = (),
    ) -> dict:
        return {
            # files whose sentence vectors are still being added (answerable already)
            "pending": json.dumps(sorted(pending)),
            "schema": SCHEMA,
            "embed_model": embed_id,
            "complete": "1" if complete else "0",
            # names the manifest's record, and tells readers in other processes to reopen
            "stamp": uuid.uuid4().hex,
            "dirty": "1" if dirty else "0",  # chunks no manifest names may be stored
        }

    @guarded
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

    @guarded
    @guarded
    def manifest(self) -> dict[str, FileEntry]:
        """The committed manifest: the record the collection's stamp names."""
        for attempt in range(3):
            time.sleep(0.05 * attempt)  # a rebuild's swap renames two collections in turn
            col = self.collection()
            if col is None:
                return {}
            stamp = str((col.metadata or {}).get("stamp"))
            got = self.manifests().get(ids=[stamp], include=["metadatas"])
            if not got["ids"]:  # another process committed since we looked: read again
                self._forget()
                continue
            try:
                return decode_manifest(str((got["metadatas"][0] or {}).get("z", "")))
            except ValueError as exc:
                raise IndexStateError(
                    f"the manifest in the {self.where} is corrupt ({exc}); run "
                    "`assistant index --rebuild`"
                ) from exc
        raise IndexStateError(
            f"the manifest of the {self.where} is missing; run `assistant index --rebuild`"
        )

    def dirty(self) -> bool:
        """Whether chunks of uncommitted or superseded versions may be stored."""
        col = self.collection()
        return col is not None and (col.metadata or {}).get("dirty", "1") != "0"

    @guarded
    def commit(
        self,
        manifest: dict[str, FileEntry],
        embed_id: str,
        dirty: bool = False,
        pending: list[str] | None = None,
    ) -> None:
        """Make ``manifest`` the answerable state: one atomic metadata update.

        ``pending``: the files whose sentence vectors are still to be added (None: those
        pending so far that the manifest still names).
        """
        if pending is None:
            pending = [s for s in self.pending_sentences() if s in manifest]
        col = self.collection()
        previous = str((col.metadata or {}).get("stamp")) if col is not None else ""
        meta = self._metadata(embed_id, dirty=dirty, pending=pending)
        self._put_manifest(meta["stamp"], manifest)  # a crash here leaves an unnamed record
        self._write_metadata(meta, embed_id)
        self._prune_manifests({meta["stamp"], previous})

    def pending_sentences(self) -> list[str]:
        """Files committed with their chunks whose sentence vectors are not all stored yet."""
        col = self.collection()
        raw = (col.metadata or {}).get("pending") if col is not None else None
        try:
            return [str(s) for s in json.loads(raw or "[]")]
        except ValueError:
            return []

    @guarded
    def set_pending(self, pending: list[str]) -> None:
        """Record which files still lack sentence vectors; keeps manifest and stamp (the
        answerable state does not change, readers need not reopen)."""
        col = self.collection()
        if col is not None:
            meta = dict(col.metadata or {})
            meta["pending"] = json.dumps(sorted(pending))
            self._write_metadata(meta, str(meta.get("embed_model", "")))

    @guarded
    def mark_dirty(self, dirty: bool = True) -> None:
        """Record (before writing chunks) that a clean-up is due, or (after it) that it is done.

        Keeps manifest and stamp: readers need not reopen for it.
        """
        col = self.collection()
        if col is not None:
            meta = dict(col.metadata or {})
            meta["dirty"] = "1" if dirty else "0"
            self._write_metadata(meta, str(meta.get("embed_model", "")))

    def _write_metadata(self, metadata: dict, embed_id: str) -> None:
        col = self.collection(create=True, embed_id=embed_id)
        col.modify(metadata=metadata)
        self._count = None
        self._collection = self._get(self.settings.collection) or col  # fresh metadata
        self._seen = commit_key(self._collection)

    def check_room(self, vectors: int, dim: int, text_bytes: int) -> None:
        """Refuse to start writing what will not fit on the disk.

        A write that fills the disk half way leaves Chroma with log entries it cannot
        apply, and then even reading fails until space is freed; refusing up front keeps
        the committed index answerable. The estimate is about twice what Chroma uses.
        """
        if self.settings.chroma_host or not vectors:
            return
        need = ROOM_FIXED + vectors * (dim * 4 * ROOM_FACTOR + 1000) + text_bytes * ROOM_FACTOR
        free = free_bytes(self.settings.index_dir)
        if free is not None and free < need:
            raise IndexStateError(
                f"no space left on the disk holding the {self.where}: this run needs about "
                f"{need / 1e6:.1f} MB, {free / 1e6:.1f} MB are free. Free some space and run "
                "`assistant index` again. Nothing was written: the index is unchanged"
            )

    # -- chunks ------------------------------------------------------------------------
    @guarded
    def add(self, nodes: list[Any]) -> None:
        """Add llama-index TextNodes carrying their embeddings: the text as the record's
        document and the chunk's own flat metadata.

        Not through ``ChromaVectorStore.add``, which also stores llama-index's node JSON
        (``_node_content`` and three copies of the file's id): Chroma keeps every string
        value twice (the row and its index), ~1.3 kB a chunk of 12 for nothing we read.
        ChromaVectorStore still reads these records (its path for records without it).
        """
        self._count = None
        col = self.collection() if nodes else None
        for i in range(0, len(nodes), ADD_BATCH):
            part = nodes[i : i + ADD_BATCH]
            col.add(
                ids=[n.node_id for n in part],
                documents=[n.get_content() for n in part],
                metadatas=[
                    {k: ("" if v is None else v) for k, v in n.metadata.items()} for n in part
                ],
                embeddings=[n.get_embedding() for n in part],
            )

    @guarded
    def delete_version(self, source: str, version: str) -> None:
        """Delete the chunks and sentence vectors of one version of a file."""
        self._count = None
        col = self.collection()
        if col is not None:
            col.delete(where={"$and": [{"source": source}, {"version": version}]})
            self.sentences().delete_version(source, version)

    @guarded
    def add_sentences(self, chunks: list[tuple[StoredChunk, list[SentenceVector]]]) -> None:
        """Store (or overwrite) all sentence vectors of each committed chunk, all of them
        in one write: a resumed run may repeat what a killed one stored."""
        self.sentences().put(chunks)

    @guarded
    def sources_without_sentences(self, manifest: dict[str, FileEntry]) -> list[str]:
        """Committed files whose first chunk has no stored sentence vectors: an index
        written before the sentence file existed, or a file whose vectors were lost. Phase
        2 adds them (one lookup of one id per file)."""
        first = {chunk_id(s, e.version, 0): s for s, e in manifest.items() if e.chunks}
        have = self.chunks_with_sentences(list(first))
        return sorted(source for cid, source in first.items() if cid not in have)

    @guarded
    def chunks_with_sentences(self, chunk_ids: list[str]) -> set[str]:
        """Which of these chunks have their sentence vectors stored."""
        store = self.sentences()
        return set() if store is None else store.have(chunk_ids)

    @guarded
    def sentences_by_hash(self, chunks: list[StoredChunk]) -> dict[str, list[SentenceVector]]:
        """Stored sentence vectors of other chunks with the same text (a copied file, an
        unchanged passage of an edited one), placed at these chunks' offsets; by chunk id."""
        store = self.sentences()
        return {} if store is None else store.by_hash(chunks)

    @guarded
    def chunks_of(self, manifest: dict[str, FileEntry], sources: list[str]) -> list[StoredChunk]:
        """The committed chunks of these files (to add their sentence vectors)."""
        return sorted(self.iter_chunks(manifest, sources), key=lambda c: (c.source, c.ordinal))

    @guarded
    def stored_sentences(
        self, sources: list[str]
    ) -> Iterator[tuple[StoredChunk, list[SentenceVector]]]:
        """Every stored chunk of these files (any version, committed or not yet collected)
        with its stored sentence vectors: an edited file's unchanged sentences are not
        embedded again."""
        store = self.sentences()
        if store is None:
            return
        found = list(store.of_sources(sources))
        texts = self.chunks([cid for cid, _ in found])
        for cid, vectors in found:
            if cid in texts:
                yield texts[cid], vectors

    @guarded
    def vectors_by_hash(self, hashes: list[str]) -> dict[str, list[float]]:
        """Stored vectors of texts with these hashes (text_hash), from chunks and sentences:
        a file copied or re-uploaded, or a changed file's unchanged passages, are not
        embedded again."""
        out: dict[str, list[float]] = {}
        col = self.collection()
        if col is not None:
            for got in get_in(col, "h", list(hashes), ["embeddings", "metadatas"]):
                for vec, meta in zip(got["embeddings"], got["metadatas"]):
                    out[str(meta["h"])] = [float(x) for x in vec]
        return out

    @guarded
    def garbage_collect(self, manifest: dict[str, FileEntry]) -> int:
        """Delete every chunk whose (source, version) the manifest does not name."""
        self._count = None
        if self.collection() is None:
            return 0
        kept: set[str] = set()
        stale: list[str] = []
        for cid, _, meta in scan(self.collection(), ["metadatas"]):
            entry = manifest.get(str(meta.get("source")))
            if entry is None or entry.version != meta.get("version"):
                stale.append(cid)
            else:
                kept.add(cid)
        col = self.collection()
        for i in range(0, len(stale), 5000):
            col.delete(ids=stale[i : i + 5000])
        orphans = self.sentences().keep_only(kept)
        removed = len(stale) + orphans
        if removed:
            logger.info("removed %d records no committed file version names", removed)
        return removed

    @guarded
    def all_chunks(self, manifest: dict[str, FileEntry]) -> list[StoredChunk]:
        """All committed chunks, in document order (small corpora and tests)."""
        out = list(self.iter_chunks(manifest))
        out.sort(key=lambda c: (c.source, c.ordinal))
        return out

    @guarded
    def iter_chunks(
        self, manifest: dict[str, FileEntry], sources: list[str] | None = None
    ) -> Iterator[StoredChunk]:
        """Committed chunks, a page at a time (of ``sources`` only, if given), so a
        100k-chunk corpus is read without holding all of it."""
        col = self.collection()
        if col is None:
            return
        if sources is None:
            pages = scan(col, ["documents", "metadatas"])
        else:
            # by file name, not by page: a deletion between two pages (the clean-up after
            # another process's commit) would shift the offsets and skip records
            pages = scan_in(col, "source", sorted(set(sources)), ["documents", "metadatas"])
        try:
            for cid, text, meta in pages:
                chunk = StoredChunk.from_record(cid, text, meta)
                entry = manifest.get(chunk.source)
                if entry is not None and entry.version == chunk.version:
                    yield chunk
        except Exception as exc:  # a generator is not covered by @guarded
            error = store_error(exc, self.settings)
            if error is None:
                raise
            raise error from exc

    @guarded
    def chunks(self, ids: list[str]) -> dict[str, StoredChunk]:
        """The chunks with these ids (for lexical hits: the lexical index keeps no text)."""
        col = self.collection()
        if col is None or not ids:
            return {}
        out = {}
        for got in get_ids(col, ids, ["documents", "metadatas"]):
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                out[cid] = StoredChunk.from_record(cid, text, meta)
        return out

    def count(self) -> int:
        """Chunks in the collection; counted once per opened state, not per question."""
        if self._count is None:
            col = self.collection()
            self._count = 0 if col is None else col.count()
        return self._count

    @guarded
    def query(
        self, embedding: list[float], k: int, sources: list[str] | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """Top-k chunks by cosine similarity (highest first); ``sources``: of these files
        only (None: all)."""
        col = self.collection()
        if col is None or k <= 0:
            return []
        k = min(k, self.count())
        if k == 0:
            return []
        where = None
        if sources is not None:
            if not sources:
                return []
            where = {"source": {"$in": list(sources)}}
        # Chroma's records as they are, not through ChromaVectorStore: it parses every
        # record's node JSON, a third of retrieval's own time, for the fields kept flat
        res = col.query(
            query_embeddings=[embedding],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        out = []
        for cid, text, meta, distance in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
        ):
            # cosine distance = 1 - cos, through exp/log as ChromaVectorStore reported it
            # (exp(-distance)), so every score is the same to the last bit
            cos = 1.0 + math.log(max(math.exp(-distance), 1e-12))
            out.append((StoredChunk.from_record(cid, text, meta), cos))
        return out

    @guarded
    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, list[SentenceVector]]:
        """Stored sentence vectors of the given chunks, by chunk id (the
        answerer embeds what is missing)."""
        store = self.sentences()
        return {} if store is None else store.get(chunk_ids)

    @guarded
    def embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        col = self.collection()
        if col is None or not ids:
            return {}
        got = col.get(ids=ids, include=["embeddings"])
        return {cid: list(vec) for cid, vec in zip(got["ids"], got["embeddings"])}
