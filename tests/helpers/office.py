"""Real DOCX files for tests, including a decompression bomb."""

from __future__ import annotations

import io
import zipfile

import docx


def make_docx(paragraphs: list[str], title: str | None = None) -> bytes:
    document = docx.Document()
    if title:
        document.core_properties.title = title
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def make_docx_bomb(text_chars: int, paragraph_chars: int = 1000) -> bytes:
    """A valid DOCX with ``text_chars`` characters of text in many paragraphs.

    Repetitive XML deflates about 1000:1, so 52 MB of text fits in a few hundred KB,
    under every byte limit. Many paragraphs, because libxml2 refuses one text node
    over 10 MB by itself.
    """
    paragraph = b"Haus " * (paragraph_chars // 5)
    body = b"</w:t></w:r></w:p><w:p><w:r><w:t>".join([paragraph] * (text_chars // len(paragraph)))
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx(["PLATZHALTER"]))) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"PLATZHALTER", body)
            dst.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()
