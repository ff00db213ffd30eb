"""Turn files into plain text with page boundaries; citations point into this text.

Each loader returns the exact text that chunk and citation offsets refer to, so
``LoadedDocument.text[start:end] == quote`` is the contract every later step keeps.
Files that cannot be read are reported as :class:`Skipped`, never silently dropped.
"""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import hashlib
import io
import os
import re
import time
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from assistant.ingest.ocr import OCREngine, OCRError, TesseractOCR, ocr_scanned

# The one list of readable file types, by format name. The corpus scan, uploads, the
# browser's file picker, the CLI help and every message about types derive from it.
FORMATS: dict[str, tuple[str, ...]] = {
    "txt": (".txt",),
    "md": (".md", ".markdown"),
    "html": (".html", ".htm"),
    "pdf": (".pdf",),
    "docx": (".docx",),
}
SUPPORTED_SUFFIXES = tuple(suffix for suffixes in FORMATS.values() for suffix in suffixes)
FORMAT_NAMES = ", ".join(FORMATS)  # "txt, md, html, pdf, docx", for help and messages
TITLE_MAX_CHARS = 100  # a first line longer than this is a sentence, not a title
RATIO_MIN_BYTES = 1_000_000  # zip members smaller than this may compress as well as they like


@dataclass(frozen=True)
class Limits:
    """What one file may expand to. The byte limits (ASSISTANT_MAX_FILE_MB, the upload
    limit) see only compressed bytes: a 176 KB DOCX can hold 52 MB of text.

    ``ocr``: how scanned PDF pages are read (None: Tesseract with its defaults);
    ``max_ocr_pages``: how many scanned pages of one PDF it may read."""

    max_text_chars: int = 10_000_000
    max_unpacked_mb: float = 100.0
    max_compression_ratio: float = 100.0
    max_pdf_pages: int = 2000
    max_ocr_pages: int = 50
    ocr: OCREngine | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(
            max_text_chars=settings.max_text_chars,
            max_unpacked_mb=settings.max_unpacked_mb,
            max_compression_ratio=settings.max_compression_ratio,
            max_pdf_pages=settings.max_pdf_pages,
            max_ocr_pages=settings.ocr_max_pages,
            ocr=TesseractOCR.from_settings(settings),
        )


def display_name(name: str) -> str:
    """A file name safe to print: as it is when plain, else quoted and escaped like repr.

    File names are untrusted: a newline could fake a line of output ("warning: ..."),
    quotes could close a quoted name, bidi controls could reorder what is shown.
    """
    if name.isprintable() and not any(c in name for c in "'\"\\"):
        return name
    return repr(name)


@dataclass
class LoadedDocument:
    """Extracted text of one file; ``page_starts[i]`` is where page i+1 begins (PDF)."""

    source: str
    text: str
    sha256: str
    page_starts: list[int] = field(default_factory=list)
    title: str | None = None  # first heading, metadata title or a short first line
    fingerprint: Fingerprint | None = None  # of the bytes read (load_file), for the manifest

    def page_at(self, offset: int) -> int | None:
        """1-based page holding character ``offset``, or None for unpaged formats."""
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, offset))

    def pages_inside(self, start: int, end: int) -> list[tuple[int, int]]:
        """(offset, page) of each page that begins strictly inside ``start..end``."""
        first = bisect.bisect_right(self.page_starts, start)
        last = bisect.bisect_left(self.page_starts, end)
        return [(self.page_starts[k], k + 1) for k in range(first, last)]


@dataclass
class Skipped:
    """A file left out of the index and why, for the user-facing report."""

    source: str
    reason: str


class LoadError(Exception):
    """Raised by a loader when a file cannot yield text."""


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


@dataclass(frozen=True)
class Fingerprint:
    """What the manifest records of a file: the hash, size and mtime of the same bytes.

    ``mtime_ns`` is 0 when the stat could not vouch for the content (the file was
    written moments before it was read): the next run hashes it again instead of
    trusting size and mtime.
    """

    sha256: str
    size: int
    mtime_ns: int


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


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    if not head:
        return False
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return control / len(head) > 0.05


# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _control_heavy(text: str) -> bool:
    head = text[:8192]
    control = sum(1 for c in head if ord(c) < 32 and c not in "\t\n\f\r")
    return bool(head) and control / len(head) > 0.05


def decode_text(data: bytes) -> str:
    """Decode bytes of a text file: by its byte order mark (UTF-8, UTF-16, UTF-32),
    else UTF-8, else cp1252."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(f"invalid {encoding.upper()} text ({exc.reason})") from exc
            if "\x00" in text[:8192] or _control_heavy(text):
                raise LoadError("binary content, not text")
            return text
    if _looks_binary(data):
        raise LoadError("binary content, not text")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise LoadError("unknown text encoding")


def _normalise(text: str) -> str:
    # Unified newlines keep offsets stable across platforms; NUL would break Chroma.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, with whitespace collapsed as a browser would."""

    PARAGRAPHS = {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "title",
        "main",
        "aside",
        "dl",
    }
    LINES = {"br", "li", "tr", "dt", "dd"}
    HIDDEN = {"script", "style", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._head = False
        self.title: list[str] = []  # text of <title>
        self.h1: list[str] = []  # text of the first <h1>
        self._capture: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title" and not self.title:
            self._capture = self.title
        elif tag == "h1" and not self.h1:
            self._capture = self.h1
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag == "head":
            self._head = True
        elif tag == "pre":
            self._pre += 1
        if tag in self.PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in self.LINES:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "h1"):
            self._capture = None
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1
        elif tag == "head":
            self._head = False
        elif tag == "pre" and self._pre:
            self._pre -= 1
        if tag in self.PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        in_title = self._head and self.lasttag == "title"
        if self._capture is not None and not self._hidden:
            self._capture.append(data)
        if self._hidden or (self._head and not in_title):
            return
        data = data.replace("\xa0", " ")
        self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def _html(markup: str) -> tuple[str, str | None]:
    """Visible text of a page and its title (<title>, else the first <h1>)."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    title = _clean_title("".join(parser.title)) or _clean_title("".join(parser.h1))
    return text, title


def html_to_text(markup: str) -> str:
    return _html(markup)[0]


def _clean_title(title: str | None) -> str | None:
    """One line of printable text, at most 200 characters, or None."""
    if not title:
        return None
    title = "".join(c for c in title if unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    title = " ".join(title.split())
    if len(title) > 200:
        title = title[:199].rstrip() + "…"
    return title or None


def _first_line_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return _clean_title(line) if len(line.strip()) <= TITLE_MAX_CHARS else None
    return None


_MD_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)[ \t#]*$", re.M)
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_MD_SETEXT = re.compile(r"^(\S.*)\n {0,3}=+[ \t]*$", re.M)


def _markdown_title(text: str) -> str | None:
    """The first level-1 heading (``# x`` or underlined with ``===``), else any heading."""
    found = [m for m in (_MD_H1.search(text), _MD_SETEXT.search(text)) if m]
    if found:
        return _clean_title(min(found, key=lambda m: m.start()).group(1))
    heading = _MD_HEADING.search(text)
    return _clean_title(heading.group(1)) if heading else None


def _check_text_size(text: str, limits: Limits) -> None:
    if len(text) > limits.max_text_chars:
        raise LoadError(
            f"text too long ({len(text):,} characters; at most {limits.max_text_chars:,}, "
            "ASSISTANT_MAX_TEXT_CHARS)"
        )


def _load_pdf(data: bytes, limits: Limits, source: str) -> tuple[str, list[int], str | None]:
    """Each page's text layer, or its OCR text when it has none (a scan), joined by blank
    lines; the page starts, and the metadata title."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError("encrypted PDF")
        pages_node = reader.trailer["/Root"]["/Pages"]
        count = max(int(pages_node["/Count"]), 0) if "/Count" in pages_node else 0
        if count <= limits.max_pdf_pages:  # cheap, but may lie: count the real pages too
            count = len(reader.pages)
        if count > limits.max_pdf_pages:
            raise LoadError(
                f"too many pages ({count} pages; at most {limits.max_pdf_pages}, "
                "ASSISTANT_MAX_PDF_PAGES)"
            )
        texts: list[str] = []
        for page in reader.pages:
            texts.append(_normalise(page.extract_text() or "").strip())
            if sum(map(len, texts)) > limits.max_text_chars:  # stop early, not at the end
                _check_text_size("".join(texts), limits)
        engine = limits.ocr if limits.ocr is not None else TesseractOCR()
        found = ocr_scanned(reader.pages, texts, engine, limits.max_ocr_pages, display_name(source))
        for n, text in found.items():
            texts[n] = _normalise(text).strip()  # load_bytes checks the text's size
        meta = reader.metadata
        title = _clean_title(str(meta.title)) if meta and meta.title else None
    except LoadError:
        raise
    except OCRError as exc:
        raise LoadError(str(exc)) from exc
    except (PdfReadError, Exception) as exc:  # pypdf raises many types on broken files
        raise LoadError(f"broken PDF ({type(exc).__name__}: {exc})") from exc
    starts, length = [], 0
    for n, text in enumerate(texts):
        length += 2 if n else 0  # the blank line between pages
        starts.append(length)
        length += len(text)
    return "\n\n".join(texts), starts, title


def _check_zip(data: bytes, limits: Limits) -> None:
    """Refuse a zip that would expand beyond the limits, before anything unpacks it.

    zipfile never yields more than a member's declared size, so the declared sizes
    bound what python-docx can read.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise LoadError(f"broken DOCX ({type(exc).__name__}: not a readable zip archive)") from exc
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked_mb * 1e6:
        raise LoadError(
            f"DOCX expands to {total / 1e6:.0f} MB (at most {limits.max_unpacked_mb:g} MB "
            "unpacked, ASSISTANT_MAX_UNPACKED_MB)"
        )
    for m in members:
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size > RATIO_MIN_BYTES and ratio > limits.max_compression_ratio:
            raise LoadError(
                f"compression ratio {ratio:.0f}:1 of {display_name(m.filename)} is over "
                f"{limits.max_compression_ratio:g}:1 (ASSISTANT_MAX_COMPRESSION_RATIO); "
                "refused as a possible decompression bomb"
            )


def _load_docx(data: bytes, limits: Limits) -> tuple[str, str | None]:
    try:
        import docx
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise LoadError("python-docx is not installed") from exc
    _check_zip(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise LoadError(f"broken DOCX ({type(exc).__name__})") from exc
    blocks = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                blocks.append(" | ".join(cells))
    title = _clean_title(document.core_properties.title)
    if title is None:
        styled = (
            p.text
            for p in document.paragraphs
            if p.text.strip() and p.style is not None and p.style.name in ("Title", "Heading 1")
        )
        title = _clean_title(next(styled, None))
    return "\n\n".join(blocks), title


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
        text, page_starts, title = _load_pdf(data, limits, source)
    elif suffix in FORMATS["docx"]:
        if not data.startswith(b"PK"):
            raise LoadError("not a DOCX file (not a zip archive)")
        text, title = _load_docx(data, limits)
    elif suffix in FORMATS["html"]:
        text, title = _html(decode_text(data))
    elif suffix in FORMATS["txt"] + FORMATS["md"]:
        text = decode_text(data)
        if suffix in FORMATS["md"]:
            title = _markdown_title(text)
    else:
        raise LoadError(f"unsupported file type {suffix or '(none)'}")
    _check_text_size(text, limits)
    text = _normalise(text)
    if not text.strip():
        raise LoadError("no text in file (empty, or scanned pages in which OCR found no text)")
    title = title or _first_line_title(text)
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
