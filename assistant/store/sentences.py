"""The sentence vectors of each chunk, the extractive answerer's evidence, in a
compact file of their own instead of Chroma metadata.

Chroma kept them as base64 float32 in record metadata, which its SQLite also indexed:
33 kB per chunk on disk (4.6 GB at 100k chunks). Here a chunk's vectors are one row of
a small SQLite file beside Chroma's: int8 with a float32 scale per vector (388 bytes
for 384 dimensions; ~2 kB per chunk on disk at 4.2 sentences a chunk), a CRC over each
row. Window vectors are not stored: the answerer derives them from two sentence vectors.

Crash safety comes from the commit protocol plus SQLite's journal: each :meth:`put` is
one transaction, so a write that fails or is killed leaves the rows it was adding
absent (rolled back on the next open), never half there; rows are keyed by chunk id,
and chunk ids carry the file version, so readers only ever ask for chunks the committed
manifest names. The file is named after the chunk collection's Chroma id, which a
rebuild's swap keeps: the staged collection's vectors become live in the same rename
that commits the rebuild. Readers open it read-only (a read-only index folder works).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.store.records import SentenceVector, StoredChunk, text_hash

logger = logging.getLogger(__name__)

FOLDER = "sentence-vectors"  # under the index folder: one file per chunk collection
SUFFIX = ".sqlite3"
# Rows of ~3.3 kB: 4 kB pages hold one each (0.7 kB wasted a row), 64 kB pages ~19;
# measured at 1000 chunks of 8 vectors: 4.2 kB a chunk with 4 kB pages, 3.8 with 64 kB
# (3.55 without the four pages every file starts with, schema and index roots).
PAGE_SIZE = 65536
FIXED_PAGES = 4
BATCH = 500  # ids per statement (SQLite's variable limit)


@runtime_checkable
class SentenceStore(Protocol):
    """Where the sentence vectors of committed chunks are kept, by chunk id.

    Values come back as :class:`SentenceVector` placed at the chunk's offsets (or at
    another chunk's of the same text, :meth:`by_hash`). Every write is all or nothing.
    """

    def put(self, chunks: list[tuple[StoredChunk, list[SentenceVector]]]) -> None:
        """Store (or overwrite) all vectors of each chunk, in one atomic write."""

    def get(self, chunk_ids: list[str]) -> dict[str, list[SentenceVector]]:
        """The stored vectors of these chunks (missing or corrupt ones left out)."""

    def have(self, chunk_ids: list[str]) -> set[str]:
        """Which of these chunks have their vectors stored."""

    def by_hash(self, chunks: list[StoredChunk]) -> dict[str, list[SentenceVector]]:
        """Vectors stored for other chunks of the same text, placed at these chunks."""

    def of_sources(self, sources: list[str]) -> Iterator[tuple[str, list[SentenceVector]]]:
        """(chunk id, vectors) of every stored chunk of these files, any version."""

    def delete_version(self, source: str, version: str) -> None:
        """Forget the vectors of one version of a file."""

    def keep_only(self, chunk_ids: set[str]) -> int:
        """Delete the vectors of every chunk not named; returns how many."""

    def close(self) -> None:
        """Release the file."""


# -- the codec: int8 with a scale per vector -----------------------------------------------


def quantise(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 values, float32 scale per row): each row's largest magnitude maps to 127.

    The error of a component is at most half its row's scale (max|x| / 254), about 0.4% of
    the largest component; cosine similarities between unit vectors move by < 0.002.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a matrix of vectors, got shape {matrix.shape}")
    peak = np.abs(matrix).max(axis=1) if matrix.size else np.zeros(len(matrix), np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    values = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return values, scales


def dequantise(values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return values.astype(np.float32) * scales[:, None]


def encode_vectors(vectors: list[SentenceVector]) -> tuple[int, bytes]:
    """(dimension, the row's bytes): the scales (float32) then the values (int8)."""
    if not vectors:
        return 0, b""
    values, scales = quantise(np.asarray([v.vector for v in vectors], dtype=np.float32))
    return int(values.shape[1]), scales.astype("<f4").tobytes() + values.tobytes()


def decode_vectors(data: bytes, count: int, dim: int) -> np.ndarray:
    """The float32 matrix of :func:`encode_vectors`' bytes; ValueError if they do not fit."""
    if len(data) != count * (4 + dim):
        raise ValueError(f"{len(data)} bytes for {count} vectors of {dim} dimensions")
    scales = np.frombuffer(data, dtype="<f4", count=count)
    values = np.frombuffer(data, dtype=np.int8, offset=4 * count).reshape(count, dim)
    return dequantise(values, scales)


def encode_spans(chunk: StoredChunk, vectors: list[SentenceVector]) -> str:
    """Spans relative to the chunk, so a chunk of the same text elsewhere (a copied file,
    an unchanged passage of an edited one) can reuse them."""
    return ";".join(f"{v.start - chunk.start}:{v.end - chunk.start}:{v.kind}" for v in vectors)


def checksum(spans: str, data: bytes) -> int:
    return zlib.crc32(data, zlib.crc32(spans.encode()))


def decode_row(row: tuple, at: StoredChunk | None = None) -> list[SentenceVector]:
    """A stored row (id, source, version, start, spans, dim, data, crc) as vectors placed at
    the stored chunk's offsets or at ``at`` (another chunk of the same text); ValueError if
    the row is corrupt."""
    cid, source, version, start, spans_text, dim, data, crc = row
    data = bytes(data)
    if checksum(spans_text, data) != crc:
        raise ValueError(f"sentence vectors of {cid}: checksum mismatch")
    spans = [s.split(":") for s in spans_text.split(";") if s]
    if any(len(s) != 3 for s in spans):
        raise ValueError(f"sentence vectors of {cid}: unreadable spans")
    matrix = decode_vectors(data, len(spans), int(dim)) if spans else np.zeros((0, 0))
    base = at.start if at is not None else int(start)
    chunk = at.id if at is not None else cid
    source = at.source if at is not None else source
    version = at.version if at is not None else version
    return [
        SentenceVector(
            f"{chunk}:{j}",
            chunk,
            source,
            version,
            base + int(s),
            base + int(e),
            kind,
            matrix[j].tolist(),
        )  # fmt: skip
        for j, (s, e, kind) in enumerate(spans)
    ]


# -- the file ------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    id TEXT NOT NULL UNIQUE, h TEXT NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL,
    start INTEGER NOT NULL, spans TEXT NOT NULL, dim INTEGER NOT NULL, data BLOB NOT NULL,
    crc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_h ON vectors (h);
CREATE INDEX IF NOT EXISTS vectors_source ON vectors (source);
"""
_COLUMNS = "id, source, version, start, spans, dim, data, crc"


def store_path(index_dir: Path, collection_id: str) -> Path:
    return Path(index_dir) / FOLDER / f"{collection_id}{SUFFIX}"


def prune_files(index_dir: Path, live_ids: Iterable[str]) -> int:
    """Delete the files of chunk collections that are gone (replaced by a rebuild, or a
    staged rebuild dropped); a writer's step, under the lock. Returns how many."""
    folder = Path(index_dir) / FOLDER
    if not folder.is_dir():
        return 0
    live = {f"{cid}{SUFFIX}" for cid in live_ids}
    removed = 0
    for path in folder.iterdir():
        name = path.name.removesuffix("-journal")
        if name.endswith(SUFFIX) and name not in live:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


class FileSentenceStore:
    """A :class:`SentenceStore` in one SQLite file (see the module docstring).

    Opened on first use; readers never create it (no file: nothing stored yet, the
    answerer embeds what it needs). Safe to share between threads.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._writable = False
        self._lock = threading.RLock()

    def _open(self, write: bool) -> sqlite3.Connection | None:
        if self._conn is not None and (self._writable or not write):
            return self._conn
        folder_writable = os.access(self.path.parent, os.W_OK)
        if not write and not self.path.exists():
            return None
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            mode = "rwc"
        else:
            mode = "rw" if folder_writable and os.access(self.path, os.W_OK) else "ro"
        conn = sqlite3.connect(
            f"file:{self.path}?mode={mode}", uri=True, timeout=30, check_same_thread=False
        )
        if write:
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # takes effect before the first table
            with conn:
                conn.executescript(_SCHEMA)
        if self._conn is not None:
            self._conn.close()
        self._conn, self._writable = conn, mode != "ro"
        return conn

    def _rows(self, sql: str, values: list[str]) -> Iterator[tuple]:
        """The rows of ``sql`` (one ``{}`` placeholder list) for these values, in batches."""
        for i in range(0, len(values), BATCH):
            part = values[i : i + BATCH]
            with self._lock:  # not held while the caller works on a batch
                try:
                    conn = self._open(write=False)
                    if conn is None:
                        return
                    rows = conn.execute(sql.format(",".join("?" * len(part))), part).fetchall()
                except sqlite3.DatabaseError as exc:  # unreadable: embedded on the fly instead
                    logger.warning("cannot read the sentence vectors in %s: %s", self.path, exc)
                    return
            yield from rows

    def put(self, chunks: list[tuple[StoredChunk, list[SentenceVector]]]) -> None:
        rows = []
        for chunk, vectors in chunks:
            spans = encode_spans(chunk, vectors)
            dim, data = encode_vectors(vectors)
            rows.append((chunk.id, text_hash(chunk.text), chunk.source, chunk.version,
                         chunk.start, spans, dim, data, checksum(spans, data)))  # fmt: skip
        if not rows:
            return
        with self._lock:
            conn = self._open(write=True)
            with conn:  # one transaction: all of these rows or none
                conn.executemany(
                    "INSERT OR REPLACE INTO vectors (id, h, source, version, start, spans, dim,"
                    " data, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

    def get(self, chunk_ids: list[str]) -> dict[str, list[SentenceVector]]:
        out: dict[str, list[SentenceVector]] = {}
        ids = list(dict.fromkeys(chunk_ids))
        for row in self._rows(f"SELECT {_COLUMNS} FROM vectors WHERE id IN ({{}})", ids):
            try:
                out[row[0]] = decode_row(row)
            except ValueError as exc:  # the answerer embeds what is missing
                logger.warning("ignoring stored sentence vectors: %s", exc)
        return out

    def have(self, chunk_ids: list[str]) -> set[str]:
        ids = list(dict.fromkeys(chunk_ids))
        return {row[0] for row in self._rows("SELECT id FROM vectors WHERE id IN ({})", ids)}

    def by_hash(self, chunks: list[StoredChunk]) -> dict[str, list[SentenceVector]]:
        wanted: dict[str, list[StoredChunk]] = {}
        for c in chunks:
            wanted.setdefault(text_hash(c.text), []).append(c)
        out: dict[str, list[SentenceVector]] = {}
        sql = f"SELECT h, {_COLUMNS} FROM vectors WHERE h IN ({{}})"
        for row in self._rows(sql, sorted(wanted)):
            for c in wanted.pop(row[0], []):
                with contextlib.suppress(ValueError):  # corrupt: embedded again
                    out[c.id] = decode_row(row[1:], at=c)
        return out

    def of_sources(self, sources: list[str]) -> Iterator[tuple[str, list[SentenceVector]]]:
        sql = f"SELECT {_COLUMNS} FROM vectors WHERE source IN ({{}})"
        for row in self._rows(sql, sorted(set(sources))):
            with contextlib.suppress(ValueError):
                yield row[0], decode_row(row)

    def delete_version(self, source: str, version: str) -> None:
        with self._lock:
            if self._open(write=False) is None:
                return
            conn = self._open(write=True)
            with conn:
                conn.execute("DELETE FROM vectors WHERE source = ? AND version = ?",
                             (source, version))  # fmt: skip

    def keep_only(self, chunk_ids: set[str]) -> int:
        with self._lock:
            if self._open(write=False) is None:
                return 0
            conn = self._open(write=True)
            stored = [row[0] for row in conn.execute("SELECT id FROM vectors").fetchall()]
            orphans = [cid for cid in stored if cid not in chunk_ids]
            with conn:
                for i in range(0, len(orphans), BATCH):
                    part = orphans[i : i + BATCH]
                    conn.execute(f"DELETE FROM vectors WHERE id IN ({','.join('?' * len(part))})",
                                 part)  # fmt: skip
            return len(orphans)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
