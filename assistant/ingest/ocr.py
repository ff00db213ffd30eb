"""Text of scanned PDF pages, read by OCR (Tesseract's command line, German and English).

A scanned page has no text layer: its text is the OCR of the page's embedded images
(a scanner writes one image per page). The OCR text becomes the page's text in
``pdf.load_pdf``, so page numbers and citation offsets work as for any other page.

The engine is a small :class:`OCREngine` protocol so the loader and the tests take any
engine; :class:`TesseractOCR` (the ``tesseract`` program, ``apt install tesseract-ocr
tesseract-ocr-deu tesseract-ocr-eng``) is the default. Results are kept in a small cache
by image content: an upload is checked (read once) and then indexed (read again).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import threading
from collections import OrderedDict
from typing import Any, Protocol

logger = logging.getLogger(__name__)

INSTALL_HINT = "apt install tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng"
MAX_IMAGE_PIXELS = 80_000_000  # an A4 page at 600 dpi has 35 million
CACHE_ENTRIES = 256
MIN_DPI = 200  # a page image below this resolution is scaled up to TARGET_DPI
TARGET_DPI = 300


class OCRError(Exception):
    """The OCR of one image failed (timeout, a broken image, tesseract's own error)."""


class OCRUnavailable(OCRError):
    """No OCR on this machine (the program or its languages are missing)."""


class OCREngine(Protocol):
    """Reads the text of one page image (PNG bytes)."""

    def unavailable(self) -> str | None:
        """Why this engine cannot run here, or None when it can."""
        ...

    def read(self, image: bytes) -> str:
        """The text in ``image``; raises :class:`OCRError` when it cannot be read."""
        ...


class NoOCR:
    """OCR switched off (``ASSISTANT_TESSERACT=off``): scanned pages stay unread."""

    def unavailable(self) -> str | None:
        return "OCR is switched off (ASSISTANT_TESSERACT=off)"

    def read(self, image: bytes) -> str:
        raise OCRUnavailable(self.unavailable() or "")


_CACHE: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_CACHE_LOCK = threading.Lock()


class TesseractOCR:
    """The ``tesseract`` program, one subprocess per page image, bounded in time.

    ``binary``: the program's name on PATH or its path; ``languages``: Tesseract's
    language codes joined by ``+``; ``page_seconds``: how long one image may take.
    """

    def __init__(
        self, binary: str = "tesseract", languages: str = "deu+eng", page_seconds: float = 60.0
    ) -> None:
        self.binary = binary
        self.languages = languages
        self.page_seconds = page_seconds
        self._checked: str | None = None
        self._problem: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> OCREngine:
        if settings.tesseract.strip().lower() in ("off", "none", ""):
            return NoOCR()
        return cls(settings.tesseract, settings.ocr_languages, settings.ocr_page_seconds)

    def unavailable(self) -> str | None:
        """Whether the program runs and knows the languages (asked once per engine)."""
        if self._checked == self.binary:
            return self._problem
        self._checked, self._problem = self.binary, self._probe()
        return self._problem

    def _probe(self) -> str | None:
        path = shutil.which(self.binary)
        if path is None:
            return f"Tesseract is not installed ({self.binary!r} not found; {INSTALL_HINT})"
        try:
            done = subprocess.run(
                [path, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"Tesseract does not run ({exc}; {INSTALL_HINT})"
        known = {line.strip() for line in done.stdout.splitlines()[1:]}
        missing = [lang for lang in self.languages.split("+") if lang and lang not in known]
        if missing:
            return (
                f"Tesseract lacks the language data {', '.join(missing)} "
                f"({INSTALL_HINT}, or set ASSISTANT_OCR_LANGUAGES)"
            )
        return None

    def read(self, image: bytes) -> str:
        problem = self.unavailable()
        if problem:
            raise OCRUnavailable(problem)
        key = (self.binary, self.languages, hashlib.sha256(image).hexdigest())
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        text = self._run(image)
        with _CACHE_LOCK:
            _CACHE[key] = text
            while len(_CACHE) > CACHE_ENTRIES:
                _CACHE.popitem(last=False)
        return text

    def _run(self, image: bytes) -> str:
        # one thread: Tesseract's OpenMP threads slow it down on a shared machine
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(
                [self.binary, "stdin", "stdout", "-l", self.languages, "--psm", "3"],
                input=image,
                capture_output=True,
                timeout=self.page_seconds,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OCRError(
                f"OCR took longer than {self.page_seconds:g} s (ASSISTANT_OCR_PAGE_SECONDS)"
            ) from exc
        except OSError as exc:
            raise OCRUnavailable(f"Tesseract does not run ({exc}; {INSTALL_HINT})") from exc
        if done.returncode != 0:
            last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
            raise OCRError(f"Tesseract failed ({last[:200]})")
        return done.stdout.decode("utf-8", "replace")


def page_images(page: Any) -> list[bytes]:
    """The images drawn on a PDF page, as PNG bytes in the page's order, at least
    ``MIN_DPI`` for the page's width (Tesseract reads small glyphs badly); an image too
    large to decode safely is refused before it is decoded."""
    for name, size in _declared_sizes(page):
        if size > MAX_IMAGE_PIXELS:
            raise OCRError(
                f"image {name} is too large to read ({size / 1e6:.0f} million pixels; "
                f"at most {MAX_IMAGE_PIXELS / 1e6:.0f})"
            )
    try:
        inches = max(float(page.mediabox.width) / 72, 0.1)
        out = []
        for found in page.images:
            if found.image is not None:
                out.append(_png(found.image, inches))
        return out
    except OCRError:
        raise
    except Exception as exc:  # pillow and pypdf raise many types on odd images
        raise OCRError(f"the page image cannot be decoded ({type(exc).__name__}: {exc})") from exc


def _png(image: Any, page_inches: float) -> bytes:
    """The image as PNG, scaled up to ``TARGET_DPI`` when it is below ``MIN_DPI``."""
    from PIL import Image

    if image.mode not in ("1", "L", "RGB"):
        image = image.convert("RGB")
    dpi = image.width / page_inches
    if dpi < MIN_DPI:
        factor = min(
            TARGET_DPI / dpi, (MAX_IMAGE_PIXELS / max(image.width * image.height, 1)) ** 0.5
        )
        if factor > 1:
            size = (round(image.width * factor), round(image.height * factor))
            image = image.convert("L").resize(size, Image.Resampling.LANCZOS)
            dpi *= factor
    buffer = io.BytesIO()
    image.save(buffer, "PNG", dpi=(round(dpi), round(dpi)))
    return buffer.getvalue()


def _declared_sizes(page: Any) -> list[tuple[str, int]]:
    """(name, width x height) of the page's image objects, read before any is decoded."""
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is None:
        return []
    sizes = []
    for name, ref in xobjects.get_object().items():
        obj = ref.get_object()
        if obj.get("/Subtype") == "/Image":
            sizes.append((str(name), int(obj.get("/Width", 0)) * int(obj.get("/Height", 0))))
    return sizes


def read_page(page: Any, engine: OCREngine) -> str:
    """The OCR text of a page without a text layer ("" for a page with no image)."""
    images = page_images(page)
    return "\n\n".join(engine.read(image).strip() for image in images).strip()


def ocr_scanned(
    pages: Any, texts: list[str], engine: OCREngine, max_pages: int, name: str = "PDF"
) -> dict[int, str]:
    """The OCR text of each page (by index) that has images but no text in ``texts``.

    A wholly scanned PDF that cannot be read is an :class:`OCRError` saying how to add
    OCR; in a mixed PDF without OCR the scanned pages are left empty with a warning
    naming the file (``name``) and the pages.
    """
    scanned = [n for n, text in enumerate(texts) if not text and len(pages[n].images)]
    if not scanned:
        return {}
    problem = engine.unavailable()
    if problem:
        if any(texts):
            unread = ", ".join(str(n + 1) for n in scanned[:20])
            logger.warning("%s: scanned page(s) %s left unread: %s", name, unread, problem)
            return {}
        raise OCRUnavailable(f"scanned PDF without a text layer, and no OCR to read it: {problem}")
    if len(scanned) > max_pages:
        raise OCRError(
            f"scanned PDF with {len(scanned)} pages without a text layer; at most "
            f"{max_pages} are read by OCR (ASSISTANT_OCR_MAX_PAGES)"
        )
    read = {}
    for n in scanned:
        try:
            read[n] = read_page(pages[n], engine)
        except OCRUnavailable:
            raise
        except OCRError as exc:
            raise OCRError(f"OCR of page {n + 1} failed: {exc}") from exc
    return read
