"""Chroma failures as readable errors, and the repair of a folder Chroma cannot read.

Chroma, HTTP and OS exceptions become :class:`IndexStateError` messages that say what to
do (free space, make the folder writable, rebuild), never library tracebacks.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, IndexStateError
from assistant.settings import Settings
from assistant.store.locking import LOCK_FILE, is_read_only

_DISK_FULL = re.compile(r"disk is full|no space left|\(code: 13\)|quota exceeded", re.I)
_CORRUPT = re.compile(
    r"not a database|malformed|\(code: (11|26)\)|database corrupt|corrupt(ed)? (file|index)", re.I
)

_READ_ONLY_DB = re.compile(r"readonly database|read-only file system|\(code: 8\)", re.I)

LOW_SPACE = 4 * 1024 * 1024  # below this, a failed write is taken for a full disk
ROOM_FIXED = 2 * 1024 * 1024  # room a write needs beyond its vectors (journal, segments)
ROOM_FACTOR = 4  # bytes on disk per byte of vector or text, measured ~2 with Chroma 1.5


def free_bytes(path: Path) -> int | None:
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
    free = None if settings.chroma_host else free_bytes(settings.index_dir)
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


def guarded(method: Callable) -> Callable:
    """Turn Chroma, HTTP and OS failures of a store method into readable errors."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
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
