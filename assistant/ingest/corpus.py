"""Changing the corpus folder: uploads written and indexed as one step, and removal.

An upload is either in the corpus and answerable, or in neither: under the write lock the
folder is compared with as it is now (another process may have changed it), the files
written atomically, indexed, and put back as they were if indexing fails. Removal takes a
file out of the index first (from that commit on no answer cites it), then off the disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from assistant.errors import CorpusError, IndexStateError, UploadError
from assistant.ingest.indexing import IndexReport, Progress
from assistant.ingest.loaders import Limits, LoadError, load_bytes
from assistant.ingest.uploads import UploadPlanner, UploadReport, safe_upload_name
from assistant.settings import Settings
from assistant.store.chunks import ChunkStore
from assistant.store.locking import WriteLock, write_lock

__all__ = ["CorpusEditor"]

logger = logging.getLogger(__name__)

Reindex = Callable[[Progress | None, bool, WriteLock], IndexReport]


def _backup(target: Path) -> str | None:
    """A hard link to the file an upload is about to replace (None if there is none)."""
    if not target.exists():
        return None
    backup = target.with_name(f".upload-backup-{os.getpid()}-{target.name}")
    if backup.exists():
        backup.unlink()
    try:
        os.link(target, backup)
    except OSError:  # a file system without hard links
        shutil.copy2(target, backup)
    return str(backup)


def _umask() -> int:
    """This process's umask (read without changing it where /proc says it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_file(corpus: Path, target: Path, data: bytes) -> None:
    """Write an upload into the corpus folder atomically (readers never see half a file),
    with the permissions a file saved there normally gets (the umask's; a replaced file
    keeps its own), not the private 0600 of a temporary file."""
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=corpus, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class CorpusEditor:
    """Adds and removes documents for :class:`~assistant.api.Assistant`.

    ``reindex(progress, background, lock)`` indexes the folder under the held write lock;
    ``store`` gives the chunk store; ``embed_id`` the embedding model's id (a removal on an
    index without one records it); ``changed`` is called after a removal.
    """

    def __init__(
        self,
        settings: Settings,
        lock: threading.RLock,
        store: Callable[[], ChunkStore],
        reindex: Reindex,
        embed_id: Callable[[], str],
        changed: Callable[[], None],
    ) -> None:
        self.settings = settings
        self._lock = lock
        self._store = store
        self._reindex = reindex
        self._embed_id = embed_id
        self._changed = changed

    def add_documents(
        self,
        files: list[tuple[str, bytes]],
        progress: Progress | None = None,
        replace: bool = False,
        background: bool = False,
    ) -> UploadReport:
        """Validate uploads, write the good ones into the corpus folder, index once
        (``background``: as :meth:`index`).

        A file with the name of a different existing file is refused unless ``replace``;
        the same bytes under a new name are refused as a duplicate; the same file again
        is reported unchanged. A rejected file never touches the corpus folder.
        """
        corpus = Path(self.settings.corpus_dir).resolve()
        report = UploadReport()
        checked: list[tuple[str, Path, bytes]] = []
        for name, data in files:
            try:
                checked.append((str(name), self._check(corpus, name, data), data))
            except UploadError as exc:
                report.rejected.append((str(name), str(exc)))
        if not checked:
            return report
        corpus.mkdir(parents=True, exist_ok=True)
        # One writer's step: under the write lock the corpus is compared with as it is now
        # (another process may have uploaded or removed since), written, indexed, and if
        # indexing fails put back as it was: an upload is either in the corpus and
        # answerable, or in neither.
        with self._lock, write_lock(self.settings) as lock:
            planner = UploadPlanner(corpus)
            accepted: list[tuple[Path, bytes]] = []
            for name, target, data in checked:
                try:
                    status = planner.classify(target.name, data, replace)
                except UploadError as exc:
                    report.rejected.append((name, str(exc)))
                    continue
                getattr(report, status).append(target.name)
                if status != "unchanged":
                    accepted.append((target, data))
            if not (report.added or report.replaced or report.unchanged):
                return report
            if accepted and not os.access(corpus, os.W_OK):
                raise UploadError(
                    f"the corpus folder {corpus} is read-only: uploads cannot be stored there"
                )
            report.index = self._write_and_index(corpus, accepted, progress, background, lock)
        return report

    def _write_and_index(
        self,
        corpus: Path,
        accepted: list[tuple[Path, bytes]],
        progress: Progress | None,
        background: bool,
        lock: WriteLock,
    ) -> IndexReport:
        """Write the accepted files and index them; on any failure put the corpus folder
        back as it was (the replaced files with their bytes and mtime)."""
        undo: list[tuple[Path, str | None]] = []  # (target, backup of the file replaced)
        try:
            for target, data in accepted:
                undo.append((target, _backup(target)))
                _write_file(corpus, target, data)
            index = self._reindex(progress, background, lock)
        except BaseException:
            for target, backup in reversed(undo):
                if backup is not None:
                    os.replace(backup, target)  # the previous file, same bytes and mtime
                elif target.exists():
                    target.unlink()
            raise
        for _, backup in undo:
            if backup is not None:
                os.unlink(backup)
        return index

    def _check(self, corpus: Path, name: str, data: bytes) -> Path:
        filename = safe_upload_name(name)
        if not isinstance(data, (bytes, bytearray)):
            raise UploadError(f"{filename}: the upload must be bytes")
        if len(data) > self.settings.max_upload_mb * 1e6:
            raise UploadError(
                f"{filename}: file too large ({len(data) / 1e6:.1f} MB; at most "
                f"{self.settings.max_upload_mb:g} MB)"
            )
        try:
            # unreadable files and decompression bombs are refused before they land
            load_bytes(filename, bytes(data), Limits.from_settings(self.settings))
        except LoadError as exc:
            raise UploadError(f"{filename}: {exc}") from exc
        target = (corpus / filename).resolve()
        if target.parent != corpus:
            raise UploadError(f"invalid file name {name!r}")
        return target

    def remove_document(self, source: str) -> None:
        """Take one indexed document out of the corpus folder and the index, in one step.

        ``source`` is a name as :meth:`documents` lists it. Unknown names and names that
        would point outside the corpus folder raise :class:`CorpusError`; nothing changes.
        """
        corpus = Path(self.settings.corpus_dir).resolve()
        name = str(source).replace("\\", "/").strip()
        with self._lock, write_lock(self.settings) as lock:
            # the manifest as committed now, not as this process last read it: another
            # process may have indexed since, and its files must stay
            self._store().begin_write(lock)
            manifest = self._store().manifest() if self._store().exists() else {}
            path = (corpus / name).resolve()
            if name not in manifest or not path.is_relative_to(corpus) or path == corpus:
                known = ", ".join(sorted(manifest)[:10]) or "none"
                raise CorpusError(
                    f"{name!r} is not an indexed document in {corpus} (indexed: {known})"
                )
            if path.exists() and not os.access(path.parent, os.W_OK):
                raise CorpusError(
                    f"cannot remove {name!r}: the corpus folder {path.parent} is read-only; "
                    "nothing was changed"
                )
            remaining = {s: e for s, e in manifest.items() if s != name}
            # the index first: from this commit on no answer can cite the file any more
            embed_id = self._store().embed_model() or self._embed_id()
            self._store().commit(remaining, embed_id, dirty=True)
            path.unlink(missing_ok=True)
            try:
                self._store().garbage_collect(remaining)
                self._store().mark_dirty(False)
            except IndexStateError as exc:  # committed already: the next run cleans up
                logger.warning("the removed file's chunks stay until the next run: %s", exc)
        self._changed()
