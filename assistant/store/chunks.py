"""Chroma, through llama-index's ChromaVectorStore: embedded by default, a server by setting.

Crash safety without copying the index: chunk ids carry the file version, and a
manifest names the committed version of every file. A re-index writes new chunks and
the new manifest's record first, then flips the collection's metadata to that record in
one update; readers only trust chunks whose version the manifest names. A run that
dies half way leaves unreferenced records, which the next run deletes, never a
half-written answerable index.

Other processes may re-index the same folder at any time. Every commit carries a fresh
stamp; a long-running reader compares (file, collection id, stamp) before each question
(one stat and one small Chroma call) and reopens when it moved. Chroma failures become
readable :class:`IndexStateError` messages here (``store_error``), not library exceptions.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import json
import logging
import math
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, IndexStateError
from assistant.settings import Settings
from assistant.store.locking import LOCK_FILE, WriteLock, is_read_only, read_only_error
from assistant.store.records import (
    FileEntry,
    SentenceVector,
    StoredChunk,
    decode_manifest,
    decode_sentence_vectors,
    encode_manifest,
    encode_sentence_vectors,
    text_hash,
)

logger = logging.getLogger(__name__)

SCHEMA = 2  # 2: the manifest in a record of its own (1: in metadata; moved by the next writer)
DB_FILE = "chroma.sqlite3"
# the collection of per-chunk sentence-vector records (see records.encode_sentence_vectors)
SENTENCES = "-sentence-vectors"
LEGACY_SENTENCES = "-sentences"  # one record per vector, before; dropped by the next writer
# The manifests, one record per commit under the commit's stamp. Not in the chunk
# collection's metadata, as before: Chroma reads that metadata on every query (at 17,000
# files, 3.5 MB: +2 ms a query embedded, +10 ms and a p95 of 40+ ms from a server).
MANIFESTS = "-manifests"
PLACEHOLDER = [1.0]  # Chroma wants a vector per record; these records are fetched by id only


def _client(settings: Settings) -> tuple[Any, Any, Path | None]:
    """A Chroma client, for the embedded store the chromadb System it alone runs, and
    for a read-only index folder the private copy it reads (see read_only_copy)."""
    import chromadb

    chroma_settings = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        client = chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
        return client, None, None
    index_dir = Path(settings.index_dir)
    if index_dir.is_dir() and read_only_folder(index_dir):
        copy = read_only_copy(index_dir)
        try:
            return (*_private_persistent_client(str(copy), chroma_settings), copy)
        except BaseException:
            drop_copy(copy)
            raise
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if is_read_only(exc):
            raise IndexStateError(
                f"there is no index in {index_dir}, and its folder cannot be created there "
                f"({exc.strerror or exc}); run `assistant index` with a writable --index folder"
            ) from exc
        raise
    return (*_private_persistent_client(str(index_dir), chroma_settings), None)


# -- read-only index folders -------------------------------------------------------------------
# Chroma (1.5) writes to its database whenever it opens it (a row in its `acquire_write`
# table), so it cannot open a database it may not write, even to read. A reader of a
# read-only index folder (a shared mount, a backup) therefore opens a private copy of
# chroma.sqlite3, beside links to the folder's vector segments (read in place, never
# written: readers do not write). The copy lives while the process does.
_COPIES: list[Path] = []


def read_only_folder(folder: Path) -> bool:
    """Whether this process may not write the index folder or its database (a read-only
    mount, or permissions; access() answers both, also for root)."""
    db = Path(folder) / DB_FILE
    if not os.access(folder, os.W_OK):
        return True
    return db.exists() and not os.access(db, os.W_OK)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "assistant" / "read-only-index"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    import tempfile

    root = Path(tempfile.gettempdir()) / f"assistant-read-only-index-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _prune_copies(root: Path) -> None:
    """Remove the copies of processes that are gone (killed before they cleaned up)."""
    for child in root.iterdir():
        pid = child.name.split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(child, ignore_errors=True)
        except OSError:
            pass


def _remove_copies() -> None:
    for path in list(_COPIES):
        drop_copy(path)


def drop_copy(path: Path) -> None:
    """Delete a private copy (a store that moved on to a newer one, or at exit)."""
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(ValueError):
        _COPIES.remove(path)


def read_only_copy(index_dir: Path) -> Path:
    """A folder Chroma can open for the read-only ``index_dir``: a copy of its database
    (taken while the file did not change) and links to everything else."""
    import tempfile

    db = index_dir / DB_FILE
    if not db.exists():
        raise IndexStateError(
            f"there is no index yet in the read-only folder {index_dir}; run `assistant index` "
            "where the folder is writable"
        )
    root = _cache_root()
    _prune_copies(root)
    size = db.stat().st_size
    free = _free_bytes(root)
    if free is not None and free < size + ROOM_FIXED:
        raise IndexStateError(
            f"the index folder {index_dir} is read-only, and Chroma cannot open a database it "
            f"may not write; a private copy of it needs {size / 1e6:.1f} MB in {root}, where "
            f"{free / 1e6:.1f} MB are free. Free some space there (or set XDG_CACHE_HOME), "
            "or make the index folder writable"
        )
    if not _COPIES:
        atexit.register(_remove_copies)
    copy = Path(tempfile.mkdtemp(dir=root, prefix=f"{os.getpid()}-"))
    _COPIES.append(copy)
    for _ in range(5):
        before = os.stat(db)
        shutil.copyfile(db, copy / DB_FILE)
        after = os.stat(db)
        if (before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns) == (
            after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns
        ):  # fmt: skip
            break  # not written meanwhile (by a writer where the folder is writable)
    for child in index_dir.iterdir():
        if child.is_dir() and not child.name.startswith("."):
            (copy / child.name).symlink_to(child.resolve())
    logger.info("index folder %s is read-only; reading a copy of its database in %s",
                index_dir, copy)  # fmt: skip
    return copy


def _private_persistent_client(path: str, chroma_settings: Any) -> tuple[Any, Any]:
    """An embedded client on a chromadb System of its own.

    chromadb shares one System per path within a process, and that System keeps its
    vector index in memory without ever re-reading what another process wrote (queries
    miss new chunks, get() fails with "Error finding id"). A store that owns its System
    can reopen and see the disk as it is now.
    """
    from chromadb.api import ServerAPI
    from chromadb.api.client import Client
    from chromadb.api.shared_system_client import SharedSystemClient as Shared
    from chromadb.config import System
    from chromadb.telemetry.product import ProductTelemetryClient

    chroma_settings.persist_directory = path  # as chromadb.PersistentClient does
    chroma_settings.is_persistent = True
    system = System(chroma_settings)
    system.instance(ProductTelemetryClient)
    system.instance(ServerAPI)
    system.start()
    # from_system registers the System in chromadb's per-path cache; put the cache back
    # as it was, so other clients in this process keep theirs.
    previous = Shared._identifier_to_system.get(path)
    count = Shared._identifier_to_refcount.get(path)
    try:
        return Client.from_system(system), system
    except BaseException:
        system.stop()
        raise
    finally:
        for table, value in (
            (Shared._identifier_to_system, previous),
            (Shared._identifier_to_refcount, count),
        ):
            if value is None:
                table.pop(path, None)
            else:
                table[path] = value


# -- readable errors ---------------------------------------------------------------------------
_DISK_FULL = re.compile(r"disk is full|no space left|\(code: 13\)|quota exceeded", re.I)
_CORRUPT = re.compile(
    r"not a database|malformed|\(code: (11|26)\)|database corrupt|corrupt(ed)? (file|index)", re.I
)

_READ_ONLY_DB = re.compile(r"readonly database|read-only file system|\(code: 8\)", re.I)

LOW_SPACE = 4 * 1024 * 1024  # below this, a failed write is taken for a full disk
ROOM_FIXED = 2 * 1024 * 1024  # room a write needs beyond its vectors (journal, segments)
ROOM_FACTOR = 4  # bytes on disk per byte of vector or text, measured ~2 with Chroma 1.5


def _free_bytes(path: Path) -> int | None:
    """Free bytes on the disk holding ``path`` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _unreachable(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError)) or (
        isinstance(exc, ValueError) and "could not connect" in str(exc).lower()
    )


def store_error(
    exc: BaseException, settings: Settings, opening: bool = False
) -> AssistantError | None:
    """The readable error for a failure while talking to Chroma (None: not a store failure).

    It looks at the exception's type and text, and for the embedded store at the free
    space on its disk (Chroma reports some full-disk failures only as "compaction" errors).
    """
    from chromadb.errors import ChromaError, NotFoundError

    if isinstance(exc, AssistantError):
        return exc
    detail = f"{type(exc).__name__}: {exc}"
    if settings.chroma_host:
        where = f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
        if _unreachable(exc):
            return IndexStateError(
                f"cannot reach the Chroma server at {settings.chroma_host}:"
                f"{settings.chroma_port} ({detail}). Is it running? Start it (`chroma run --path "
                f"… --port {settings.chroma_port}`); the assistant reconnects once it is back"
            )
    else:
        where = f"index folder {settings.index_dir}"
    if isinstance(exc, NotFoundError):
        return IndexStateError(
            f"the index was replaced or removed by another process while in use ({detail}); "
            "ask again"
        )
    known = isinstance(exc, (ChromaError, OSError, sqlite3.Error))
    if not known and not _unreachable(exc):
        return None  # not a store failure: a bug, keep its traceback
    text = str(exc)
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    corrupt = bool(_CORRUPT.search(text))
    # Chroma does not always say so: a full disk can also read "Error in compaction".
    free = None if settings.chroma_host else _free_bytes(settings.index_dir)
    low = free is not None and free < LOW_SPACE and not corrupt
    if full or _DISK_FULL.search(text) or low:
        if free is not None:
            detail += f"; {free // 1024} KB free"
        return IndexStateError(
            f"no space left on the disk holding the {where} ({detail}); free some space and "
            "try again. Nothing half-written was committed: the index is unchanged"
        )
    if _READ_ONLY_DB.search(text) or (isinstance(exc, OSError) and is_read_only(exc)):
        return IndexStateError(
            f"the {where} is read-only ({detail}): it can answer questions but not be "
            "changed. Index into a writable folder (--index or ASSISTANT_INDEX_DIR), or make "
            "this one writable"
        )
    if corrupt:
        return IndexStateError(
            f"the {where} is corrupt ({detail}); run `assistant index --rebuild`: it "
            "moves the broken folder aside and builds a new index"
        )
    if opening:
        return IndexStateError(
            f"cannot open the {where}: {detail}. If the index is corrupt, run "
            "`assistant index --rebuild`."
        )
    return IndexStateError(f"cannot read the {where}: {detail}")


def _guarded(method: Callable) -> Callable:
    """Turn Chroma, HTTP and OS failures of a store method into readable errors."""

    @functools.wraps(method)
    def wrapper(self: ChunkStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except AssistantError:
            raise
        except Exception as exc:
            error = store_error(exc, self.settings)
            if error is None:
                raise
            raise error from exc

    return wrapper


def sqlite_problem(path: Path) -> str | None:
    """What is wrong with an SQLite file (None: it reads fine or does not exist)."""
    if not path.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    result = "; ".join(str(r[0]) for r in rows)
    return None if result == "ok" else result


def move_aside(index_dir: Path) -> Path:
    """Move the contents of a broken index folder into a sibling folder, keep them all.

    The lock file stays where it is: the caller holds the lock on it; so do the users
    and the audit trail of a served assistant (``users.py``, ``audit.py``), which are no
    part of the index: moving them would switch log-in off.
    """
    dest = index_dir.with_name(f"{index_dir.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{index_dir.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    dest.mkdir()
    for child in index_dir.iterdir():
        if child.name not in (LOCK_FILE, "users.json", "audit.jsonl"):
            child.rename(dest / child.name)
    return dest


PAGE = 5000  # Chroma's embedded SQLite refuses a get() of ~100k ids at once


# Values per ``$in`` filter or ids per get: Chroma's SQLite refuses a statement with more
# variables than its limit ("too many SQL variables"; met with ~34k file names at once).
IN_BATCH = 500


def _get_in(col: Any, field: str, values: list[str], include: list[str]) -> Iterator[dict]:
    """Chroma's get() results for the records whose ``field`` is in ``values``, a batch
    of values at a time."""
    for i in range(0, len(values), IN_BATCH):
        yield col.get(where={field: {"$in": values[i : i + IN_BATCH]}}, include=include)


def _get_ids(col: Any, ids: list[str], include: list[str]) -> Iterator[dict]:
    """Chroma's get() results for these ids, a batch of ids at a time."""
    ids = list(dict.fromkeys(ids))
    for i in range(0, len(ids), IN_BATCH):
        yield col.get(ids=ids[i : i + IN_BATCH], include=include)


def _scan_in(
    col: Any, field: str, values: list[str], include: list[str]
) -> Iterator[tuple[str, Any, dict]]:
    """(id, document or None, metadata) of the records whose ``field`` is in ``values``."""
    for got in _get_in(col, field, values, include):
        docs = got.get("documents") or [None] * len(got["ids"])
        yield from zip(got["ids"], docs, got["metadatas"])


def _scan(col: Any, include: list[str]) -> Iterator[tuple[str, Any, dict]]:
    """(id, document or None, metadata) of every record, a page at a time."""
    for offset in range(0, col.count(), PAGE):
        got = col.get(include=include, limit=PAGE, offset=offset)
        docs = got.get("documents") or [None] * len(got["ids"])
        metas = got.get("metadatas") or [{}] * len(got["ids"])
        yield from zip(got["ids"], docs, metas)


class ChunkStore:
    """The chunk collection plus its manifest; the only module that talks to Chroma.

    Opens Chroma on first use (so a broken index can still be moved aside by a rebuild),
    and follows what other processes commit: see :meth:`refresh`.
    """

    def __init__(self, settings: Settings, *, client: Any = None):
        self.settings = settings
        self.where = (
            f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"index folder {settings.index_dir}"
        )
        self._injected = client is not None
        self._client: Any = client
        self._system: Any = None
        self._file: tuple[int, int] | None = None  # the SQLite file the client has open
        self._copied: tuple[int, ...] | None = None  # that file as copied (read-only folder)
        self._copies: list[Path] = []  # the private copies this store opened, oldest first
        self._seen: tuple[str, str] | None = None  # (collection id, stamp) of the handle held
        self._checked: tuple[int, ...] | None = None  # the SQLite file as of the last check
        self._checked_at = 0.0  # monotonic time of the last check (Chroma server)
        self._last_token: str | None = None  # the write-lock token of this store's last write
        self._held: WriteLock | None = None  # the lock of this store's last write (held or not)
        self._forget()

    def _forget(self) -> None:
        self._collection: Any = None
        self._count: int | None = None
        self._sentences: Any = None
        self._manifests: Any = None
        self._vector_store: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            file = self._file_identity()
            # a read-only folder is read from a copy: the database as it was copied
            copied = self._file_signature() if self.read_only else None
            try:
                self._client, self._system, copy = _client(self.settings)
            except Exception as exc:  # corrupt sqlite, unreachable server, full disk
                error = store_error(exc, self.settings, opening=True)
                if error is None:
                    raise
                raise error from exc
            self._file = file if file is not None else self._file_identity()
            self._copied = copied
            if copy is not None:
                # the copy before this one may still serve a question in another thread;
                # older ones are done with
                self._copies.append(copy)
                while len(self._copies) > 2:
                    drop_copy(self._copies.pop(0))
        return self._client

    @property
    def state_key(self) -> tuple[str, str] | None:
        """(collection id, commit stamp) of the state this store holds open (None: none
        yet); a reader's cached state belongs to it."""
        return self._seen

    @property
    def read_only(self) -> bool:
        """Whether the index folder is read-only here: then this store only reads (from a
        private copy of the database, see read_only_copy) and every writer refuses."""
        if self.settings.chroma_host or self._injected:
            return False
        folder = Path(self.settings.index_dir)
        return folder.is_dir() and read_only_folder(folder)

    def _file_identity(self) -> tuple[int, int] | None:
        if self.settings.chroma_host or self._injected:
            return None
        try:
            st = os.stat(Path(self.settings.index_dir) / DB_FILE)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def reopen(self) -> None:
        """Drop the client and every handle; the next call opens Chroma afresh.

        In-flight calls of other threads keep the old client until they finish.
        """
        if not self._injected:
            self._client = self._system = None
        self._file = None
        self._copied = None
        self._seen = None
        self._checked, self._checked_at = None, 0.0
        self._forget()

    def close(self) -> None:
        """Stop the embedded Chroma this store runs (releases its files)."""
        system = self._system
        self.reopen()
        if system is not None:
            with contextlib.suppress(Exception):
                system.stop()
        while self._copies:
            drop_copy(self._copies.pop())

    @_guarded
    def refresh(self) -> bool:
        """Reopen if another process changed the index since we looked; True if it did.

        Cheap enough for every question. Embedded: one stat() of the SQLite file; only
        when it was written since the last look is the collection record read (it holds
        the manifest: ~70 ms at 17,000 files). A Chroma server cannot be stat()ed: it is
        asked at most every ``server_check_seconds``.
        """
        if self._client is None:
            return False  # nothing open yet: the next call reads the current state
        embedded = not self.settings.chroma_host and not self._injected
        signature = None
        if embedded:
            signature = self._file_signature()
            if signature is None or signature[:2] != self._file:  # deleted, replaced, moved
                logger.info("index file in %s replaced; reopening", self.settings.index_dir)
                self.reopen()
                return True
            if self._copied is not None and signature != self._copied:
                logger.info("read-only index %s written elsewhere; copying it again",
                            self.settings.index_dir)  # fmt: skip
                self.reopen()
                return True
            if signature == self._checked and not _racy(signature):
                return False  # not written since the last look
        elif time.monotonic() - self._checked_at < self.settings.server_check_seconds:
            return False
        col = self._get(self.settings.collection)
        key = None if col is None else _key(col)
        if key != self._seen:
            logger.info("another process committed to the index; reopening")
            self.reopen()
            return True
        self._checked, self._checked_at = signature, time.monotonic()
        return False

    @_guarded
    def begin_write(self, lock: WriteLock) -> None:
        """Under the write lock, before a writer reads what it will change: drop every
        cached handle so the manifest, stamp and flags are read as committed now.

        When another writer held the lock since this store's last write (the lock file
        carries the last holder's token), the embedded Chroma is opened afresh as well:
        its in-memory vector index would not know what the other process wrote, and
        writing from it could lose that.
        """
        if self.read_only:  # e.g. the database file alone is read-only
            raise read_only_error(Path(self.settings.index_dir))
        mine = lock.token is not None and lock.token == self._last_token  # re-entered
        other = not mine and (lock.previous is None or lock.previous != self._last_token)
        if other and not self._injected:
            self.reopen()
        else:
            self._forget()
            self._seen = None
            self._checked, self._checked_at = None, 0.0
        self._last_token = lock.token
        self._held = lock

    def _file_signature(self) -> tuple[int, ...] | None:
        try:
            st = os.stat(Path(self.settings.index_dir) / DB_FILE)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    # -- collection and manifest -------------------------------------------------------
    def _get(self, name: str) -> Any | None:
        from chromadb.errors import NotFoundError

        client = self.client
        try:
            return client.get_collection(name, embedding_function=None)
        except NotFoundError:  # by type: chromadb 1.x raises it embedded and over HTTP
            return None
        except Exception as exc:
            error = store_error(exc, self.settings) or IndexStateError(
                f"cannot read the {self.where}: {type(exc).__name__}: {exc}"
            )
            raise error from exc

    @_guarded
    def exists(self) -> bool:
        return self.collection(create=False) is not None

    def _create(self, name: str, metadata: dict) -> Any:
        return self.client.create_collection(
            name,
            embedding_function=None,  # never let Chroma's downloading default run
            configuration={"hnsw": {"space": "cosine"}},
            metadata=metadata,
        )

    @_guarded
    def collection(self, create: bool = False, embed_id: str = "") -> Any | None:
        """The chunk collection (None if there is none and ``create`` is false)."""
        if self._collection is None:
            name = self.settings.collection
            col = self._get(name)
            if col is None:
                staged = self._get(name + "-rebuild")
                if staged is not None and (staged.metadata or {}).get("complete") == "1":
                    col = self._finish_rebuild_left(name)
            if col is None and create:
                col = self._create_collection(embed_id)
            self._collection = col
            self._seen = None if col is None else _key(col)
        return self._collection

    def _finish_rebuild_left(self, name: str) -> Any | None:
        """Swap in a rebuild that died after building (its collections are complete):
        a writer's step, so under the write lock. A writer does it under its own; a
        reader takes the lock for it, or leaves it to the writer holding it (the swap in
        progress, or the next run), and to no one on a read-only folder."""
        if self._injected or (self._held is not None and self._held.held):
            self._swap_in(name + "-rebuild")
            return self._get(name)
        if self.read_only:
            return None
        from assistant.store.locking import write_lock

        try:
            with write_lock(self.settings):
                staged = self._get(name + "-rebuild")
                complete = staged is not None and (staged.metadata or {}).get("complete") == "1"
                if self._get(name) is None and complete:
                    self._swap_in(name + "-rebuild")
        except IndexStateError as exc:  # locked: the writer at work swaps (or the next run)
            raise IndexStateError(
                f"the {self.where} is being rebuilt by another process right now; ask again "
                "in a moment"
            ) from exc
        return self._get(name)

    @_guarded
    def sentences(self, create: bool = True) -> Any:
        """Sentence and sentence-window vectors, one record per chunk; the extractive
        answerer's evidence. ``create=False`` (readers, who never write): None while
        there is none yet."""
        if self._sentences is None:
            name = self.settings.collection + SENTENCES
            col = self._get(name)
            if col is None and not create:
                return None
            self._sentences = col if col is not None else self._create(name, {"schema": SCHEMA})
        return self._sentences

    @_guarded
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

    def _put_manifest(self, stamp: str, manifest: dict[str, FileEntry]) -> None:
        self.manifests().upsert(
            ids=[stamp], embeddings=[PLACEHOLDER], metadatas=[{"z": encode_manifest(manifest)}]
        )

    def _prune_manifests(self, keep: set[str]) -> None:
        old = [mid for mid, _, _ in _scan(self.manifests(), []) if mid not in keep]
        if old:
            self.manifests().delete(ids=old)

    @_guarded
    def has_legacy_layout(self) -> bool:
        """Whether an older index's layout (one record per sentence vector, the manifest
        in the collection's metadata) is still there for the next writer to convert."""
        col = self.collection()
        inline = col is not None and "manifest" in (col.metadata or {})
        return inline or self.has_legacy_sentences()

    @_guarded
    def move_manifest_out(self) -> bool:
        """Store an older index's manifest in its own record (a writer's job, under the
        lock): the same committed state, a new stamp. True if there was one to move."""
        col = self.collection()
        meta = {} if col is None else dict(col.metadata or {})
        if "manifest" not in meta:
            return False
        self.commit(self.manifest(), str(meta.get("embed_model", "")), dirty=self.dirty())
        logger.info("moved the manifest out of the collection's metadata (faster queries)")
        return True

    @_guarded
    def has_legacy_sentences(self) -> bool:
        """Whether an older index's one-record-per-vector collection is still there."""
        return self._get(self.settings.collection + LEGACY_SENTENCES) is not None

    @_guarded
    def drop_legacy_sentences(self) -> bool:
        """Delete the one-record-per-vector collection of an older index (a writer's job,
        under the lock); True if there was one, so its files' vectors are added again."""
        if not self.has_legacy_sentences():
            return False
        name = self.settings.collection + LEGACY_SENTENCES
        self.client.delete_collection(name)
        logger.info("dropped %s: sentence vectors are now stored one record per chunk", name)
        return True

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

    @_guarded
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

    @_guarded
    def manifest(self) -> dict[str, FileEntry]:
        """The committed manifest: the record the collection's stamp names."""
        for attempt in range(3):
            time.sleep(0.05 * attempt)  # a rebuild's swap renames two collections in turn
            col = self.collection()
            if col is None:
                return {}
            meta = col.metadata or {}
            if "manifest" in meta:  # an older index (see move_manifest_out)
                raw, packed = str(meta["manifest"] or "{}"), False
            else:
                got = self.manifests().get(ids=[str(meta.get("stamp"))], include=["metadatas"])
                if not got["ids"]:  # another process committed since we looked: read again
                    self._forget()
                    continue
                raw, packed = str((got["metadatas"][0] or {}).get("z", "")), True
            try:
                return decode_manifest(raw, packed)
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

    @_guarded
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

    @_guarded
    def set_pending(self, pending: list[str]) -> None:
        """Record which files still lack sentence vectors; keeps manifest and stamp (the
        answerable state does not change, readers need not reopen)."""
        col = self.collection()
        if col is not None:
            meta = dict(col.metadata or {})
            meta["pending"] = json.dumps(sorted(pending))
            self._write_metadata(meta, str(meta.get("embed_model", "")))

    @_guarded
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
        self._vector_store = None
        self._seen = _key(self._collection)

    def check_room(self, vectors: int, dim: int, text_bytes: int) -> None:
        """Refuse to start writing what will not fit on the disk.

        A write that fills the disk half way leaves Chroma with log entries it cannot
        apply, and then even reading fails until space is freed; refusing up front keeps
        the committed index answerable. The estimate is about twice what Chroma uses.
        """
        if self.settings.chroma_host or not vectors:
            return
        need = ROOM_FIXED + vectors * (dim * 4 * ROOM_FACTOR + 1000) + text_bytes * ROOM_FACTOR
        free = _free_bytes(self.settings.index_dir)
        if free is not None and free < need:
            raise IndexStateError(
                f"no space left on the disk holding the {self.where}: this run needs about "
                f"{need / 1e6:.1f} MB, {free / 1e6:.1f} MB are free. Free some space and run "
                "`assistant index` again. Nothing was written: the index is unchanged"
            )

    # -- chunks ------------------------------------------------------------------------
    @property
    def vector_store(self) -> Any:
        if self._vector_store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vector_store = ChromaVectorStore(chroma_collection=self.collection())
        return self._vector_store

    @_guarded
    def add(self, nodes: list[Any]) -> None:
        """Add llama-index TextNodes carrying their embeddings."""
        self._count = None
        if nodes:
            self.vector_store.add(nodes)

    @_guarded
    def delete_where(self, where: dict) -> None:
        self._count = None
        col = self.collection()
        if col is not None:
            col.delete(where=where)
            self.sentences().delete(where=where)

    @_guarded
    def add_sentences(self, chunks: list[tuple[StoredChunk, list[SentenceVector]]]) -> None:
        """Store (or overwrite) all sentence vectors of each committed chunk, one record per
        chunk: a resumed run may repeat what a killed one stored."""
        for i in range(0, len(chunks), 200):
            part = chunks[i : i + 200]
            self.sentences().upsert(
                ids=[c.id for c, _ in part],
                embeddings=[PLACEHOLDER] * len(part),
                metadatas=[encode_sentence_vectors(c, vecs) for c, vecs in part],
            )

    @_guarded
    def chunks_with_sentences(self, chunk_ids: list[str]) -> set[str]:
        """Which of these chunks have their sentence vectors stored."""
        out: set[str] = set()
        for got in _get_ids(self.sentences(), chunk_ids, []):
            out.update(got["ids"])
        return out

    @_guarded
    def sentences_by_hash(self, chunks: list[StoredChunk]) -> dict[str, list[SentenceVector]]:
        """Stored sentence vectors of other chunks with the same text (a copied file, an
        unchanged passage of an edited one), placed at these chunks' offsets; by chunk id."""
        wanted: dict[str, list[StoredChunk]] = {}
        for c in chunks:
            wanted.setdefault(text_hash(c.text), []).append(c)
        out: dict[str, list[SentenceVector]] = {}
        for got in _get_in(self.sentences(), "h", sorted(wanted), ["metadatas"]):
            for sid, meta in zip(got["ids"], got["metadatas"]):
                for c in wanted.pop(str(meta.get("h")), []):
                    with contextlib.suppress(ValueError):  # corrupt: embedded again
                        out[c.id] = decode_sentence_vectors(sid, meta, at=c)
        return out

    @_guarded
    def chunks_of(self, manifest: dict[str, FileEntry], sources: list[str]) -> list[StoredChunk]:
        """The committed chunks of these files (to add their sentence vectors)."""
        return sorted(self.iter_chunks(manifest, sources), key=lambda c: (c.source, c.ordinal))

    @_guarded
    def stored_sentences(
        self, sources: list[str]
    ) -> Iterator[tuple[StoredChunk, list[SentenceVector]]]:
        """Every stored chunk of these files (any version, committed or not yet collected)
        with its stored sentence vectors: an edited file's unchanged sentences are not
        embedded again."""
        for got in _get_in(self.sentences(), "source", sorted(set(sources)), ["metadatas"]):
            texts = self.chunks(got["ids"])
            for cid, meta in zip(got["ids"], got["metadatas"]):
                if cid in texts:
                    with contextlib.suppress(ValueError):
                        yield texts[cid], decode_sentence_vectors(cid, meta)

    @_guarded
    def vectors_by_hash(self, hashes: list[str]) -> dict[str, list[float]]:
        """Stored vectors of texts with these hashes (text_hash), from chunks and sentences:
        a file copied or re-uploaded, or a changed file's unchanged passages, are not
        embedded again."""
        out: dict[str, list[float]] = {}
        col = self.collection()
        if col is not None:
            for got in _get_in(col, "h", list(hashes), ["embeddings", "metadatas"]):
                for vec, meta in zip(got["embeddings"], got["metadatas"]):
                    out[str(meta["h"])] = [float(x) for x in vec]
        return out

    @_guarded
    def garbage_collect(self, manifest: dict[str, FileEntry]) -> int:
        """Delete every chunk whose (source, version) the manifest does not name."""
        self._count = None
        if self.collection() is None:
            return 0
        kept: set[str] = set()
        stale: list[str] = []
        for cid, _, meta in _scan(self.collection(), ["metadatas"]):
            entry = manifest.get(str(meta.get("source")))
            if entry is None or entry.version != meta.get("version"):
                stale.append(cid)
            else:
                kept.add(cid)
        # sentence records by id alone: their metadata holds the (large) vectors
        orphans = [sid for sid, _, _ in _scan(self.sentences(), []) if sid not in kept]
        for col, ids in ((self.collection(), stale), (self.sentences(), orphans)):
            for i in range(0, len(ids), 5000):
                col.delete(ids=ids[i : i + 5000])
        removed = len(stale) + len(orphans)
        if removed:
            logger.info("removed %d records no committed file version names", removed)
        return removed

    @_guarded
    def all_chunks(self, manifest: dict[str, FileEntry]) -> list[StoredChunk]:
        """All committed chunks, in document order (small corpora and tests)."""
        out = list(self.iter_chunks(manifest))
        out.sort(key=lambda c: (c.source, c.ordinal))
        return out

    @_guarded
    def iter_chunks(
        self, manifest: dict[str, FileEntry], sources: list[str] | None = None
    ) -> Iterator[StoredChunk]:
        """Committed chunks, a page at a time (of ``sources`` only, if given), so a
        100k-chunk corpus is read without holding all of it."""
        col = self.collection()
        if col is None:
            return
        if sources is None:
            pages = _scan(col, ["documents", "metadatas"])
        else:
            # by file name, not by page: a deletion between two pages (the clean-up after
            # another process's commit) would shift the offsets and skip records
            pages = _scan_in(col, "source", sorted(set(sources)), ["documents", "metadatas"])
        try:
            for cid, text, meta in pages:
                chunk = StoredChunk.from_record(cid, text, meta)
                entry = manifest.get(chunk.source)
                if entry is not None and entry.version == chunk.version:
                    yield chunk
        except Exception as exc:  # a generator is not covered by @_guarded
            error = store_error(exc, self.settings)
            if error is None:
                raise
            raise error from exc

    @_guarded
    def chunks(self, ids: list[str]) -> dict[str, StoredChunk]:
        """The chunks with these ids (for lexical hits: the lexical index keeps no text)."""
        col = self.collection()
        if col is None or not ids:
            return {}
        out = {}
        for got in _get_ids(col, ids, ["documents", "metadatas"]):
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                out[cid] = StoredChunk.from_record(cid, text, meta)
        return out

    def count(self) -> int:
        """Chunks in the collection; counted once per opened state, not per question."""
        if self._count is None:
            col = self.collection()
            self._count = 0 if col is None else col.count()
        return self._count

    @_guarded
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
        from llama_index.core.vector_stores.types import (
            FilterOperator,
            MetadataFilter,
            MetadataFilters,
            VectorStoreQuery,
        )

        filters = None
        if sources is not None:
            if not sources:
                return []
            scope = MetadataFilter(key="source", value=list(sources), operator=FilterOperator.IN)
            filters = MetadataFilters(filters=[scope])
        res = self.vector_store.query(
            VectorStoreQuery(query_embedding=embedding, similarity_top_k=k, filters=filters)
        )
        out = []
        for node, sim in zip(res.nodes, res.similarities or []):
            meta = dict(node.metadata)
            # ChromaVectorStore reports exp(-distance); cosine distance = 1 - cos.
            cos = 1.0 + math.log(max(sim, 1e-12))
            out.append((StoredChunk.from_record(node.node_id, node.get_content(), meta), cos))
        return out

    @_guarded
    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, list[SentenceVector]]:
        """Stored sentence and window vectors of the given chunks, by chunk id."""
        out: dict[str, list[SentenceVector]] = {}
        col = self.sentences(create=False)  # an older index's: added by the next writer
        if col is None:
            return out
        for got in _get_ids(col, chunk_ids, ["metadatas"]):
            for cid, meta in zip(got["ids"], got["metadatas"]):
                try:
                    out[cid] = decode_sentence_vectors(cid, meta)
                except ValueError as exc:  # the answerer embeds what is missing
                    logger.warning("ignoring stored sentence vectors: %s", exc)
        return out

    @_guarded
    def embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        col = self.collection()
        if col is None or not ids:
            return {}
        got = col.get(ids=ids, include=["embeddings"])
        return {cid: list(vec) for cid, vec in zip(got["ids"], got["embeddings"])}

    # -- rebuild -------------------------------------------------------------------------
    def prepare_rebuild(self) -> Path | None:
        """Before a rebuild, under the write lock: a folder Chroma cannot read is moved
        aside (kept, never deleted) and a new one started. Returns where it went.
        """
        if self.settings.chroma_host or self._injected:
            return None
        index_dir = Path(self.settings.index_dir)
        problem = sqlite_problem(index_dir / DB_FILE)
        if problem is None:
            try:
                for col in self.client.list_collections():
                    col.count()
            except AssistantError as exc:
                if "no space left" in str(exc):
                    raise
                problem = str(exc)
            except Exception as exc:  # whatever Chroma raises on a broken segment
                problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            return None
        self.close()
        moved = move_aside(index_dir)
        logger.warning("index %s unreadable (%s); moved it to %s", index_dir, problem, moved)
        return moved

    @_guarded
    def start_rebuild(self, embed_id: str) -> ChunkStore:
        """A sibling store writing to ``<name>-rebuild``; swapped in by finish_rebuild."""
        staged_name = self.settings.collection + "-rebuild"
        self.drop_staged()
        staged = ChunkStore(
            self.settings.model_copy(update={"collection": staged_name}), client=self.client
        )
        staged._collection = staged._create_collection(embed_id, complete=False)
        return staged

    @_guarded
    def drop_staged(self) -> None:
        """Remove what a rebuild that died before it finished building left behind."""
        staged_name = self.settings.collection + "-rebuild"
        staged = self._get(staged_name)
        if staged is not None and (staged.metadata or {}).get("complete") == "1":
            return  # complete: collection() swaps it in
        for name in (
            staged_name,
            staged_name + SENTENCES,
            staged_name + MANIFESTS,
            staged_name + LEGACY_SENTENCES,
        ):
            if self._get(name) is not None:
                self.client.delete_collection(name)

    @_guarded
    def finish_rebuild(self, staged: ChunkStore) -> None:
        self._swap_in(staged.settings.collection)
        self._forget()
        self._seen = None

    def _swap_in(self, staged_name: str) -> None:
        """Replace the live collections by the staged ones; the chunks last, as the commit.

        Safe to repeat after a crash at any step: each step checks what is still staged.
        """
        name = self.settings.collection
        if self._get(name + LEGACY_SENTENCES) is not None:
            self.client.delete_collection(name + LEGACY_SENTENCES)
        for suffix in (SENTENCES, MANIFESTS):
            staged_part = self._get(staged_name + suffix)
            if staged_part is not None:
                if self._get(name + suffix) is not None:
                    self.client.delete_collection(name + suffix)
                staged_part.modify(name=name + suffix)
        if self._get(name) is not None:
            self.client.delete_collection(name)
        self._get(staged_name).modify(name=name)


RACY_NS = 2_000_000_000  # a file written this recently may change again within its mtime tick


def _racy(signature: tuple[int, ...]) -> bool:
    """Whether the file's mtime is too recent to prove that nothing changed since."""
    return time.time_ns() - signature[3] < RACY_NS


def _key(col: Any) -> tuple[str, str]:
    """What a reader compares to notice another process's commit or rebuild."""
    meta = col.metadata or {}
    return (str(col.id), str(meta.get("stamp") or meta.get("manifest") or ""))
