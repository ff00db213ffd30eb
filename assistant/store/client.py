"""Opening Chroma: a server by setting, else an embedded client on a System of its own
(outside chromadb's per-path cache), and for a read-only index folder a private copy of
its database that Chroma can open.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from assistant.errors import IndexStateError
from assistant.settings import Settings
from assistant.store.errors import ROOM_FIXED, free_bytes
from assistant.store.locking import is_read_only

logger = logging.getLogger(__name__)

DB_FILE = "chroma.sqlite3"


def open_client(settings: Settings) -> tuple[Any, Any, Path | None]:
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
    free = free_bytes(root)
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
