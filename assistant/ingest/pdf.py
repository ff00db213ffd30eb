"""PDF: each page's text layer, or its OCR text when it is a scan, with page starts."""

from __future__ import annotations

import io

from assistant.ingest.document import (
    Limits,
    LoadError,
    check_text_size,
    clean_title,
    display_name,
    normalise,
)
from assistant.ingest.ocr import OCRError, TesseractOCR, ocr_scanned


def load_pdf(data: bytes, limits: Limits, source: str) -> tuple[str, list[int], str | None]:
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
            texts.append(normalise(page.extract_text() or "").strip())
            if sum(map(len, texts)) > limits.max_text_chars:  # stop early, not at the end
                check_text_size("".join(texts), limits)
        engine = limits.ocr if limits.ocr is not None else TesseractOCR()
        found = ocr_scanned(reader.pages, texts, engine, limits.max_ocr_pages, display_name(source))
        for n, text in found.items():
            texts[n] = normalise(text).strip()  # load_bytes checks the text's size
        meta = reader.metadata
        title = clean_title(str(meta.title)) if meta and meta.title else None
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
