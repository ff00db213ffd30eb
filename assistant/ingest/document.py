"""What every loader shares: the list of formats, the limits, the loaded document and
the helpers each format's reader uses on its text (normalised newlines, a clean title).

``LoadedDocument.text`` is the exact text that chunk and citation offsets refer to.
"""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from assistant.ingest.ocr import OCREngine, TesseractOCR

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


def normalise(text: str) -> str:
    # Unified newlines keep offsets stable across platforms; NUL would break Chroma.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def clean_title(title: str | None) -> str | None:
    """One line of printable text, at most 200 characters, or None."""
    if not title:
        return None
    title = "".join(c for c in title if unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    title = " ".join(title.split())
    if len(title) > 200:
        title = title[:199].rstrip() + "…"
    return title or None


def check_text_size(text: str, limits: Limits) -> None:
    if len(text) > limits.max_text_chars:
        raise LoadError(
            f"text too long ({len(text):,} characters; at most {limits.max_text_chars:,}, "
            "ASSISTANT_MAX_TEXT_CHARS)"
        )
