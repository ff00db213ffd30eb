"""Deciding what an upload does to the corpus folder, before anything is written.

An upload never silently overwrites: a different file under an existing name is refused
unless the caller asks to replace it, the same bytes under a new name are a duplicate,
and the same file again is left alone. Names are reduced to a bare, safe file name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from assistant.errors import UploadError
from assistant.ingest.indexing import IndexReport
from assistant.ingest.loaders import FORMATS, SUPPORTED_SUFFIXES, file_sha256, list_corpus

ALLOWED = f"upload {', '.join(list(FORMATS)[:-1])} or {list(FORMATS)[-1]} files"
MAX_NAME_CHARS = 200


def safe_upload_name(name: str) -> str:
    """A bare file name that cannot leave the corpus folder, or an :class:`UploadError`
    that says what is wrong with it."""
    base = PurePath(str(name).replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]", "_", base).strip()
    if not base.strip(" ."):
        raise UploadError("empty file name; give the file a name such as notes.txt")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        raise UploadError(f"{base}: no file extension; {ALLOWED}")
    if f".{ext.lower()}" not in SUPPORTED_SUFFIXES:
        raise UploadError(f"{base}: unsupported file type .{ext}; {ALLOWED}")
    stem = stem.strip(" .")  # a leading dot would hide the file from indexing
    if not stem:
        raise UploadError(f"{base}: no name before .{ext}; rename the file, e.g. notes.{ext}")
    return f"{stem[: MAX_NAME_CHARS - len(ext) - 1]}.{ext}"


@dataclass
class UploadReport:
    """What an upload did, per file; ``index`` is the indexing run (None if none ran)."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    index: IndexReport | None = None

    def __iter__(self):
        """Unpacks as ``(index report, rejected)``, the shape add_documents returned before."""
        return iter((self.index, self.rejected))

    def summary(self) -> str:
        lines = [f"added {n}" for n in self.added]
        lines += [f"replaced {n}" for n in self.replaced]
        lines += [f"{n} unchanged (already in the corpus)" for n in self.unchanged]
        lines += [f"rejected {reason}" for _, reason in self.rejected]
        if self.index is not None:
            lines += [f"skipped {s.source}: {s.reason}" for s in self.index.skipped]
        return "\n".join(lines)


class UploadPlanner:
    """Classifies the files of one upload against the corpus folder and each other."""

    def __init__(self, corpus: Path):
        self.corpus = corpus
        self._existing: dict[str, Path] | None = None
        self._taken: dict[str, str] = {}  # names accepted in this upload -> sha256

    def existing(self) -> dict[str, Path]:
        if self._existing is None:
            self._existing = list_corpus(self.corpus)[0] if self.corpus.is_dir() else {}
        return self._existing

    def classify(self, filename: str, data: bytes, replace: bool) -> str:
        """ "added", "replaced" or "unchanged"; an :class:`UploadError` for a conflict."""
        sha = hashlib.sha256(data).hexdigest()
        if filename in self._taken:
            raise UploadError(f"{filename}: already uploaded in this batch; upload it once")
        target = self.corpus / filename
        status = "added"
        if target.is_file():
            if target.stat().st_size == len(data) and file_sha256(target) == sha:
                status = "unchanged"
            elif replace:
                status = "replaced"
            else:
                raise UploadError(
                    f"{filename}: a different file named {filename} already exists; "
                    "upload it under another name, or replace the existing file"
                    " (replace=True)"
                )
        if status == "added":
            same = self._same_content(sha, len(data))
            if same:
                raise UploadError(f"{filename}: same content as {same}")
        self._taken[filename] = sha
        return status

    def _same_content(self, sha: str, size: int) -> str | None:
        for name, taken_sha in self._taken.items():
            if taken_sha == sha:
                return name
        for name, path in self.existing().items():
            try:
                if path.stat().st_size == size and file_sha256(path) == sha:
                    return name
            except OSError:
                continue
        return None
