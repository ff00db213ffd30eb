"""Scanned PDFs for tests: text rendered to an image with pillow, wrapped as a PDF page
without a text layer (what a scanner writes)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


def find_font() -> str | None:
    """A TrueType font on this machine (DejaVu on Debian), or None."""
    for path in FONTS:
        if Path(path).is_file():
            return path
    if shutil.which("fc-list"):
        listed = subprocess.run(
            ["fc-list", ":fontformat=TrueType", "file"], capture_output=True, text=True
        )
        for line in listed.stdout.splitlines():
            path = line.split(":")[0].strip()
            if path.endswith(".ttf"):
                return path
    return None


def page_image(lines: list[str], font_path: str, size: int = 34) -> Image.Image:
    """An A4 page at 150 dpi, black text on white, one line per entry."""
    image = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(font_path, size)
    y = 150
    for line in lines:
        draw.text((120, y), line, fill=0, font=font)
        y += int(size * 1.6)
    return image


def scanned_pdf(pages: list[list[str]], font_path: str, dpi: float = 150.0) -> bytes:
    """A PDF whose pages are images of ``pages`` (one list of lines per page), scanned at
    ``dpi`` (the image is the same, the page smaller the higher it is)."""
    images = [page_image(lines, font_path) for lines in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out.getvalue()


def join_pdfs(*parts: bytes) -> bytes:
    """The pages of several PDFs in one file (a mixed PDF: text pages and scans)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for part in parts:
        for page in PdfReader(io.BytesIO(part)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
