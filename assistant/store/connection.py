"""Following the index as other processes change it: the Chroma client a store holds,
when to reopen it (another process's commit or rebuild, a replaced file, a read-only
folder written elsewhere), and what a writer drops before it reads under the lock.

Every commit carries a fresh stamp; a long-running reader compares (file, collection id,
stamp) before each question (one stat and one small Chroma call) and reopens when it moved.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from assistant.errors import IndexStateError
from assistant.settings import Settings
from assistant.store.client import DB_FILE, drop_copy, open_client, read_only_folder
from assistant.store.errors import guarded, store_error
from assistant.store.locking import WriteLock, read_only_error

logger = logging.getLogger(__name__)

RACY_NS = 2_000_000_000  # a file written this recently may change again within its mtime tick


def _racy(signature: tuple[int, ...]) -> bool:
    """Whether the file's mtime is too recent to prove that nothing changed since."""
    return time.time_ns() - signature[3] < RACY_NS


def commit_key(col: Any) -> tuple[str, str]:
    """What a reader compares to notice another process's commit or rebuild."""
    meta = col.metadata or {}
    return (str(col.id), str(meta.get("stamp") or ""))


class Connection:
    """A store's Chroma client and the state it holds open; :class:`ChunkStore` adds the
    collections. Opens Chroma on first use (so a broken index can still be moved aside
    by a rebuild)."""

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
        """Drop the handles of the collections held (the subclass's); keep the client."""

    @property
    def client(self) -> Any:
        if self._client is None:
            file = self._file_identity()
            # a read-only folder is read from a copy: the database as it was copied
            copied = self._file_signature() if self.read_only else None
            try:
                self._client, self._system, copy = open_client(self.settings)
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

    @guarded
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
        key = None if col is None else commit_key(col)
        if key != self._seen:
            logger.info("another process committed to the index; reopening")
            self.reopen()
            return True
        self._checked, self._checked_at = signature, time.monotonic()
        return False

    @guarded
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

    def _create(self, name: str, metadata: dict) -> Any:
        return self.client.create_collection(
            name,
            embedding_function=None,  # never let Chroma's downloading default run
            configuration={"hnsw": {"space": "cosine"}},
            metadata=metadata,
        )
