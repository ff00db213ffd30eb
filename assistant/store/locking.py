"""One writer per index: a process lock file, so a second indexing run (another shell,
the UI, a cron job) gets a clear error instead of interleaving its writes.

The rule for every writer (index, rebuild, upload, replace, remove, the server's
background work): take this lock, re-read the committed state (``ChunkStore.begin_write``),
change it, commit, release. Never commit a state read before the lock was taken.

Each holder writes a fresh token into the lock file. A store that finds another token
there than the one it wrote itself knows that another writer went in between, and opens
the index afresh before it writes (see ``ChunkStore.begin_write``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import IndexStateError
from assistant.settings import Settings

LOCK_FILE = ".write.lock"

_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


@dataclass
class WriteLock:
    """The lock held: ``previous`` is the token of the writer before (None: unknown),
    ``token`` this holder's (None if it could not be written, e.g. a full disk)."""

    path: Path
    previous: str | None
    token: str | None
    held: bool = True  # False once released


def read_only_error(folder: Path, exc: OSError | None = None) -> IndexStateError:
    """The one line a writer says on a read-only index folder."""
    detail = f" ({exc.strerror or exc})" if exc is not None else ""
    return IndexStateError(
        f"the index folder {folder} is read-only{detail}: it can answer questions but not be "
        "changed. Index into a writable folder (--index or ASSISTANT_INDEX_DIR), or make this "
        "one writable"
    )


def is_read_only(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _READ_ONLY


def _token_of(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("token "):
            return line[len("token ") :].strip() or None
    return None


@contextlib.contextmanager
def write_lock(settings: Settings) -> Iterator[WriteLock]:
    """One writer at a time; a second indexing run gets a clear error, not a corrupt index.

    A second holder, in this process or another, gets the "locked by" error. A
    read-only index folder is said as such, in one line.
    """
    folder = Path(settings.index_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if is_read_only(exc):
            raise read_only_error(folder, exc) from exc
        raise
    path = folder / LOCK_FILE
    if not os.access(folder, os.W_OK):  # a read-only mount or permissions (also for root)
        raise read_only_error(folder)
    try:
        fh = open(path, "a+")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        if is_read_only(exc):
            raise read_only_error(folder, exc) from exc
        raise
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip().splitlines()
            raise IndexStateError(
                f"the index in {settings.index_dir} is locked by "
                f"{holder[0] if holder else 'another process'}, which is indexing "
                "right now; wait for it to finish"
            ) from exc
        try:
            fh.seek(0)
            lock = WriteLock(path, _token_of(fh.read()), None)
            token = uuid.uuid4().hex
            with contextlib.suppress(OSError):  # a full disk must not stop the run here
                fh.seek(0)
                fh.truncate()
                fh.write(f"pid {os.getpid()}\ntoken {token}\n")
                fh.flush()
                lock.token = token
            try:
                yield lock
            finally:
                lock.held = False
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
