"""One writer per index: a process lock file, so a second indexing run (another shell,
the UI, a cron job) gets a clear error instead of interleaving its writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import IndexStateError
from .settings import Settings

LOCK_FILE = ".write.lock"


@contextlib.contextmanager
def write_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time; a second indexing run gets a clear error, not a corrupt index."""
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    path = Path(settings.index_dir) / LOCK_FILE
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
            with contextlib.suppress(OSError):  # a full disk must not stop the run here
                fh.seek(0)
                fh.truncate()
                fh.write(f"pid {os.getpid()}")
                fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
