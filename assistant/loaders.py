"""Turn files into plain text with page boundaries; citations point into this text.

Each loader returns the exact text that chunk and citation offsets refer to, so
``LoadedDocument.text[start:end] == quote`` is the contract every later step keeps.
Files that cannot be read are reported as :class:`Skipped`, never silently dropped.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")


@dataclass
class LoadedDocument:
    """Extracted text of one file; ``page_starts[i]`` is where page i+1 begins (PDF)."""

    source: str
    text: str
    sha256: str
    page_starts: list[int] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        """1-based page holding character ``offset``, or None for unpaged formats."""
        if not self.page_starts:
            return None
        page = 1
        for i, start in enumerate(self.page_starts):
            if offset >= start:
                page = i + 1
        return page


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


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    if not head:
        return False
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return control / len(head) > 0.05


def decode_text(data: bytes) -> str:
    """Decode bytes of a text file: UTF-8 (with or without BOM), else cp1252."""
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

    def handle_starttag(self, tag: str, attrs: list) -> None:
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
        if self._hidden or (self._head and not in_title):
            return
        data = data.replace("\xa0", " ")
        self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _load_pdf(data: bytes) -> tuple[str, list[int]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except (PdfReadError, Exception) as exc:  # pypdf raises many types on broken files
        raise LoadError(f"broken PDF ({type(exc).__name__}: {exc})") from exc
    text, starts = "", []
    for page in pages:
        if text:
            text += "\n\n"
        starts.append(len(text))
        text += _normalise(page).strip()
    return text, starts


def _load_docx(data: bytes) -> str:
    try:
        import docx
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise LoadError("python-docx is not installed") from exc
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
    return "\n\n".join(blocks)


def load_bytes(source: str, data: bytes) -> LoadedDocument:
    """Extract text from one file's bytes; raises :class:`LoadError` with a reason."""
    suffix = Path(source).suffix.lower()
    page_starts: list[int] = []
    if suffix == ".pdf":
        if not data.startswith(b"%PDF"):
            raise LoadError("not a PDF file (missing %PDF header)")
        text, page_starts = _load_pdf(data)
    elif suffix == ".docx":
        if not data.startswith(b"PK"):
            raise LoadError("not a DOCX file (not a zip archive)")
        text = _load_docx(data)
    elif suffix in (".html", ".htm"):
        text = html_to_text(decode_text(data))
    elif suffix in (".txt", ".md", ".markdown"):
        text = decode_text(data)
    else:
        raise LoadError(f"unsupported file type {suffix or '(none)'}")
    text = _normalise(text)
    if not text.strip():
        raise LoadError("no text in file (empty, or a scanned PDF without a text layer)")
    return LoadedDocument(source, text, hashlib.sha256(data).hexdigest(), page_starts)


def load_file(path: Path, source: str, max_bytes: int | None = None) -> LoadedDocument:
    """Read and extract one file; ``source`` is its path relative to the corpus."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise LoadError(f"file too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read file ({exc.strerror or exc})") from exc
    return load_bytes(source, data)


def list_corpus(corpus_dir: Path) -> tuple[dict[str, Path], list[Skipped]]:
    """All supported files below ``corpus_dir`` by relative POSIX path; the rest as skipped."""
    found: dict[str, Path] = {}
    skipped: list[Skipped] = []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() in SUPPORTED_SUFFIXES:
            found[rel.as_posix()] = path
        else:
            skipped.append(
                Skipped(rel.as_posix(), f"unsupported file type {path.suffix or '(none)'}")
            )
    return found, skipped
