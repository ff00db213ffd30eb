"""Scanned PDFs: pages without a text layer are read by OCR (assistant/ingest/ocr.py), and
their text is cited like any other page's; without Tesseract the file is skipped with how
to add it, and the other files still index."""

from __future__ import annotations

import shutil

import pytest

from assistant import Assistant
from assistant.ingest.loaders import Limits, LoadError, load_bytes
from assistant.ingest.ocr import (
    INSTALL_HINT,
    NoOCR,
    OCRError,
    OCRUnavailable,
    TesseractOCR,
    page_images,
)
from helpers.pdf import make_pdf
from helpers.scan import find_font, join_pdfs, page_image, scanned_pdf

FONT = find_font()
needs_font = pytest.mark.skipif(FONT is None, reason="no TrueType font on this machine")
HAVE_TESSERACT = TesseractOCR().unavailable() is None
needs_tesseract = pytest.mark.skipif(not HAVE_TESSERACT, reason=f"no Tesseract ({INSTALL_HINT})")
MISSING = "/nonexistent/bin/tesseract"

SCAN_DE = [
    "Der Hausmeister heißt Bernhard Kowalski.",
    "Er wohnt seit dem Jahr 1987 im Erdgeschoss.",
]


class ScriptedOCR:
    """An engine that returns the next of its texts for each image, and counts calls."""

    def __init__(self, *texts: str, problem: str | None = None) -> None:
        self.texts = list(texts)
        self.problem = problem
        self.calls = 0

    def unavailable(self) -> str | None:
        return self.problem

    def read(self, image: bytes) -> str:
        assert image.startswith(b"\x89PNG")  # the loader passes a PNG
        self.calls += 1
        return self.texts.pop(0)


class FailingOCR(ScriptedOCR):
    def read(self, image: bytes) -> str:
        raise OCRError("OCR took longer than 1 s (ASSISTANT_OCR_PAGE_SECONDS)")


@needs_font
class TestScannedPages:
    def test_the_ocr_text_is_the_page_text_with_page_boundaries_kept(self):
        pdf = join_pdfs(
            make_pdf([["Seite eins hat Text."]]),
            scanned_pdf([["a"], ["b"]], FONT),
            make_pdf([["Seite vier hat Text."]]),
        )
        engine = ScriptedOCR("Zweite Seite, gescannt.\n\f", "Dritte Seite.\r\nZeile zwei.")
        doc = load_bytes("mixed.pdf", pdf, ocr=engine)
        assert engine.calls == 2
        pages = doc.text.split("\n\n")
        assert pages == [
            "Seite eins hat Text.",
            "Zweite Seite, gescannt.",
            "Dritte Seite.\nZeile zwei.",
            "Seite vier hat Text.",
        ]
        for n, page in enumerate(pages, 1):
            start = doc.text.index(page)
            assert doc.page_starts[n - 1] == start and doc.page_at(start) == n
        assert doc.page_at(doc.text.index("Zeile zwei")) == 3

    def test_a_text_pdf_never_asks_the_engine(self):
        engine = ScriptedOCR(problem="must not be asked")
        doc = load_bytes("t.pdf", make_pdf([["Nur Text."], ["Noch mehr Text."]]), ocr=engine)
        assert doc.text == "Nur Text.\n\nNoch mehr Text." and engine.calls == 0

    def test_a_scanned_pdf_without_ocr_names_the_packages(self):
        with pytest.raises(LoadError) as exc:
            load_bytes("scan.pdf", scanned_pdf([SCAN_DE], FONT), ocr=TesseractOCR(MISSING))
        message = str(exc.value)
        assert "scanned PDF" in message and INSTALL_HINT in message and MISSING in message

    def test_a_mixed_pdf_without_ocr_keeps_its_text_pages(self, caplog):
        pdf = join_pdfs(make_pdf([["Seite eins hat Text."]]), scanned_pdf([SCAN_DE], FONT))
        doc = load_bytes("mixed.pdf", pdf, ocr=TesseractOCR(MISSING))
        assert doc.text == "Seite eins hat Text.\n\n" and doc.page_starts == [0, 22]
        (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warning.startswith("mixed.pdf: scanned page(s) 2 left unread: Tesseract is not")

    def test_ocr_switched_off(self):
        assert isinstance(TesseractOCR.from_settings(_Settings("off")), NoOCR)
        with pytest.raises(LoadError, match="ASSISTANT_TESSERACT=off"):
            load_bytes("scan.pdf", scanned_pdf([SCAN_DE], FONT), ocr=NoOCR())

    def test_too_many_scanned_pages_are_refused_before_any_is_read(self):
        engine = ScriptedOCR("x", "y", "z")
        limits = Limits(max_ocr_pages=2)
        with pytest.raises(LoadError, match="3 pages without a text layer.*OCR_MAX_PAGES"):
            load_bytes("scan.pdf", scanned_pdf([["a"], ["b"], ["c"]], FONT), limits, engine)
        assert engine.calls == 0

    def test_a_failing_page_names_its_page(self):
        pdf = join_pdfs(make_pdf([["Text."]]), scanned_pdf([SCAN_DE], FONT))
        with pytest.raises(LoadError, match="OCR of page 2 failed: OCR took longer"):
            load_bytes("scan.pdf", pdf, ocr=FailingOCR())

    def test_ocr_text_counts_against_the_text_limit(self):
        limits = Limits(max_text_chars=100)
        with pytest.raises(LoadError, match="text too long"):
            load_bytes("scan.pdf", scanned_pdf([["a"]], FONT), limits, ScriptedOCR("x" * 101))

    def test_the_page_image_is_the_scanned_image(self):
        from io import BytesIO

        from PIL import Image
        from pypdf import PdfReader

        width, height = page_image(SCAN_DE, FONT).size
        sharp = PdfReader(BytesIO(scanned_pdf([SCAN_DE], FONT, dpi=300))).pages[0]
        (png,) = page_images(sharp)
        assert Image.open(BytesIO(png)).size == (width, height)  # 300 dpi: as it is
        coarse = PdfReader(BytesIO(scanned_pdf([SCAN_DE], FONT, dpi=100))).pages[0]
        (png,) = page_images(coarse)
        image = Image.open(BytesIO(png))
        assert image.size == (width * 3, height * 3)  # 100 dpi: scaled up to 300
        assert round(image.info["dpi"][0]) == 300

    def test_an_undecodable_image_is_an_ocr_error_naming_the_page(self):
        pdf = scanned_pdf([SCAN_DE], FONT).replace(b"/DCTDecode", b"/JBIG2Decode")
        pdf = pdf.replace(b"/FlateDecode", b"/JBIG2Decode")
        with pytest.raises(LoadError, match="OCR of page 1 failed: the page image cannot be"):
            load_bytes("scan.pdf", pdf, ocr=ScriptedOCR("x"))


class _Settings:
    def __init__(self, tesseract: str) -> None:
        self.tesseract = tesseract
        self.ocr_languages = "deu+eng"
        self.ocr_page_seconds = 5.0


@pytest.mark.slow  # runs the tesseract program
class TestTesseract:
    def test_a_missing_program_says_how_to_install_it(self):
        engine = TesseractOCR(MISSING)
        assert INSTALL_HINT in (engine.unavailable() or "")
        with pytest.raises(OCRUnavailable, match="not installed"):
            engine.read(b"\x89PNG")

    @needs_tesseract
    def test_missing_language_data_is_named(self):
        problem = TesseractOCR(languages="deu+xyz").unavailable() or ""
        assert "xyz" in problem and "ASSISTANT_OCR_LANGUAGES" in problem

    @needs_tesseract
    @needs_font
    def test_reads_german_text_from_an_image(self):
        from io import BytesIO

        buffer = BytesIO()
        page_image(SCAN_DE, FONT).save(buffer, "PNG")
        text = " ".join(TesseractOCR(page_seconds=120).read(buffer.getvalue()).split())
        assert "Bernhard Kowalski" in text and "1987" in text and "Erdgeschoss" in text

    @needs_tesseract
    def test_a_broken_image_is_an_ocr_error(self):
        with pytest.raises(OCRError, match="Tesseract failed"):
            TesseractOCR().read(b"not an image at all")


@pytest.mark.slow
@needs_font
class TestIndexedScan:
    @needs_tesseract
    def test_an_answer_from_a_scanned_page_cites_the_page(self, settings_factory):
        settings = settings_factory()
        pdf = join_pdfs(
            make_pdf([["Hausordnung", "Die Ruhezeit beginnt um 22 Uhr."]]),
            scanned_pdf([SCAN_DE], FONT),
        )
        (settings.corpus_dir / "haus.pdf").write_bytes(pdf)
        bot = Assistant(settings)
        report = bot.index()
        assert report.added == ["haus.pdf"] and not report.skipped
        answer = bot.ask("Wie heißt der Hausmeister?")
        assert answer.outcome == "answered", answer
        cited = answer.citations[0]
        assert cited.source == "haus.pdf" and cited.page == 2
        assert "Kowalski" in cited.quote
        text = load_bytes("haus.pdf", pdf).text
        assert text[cited.start : cited.end] == cited.quote

    def test_without_tesseract_the_scan_is_skipped_and_the_rest_indexed(self, settings_factory):
        if shutil.which(MISSING):
            pytest.skip("the missing program exists")
        settings = settings_factory(tesseract=MISSING)
        (settings.corpus_dir / "scan.pdf").write_bytes(scanned_pdf([SCAN_DE], FONT))
        (settings.corpus_dir / "notes.txt").write_text("Der Müll wird montags abgeholt.")
        report = Assistant(settings).index()
        assert report.added == ["notes.txt"]
        (skipped,) = report.skipped
        assert skipped.source == "scan.pdf"
        assert "scanned PDF" in skipped.reason and INSTALL_HINT in skipped.reason
