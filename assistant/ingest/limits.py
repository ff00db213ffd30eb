"""The operator's limits on one upload to a served assistant, checked before anything
is written: files per upload and the size of the whole corpus (each file's own size
limit, ``ASSISTANT_MAX_UPLOAD_MB``, is checked per file by ``Assistant.add_documents``).

An upload over a limit is refused as a whole, so nothing of it is half-added.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import UploadError
from assistant.ingest.loaders import SUPPORTED_SUFFIXES
from assistant.ingest.uploads import safe_upload_name


def corpus_bytes(corpus: Path) -> dict[str, int]:
    """Sizes of the documents in the corpus folder (supported types, any depth)."""
    sizes: dict[str, int] = {}
    if not corpus.is_dir():
        return sizes
    for path in corpus.rglob("*"):
        if path.suffix.lower() in SUPPORTED_SUFFIXES and path.is_file():
            sizes[path.relative_to(corpus).as_posix()] = path.stat().st_size
    return sizes


@dataclass(frozen=True)
class LimitProblem:
    """Why an upload is refused as a whole: ``kind`` "files" (``n``, ``max``) or "corpus"
    (``mb``, ``max``); ``str()`` is the English message."""

    kind: str
    n: int | str
    max: int | str

    def __str__(self) -> str:
        if self.kind == "files":
            return (
                f"too many files in one upload ({self.n}; at most {self.max}, "
                "ASSISTANT_MAX_UPLOAD_FILES); nothing was added"
            )
        return (
            f"the corpus would grow to {self.n} MB, over the limit of {self.max} MB "
            "(ASSISTANT_MAX_CORPUS_MB); nothing was added"
        )


def upload_limit_problem(
    files: list[tuple[str, int]],
    existing: dict[str, int],
    *,
    max_files: int,
    max_corpus_mb: float,
    replace: bool,
) -> LimitProblem | None:
    """Why an upload of ``files`` (name, bytes) is refused as a whole, or None.

    ``existing`` maps the corpus's files to their sizes; with ``replace`` a file with an
    existing name counts with its new size instead of the old one. 0 means no limit.
    """
    if max_files and len(files) > max_files:
        return LimitProblem("files", len(files), max_files)
    if max_corpus_mb:
        total = dict(existing)
        for name, size in files:
            try:
                name = safe_upload_name(name)
            except UploadError:  # rejected per file later, with its own reason
                continue
            if name not in total or replace:
                total[name] = size
        mb = sum(total.values()) / 1e6
        if mb > max_corpus_mb:
            return LimitProblem("corpus", f"{mb:.1f}", f"{max_corpus_mb:g}")
    return None


def check_upload(settings: Any, files: list[tuple[str, int]], replace: bool) -> LimitProblem | None:
    """:func:`upload_limit_problem` with the settings' limits and corpus folder."""
    existing = corpus_bytes(Path(settings.corpus_dir)) if settings.max_corpus_mb else {}
    return upload_limit_problem(
        files,
        existing,
        max_files=settings.max_upload_files,
        max_corpus_mb=settings.max_corpus_mb,
        replace=replace,
    )
