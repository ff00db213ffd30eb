"""Turn files into plain text with page boundaries; citations point into this text.

Each loader returns the exact text that chunk and citation offsets refer to, so
``LoadedDocument.text[start:end] == quote`` is the contract every later step keeps.
Files that cannot be read are reported as :class:`Skipped`, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.ingest.document import (
    FORMAT_NAMES,
    FORMATS,
    RATIO_MIN_BYTES,
    SUPPORTED_SUFFIXES,
    TITLE_MAX_CHARS,
    Fingerprint,
    Limits,
    LoadedDocument,
    LoadError,
    Skipped,
    check_text_size,
    display_name,
    normalise,
)
from assistant.ingest.markup import (
    decode_text,
    first_line_title,
    html_and_title,
    html_to_text,
    markdown_title,
)
from assistant.ingest.ocr import OCREngine
from assistant.ingest.office import load_docx
from assistant.ingest.pdf import load_pdf

__all__ = [
    "FORMAT_NAMES",
    "FORMATS",
    "RATIO_MIN_BYTES",
    "SUPPORTED_SUFFIXES",
    "TITLE_MAX_CHARS",
    "Limits",
    "LoadedDocument",
    "LoadError",
    "Skipped",
    "FileChanged",
    "Fingerprint",
    "decode_text",
    "display_name",
    "file_sha256",
    "fingerprint",
    "html_to_text",
    "list_corpus",
    "load_bytes",
    "load_file",
    "read_all",
    "read_stable",
]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# A file written this recently may be written again within the same tick of the file
# system's clock, leaving size and mtime as they were: its stat proves nothing.
RACY_NS = 2_000_000_000
READ_TRIES = 3


class FileChanged(LoadError):
    """The file kept changing while it was read; it is left for the next run."""


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_all(fh: Any) -> bytes:
    """How a corpus file's bytes are read from the open file (the default ``read`` of
    :func:`read_stable`; a test passes one that rewrites the file mid-read)."""
    return fh.read()


def _hash_all(fh: Any) -> tuple[None, str]:
    """Hash an open file a block at a time (nothing kept)."""
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return None, h.hexdigest()


def _stable(path: Path, consume: Any, max_bytes: int | None = None) -> tuple[Any, Fingerprint]:
    """``consume(open file) -> (payload, sha256)`` on a version of the file that did not
    change while it was read, with that version's fingerprint (see :func:`read_stable`)."""
    for _ in range(READ_TRIES):
        with Path(path).open("rb") as fh:
            before = os.fstat(fh.fileno())
            if max_bytes is not None and before.st_size > max_bytes:
                raise LoadError(
                    f"file too large ({before.st_size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB)"
                )
            payload, sha = consume(fh)
            after = os.fstat(fh.fileno())
        now = os.stat(path)
        if not (_stat_key(before) == _stat_key(after) == _stat_key(now)):
            continue  # written or replaced while read
        if time.time_ns() - after.st_mtime_ns >= RACY_NS:
            return payload, Fingerprint(sha, after.st_size, after.st_mtime_ns)
        if file_sha256(path) != sha or _stat_key(os.stat(path)) != _stat_key(after):
            continue  # changed within the same clock tick
        return payload, Fingerprint(sha, after.st_size, 0)
    raise FileChanged(
        f"the file changed while it was read ({READ_TRIES} times); it is indexed at the next run"
    )


def read_stable(
    path: Path, max_bytes: int | None = None, read: Callable[[Any], bytes] | None = None
) -> tuple[bytes, Fingerprint]:
    """The file's bytes and the fingerprint of exactly those bytes.

    The stat is taken on the open file before and after the read and compared with the
    path's stat afterwards: a file rewritten or replaced meanwhile is read again, and
    after ``READ_TRIES`` attempts refused with :class:`FileChanged` (the next run takes
    it). A file whose mtime is too recent to vouch for it is read twice and compared,
    and recorded with mtime 0 so the next run checks its content again. ``read``: how
    the bytes are read from the open file (default :func:`read_all`).
    """
    read = read or read_all

    def consume(fh: Any) -> tuple[bytes, str]:
        data = read(fh)
        return data, hashlib.sha256(data).hexdigest()

    return _stable(path, consume, max_bytes)


def fingerprint(path: Path) -> Fingerprint:
    """The fingerprint of the file as it is, as :func:`read_stable` takes it, hashed a
    block at a time (a large file is not held in memory)."""
    return _stable(path, _hash_all)[1]


def load_bytes(
    source: str, data: bytes, limits: Limits | None = None, ocr: OCREngine | None = None
) -> LoadedDocument:
    """Extract text from one file's bytes; raises :class:`LoadError` with a reason.

    ``ocr``: reads scanned PDF pages (default: ``limits.ocr``, else Tesseract)."""
    limits = limits or Limits()
    if ocr is not None:
        limits = dataclasses.replace(limits, ocr=ocr)
    suffix = Path(source).suffix.lower()
    page_starts: list[int] = []
    title: str | None = None
    if suffix in FORMATS["pdf"]:
        if not data.startswith(b"%PDF"):
            raise LoadError("not a PDF file (missing %PDF header)")
        text, page_starts, title = load_pdf(data, limits, source)
    elif suffix in FORMATS["docx"]:
        if not data.startswith(b"PK"):
            raise LoadError("not a DOCX file (not a zip archive)")
        text, title = load_docx(data, limits)
    elif suffix in FORMATS["html"]:
        text, title = html_and_title(decode_text(data))
    elif suffix in FORMATS["txt"] + FORMATS["md"]:
        text = decode_text(data)
        if suffix in FORMATS["md"]:
            title = markdown_title(text)
    else:
        raise LoadError(f"unsupported file type {suffix or '(none)'}")
    check_text_size(text, limits)
    text = normalise(text)
    if not text.strip():
        raise LoadError("no text in file (empty, or scanned pages in which OCR found no text)")
    title = title or first_line_title(text)
    return LoadedDocument(source, text, hashlib.sha256(data).hexdigest(), page_starts, title)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with every link followed, lies inside ``root`` (resolved)."""
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):  # missing target, link loop
        return False


OUTSIDE = "a link that leads outside the corpus folder; not indexed"
OUTSIDE_FOLDER = "a link to a folder outside the corpus folder; its files are not indexed"


def load_file(
    path: Path,
    source: str,
    max_bytes: int | None = None,
    limits: Limits | None = None,
    root: Path | None = None,
    read: Callable[[Any], bytes] | None = None,
    ocr: OCREngine | None = None,
) -> LoadedDocument:
    """Read and extract one file; ``source`` is its path relative to the corpus ``root``.

    With ``root`` given, a file whose links lead outside it is refused, also when a link
    was swapped after the corpus was listed. ``ocr``: as for :func:`load_bytes`.
    """
    if root is not None and not _inside(path, Path(root).resolve()):
        raise LoadError(OUTSIDE if path.exists() else "cannot read file (missing)")
    try:
        data, fp = read_stable(path, max_bytes, read)
    except OSError as exc:
        raise LoadError(f"cannot read file ({exc.strerror or exc})") from exc
    doc = load_bytes(source, data, limits, ocr)
    doc.fingerprint = fp
    return doc


def list_corpus(corpus_dir: Path) -> tuple[dict[str, Path], list[Skipped]]:
    """All supported files below ``corpus_dir`` by relative POSIX path; the rest as skipped.

    Hidden files and folders are left out. Links are followed only when their target is
    inside the corpus folder: a link to a file elsewhere (``ln -s /etc/passwd``) or to a
    folder elsewhere is reported as skipped. A link to a folder inside the corpus is not
    walked, since that folder's files are listed under their own path already.
    """
    root = Path(corpus_dir).resolve()
    found: dict[str, Path] = {}
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(corpus_dir):  # does not follow links
        base = Path(dirpath)
        rel_dir = base.relative_to(corpus_dir)
        for name in list(dirnames):
            path = base / name
            if name.startswith("."):
                dirnames.remove(name)
            elif path.is_symlink():
                dirnames.remove(name)
                if not _inside(path, root):
                    skipped.append(Skipped((rel_dir / name).as_posix(), OUTSIDE_FOLDER))
        for name in filenames:
            path, rel = base / name, (rel_dir / name).as_posix()
            if name.startswith("."):
                continue
            if path.is_symlink():
                if not path.exists():
                    skipped.append(Skipped(rel, "broken link (its target does not exist)"))
                    continue
                if not _inside(path, root):
                    skipped.append(Skipped(rel, OUTSIDE))
                    continue
            if not path.is_file():  # fifos, sockets, devices
                continue
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                found[rel] = path
            else:
                skipped.append(Skipped(rel, f"unsupported file type {path.suffix or '(none)'}"))
    skipped.sort(key=lambda s: s.source)
    return dict(sorted(found.items())), skipped
