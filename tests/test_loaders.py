"""Loaders: every supported format, real PDF and DOCX files, and what must be refused."""

import io

import docx
import pytest

from assistant.loaders import LoadError, html_to_text, list_corpus, load_bytes, load_file
from helpers.pdf import make_pdf


def test_txt_utf8_bom_and_cp1252():
    assert load_bytes("a.txt", "Grüße aus Köln.".encode()).text == "Grüße aus Köln."
    assert load_bytes("a.txt", b"\xef\xbb\xbfMit BOM.").text == "Mit BOM."
    assert load_bytes("a.txt", "Straße in Wien.".encode("cp1252")).text == "Straße in Wien."


def test_newlines_are_normalised():
    assert load_bytes("a.md", b"# Titel\r\n\r\nText.\r").text == "# Titel\n\nText.\n"


def test_html_keeps_visible_text_only():
    markup = """<html><head><title>Seite</title><style>p{color:red}</style>
    <script>alert('x')</script></head><body><h1>Über&nbsp;uns</h1><p>Erster Absatz
    mit &amp; Zeichen.</p><ul><li>Punkt eins</li><li>Punkt zwei</li></ul></body></html>"""
    text = html_to_text(markup)
    assert "alert" not in text and "color" not in text
    assert "Über uns" in text and "Erster Absatz mit & Zeichen." in text
    assert "Punkt eins\nPunkt zwei" in text
    assert load_bytes("p.html", markup.encode()).text == text


def test_real_pdf_with_pages():
    data = make_pdf([["Seite eins über Müller."], ["Seite zwei: Der Rhein ist 1.230 km lang."]])
    doc = load_bytes("bericht.pdf", data)
    assert "Seite eins über Müller." in doc.text
    assert doc.page_at(doc.text.index("Rhein")) == 2
    assert doc.page_at(doc.text.index("Müller")) == 1


def test_real_docx_paragraphs_and_tables():
    document = docx.Document()
    document.add_heading("Jahresbericht", level=1)
    document.add_paragraph("Die Firma wurde 1998 in Hamburg gegründet.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Umsatz"
    table.rows[0].cells[1].text = "12 Mio. Euro"
    buf = io.BytesIO()
    document.save(buf)
    text = load_bytes("bericht.docx", buf.getvalue()).text
    assert "Die Firma wurde 1998 in Hamburg gegründet." in text
    assert "Umsatz | 12 Mio. Euro" in text


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("leer.txt", b"", "no text"),
        ("leer.txt", b"   \n\n ", "no text"),
        ("bild.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("kaputt.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "broken PDF"),
        ("falsch.pdf", b"Hallo, ich bin kein PDF", "not a PDF"),
        ("kaputt.docx", b"PK\x03\x04 this is not a zip", "broken DOCX"),
        ("falsch.docx", b"plain text", "not a DOCX"),
        ("programm.exe", b"MZ\x90\x00", "unsupported"),
    ],
)
def test_bad_files_raise_a_reason(name, data, reason):
    with pytest.raises(LoadError, match=reason):
        load_bytes(name, data)


def test_unreadable_and_oversized_files(tmp_path):
    big = tmp_path / "gross.txt"
    big.write_text("x " * 3000)
    with pytest.raises(LoadError, match="too large"):
        load_file(big, "gross.txt", max_bytes=1000)
    with pytest.raises(LoadError, match="cannot read"):
        load_file(tmp_path / "fehlt.txt", "fehlt.txt")


def test_list_corpus_reports_unsupported_and_skips_hidden(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("A.")
    (tmp_path / "sub" / "b.md").write_text("B.")
    (tmp_path / "c.xlsx").write_bytes(b"PK")
    (tmp_path / ".hidden.txt").write_text("H.")
    found, skipped = list_corpus(tmp_path)
    assert sorted(found) == ["a.txt", "sub/b.md"]
    assert [(s.source, "unsupported" in s.reason) for s in skipped] == [("c.xlsx", True)]
