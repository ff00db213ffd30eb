"""DOCX: paragraphs and table rows, after the zip is checked against decompression bombs."""

from __future__ import annotations

import io
import zipfile

from assistant.ingest.document import (
    RATIO_MIN_BYTES,
    Limits,
    LoadError,
    clean_title,
    display_name,
)


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


def load_docx(data: bytes, limits: Limits) -> tuple[str, str | None]:
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
    title = clean_title(document.core_properties.title)
    if title is None:
        styled = (
            p.text
            for p in document.paragraphs
            if p.text.strip() and p.style is not None and p.style.name in ("Title", "Heading 1")
        )
        title = clean_title(next(styled, None))
    return "\n\n".join(blocks), title
