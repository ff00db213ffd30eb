"""Loaders: every supported format, real PDF and DOCX files, and what must be refused."""

import io

import docx
import pytest

from assistant.ingest.loaders import (
    Limits,
    LoadError,
    display_name,
    html_to_text,
    list_corpus,
    load_bytes,
    load_file,
)
from helpers.office import make_docx, make_docx_bomb
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


# -- encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-32"])
def test_text_with_a_byte_order_mark_is_decoded(encoding):
    text = "Grüße aus Köln. Der Rhein fließt nach Norden."
    bom = {"utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}.get(encoding, "")
    data = (bom + text).encode(encoding)
    assert load_bytes("notiz.txt", data).text == text
    assert load_bytes("notiz.md", data).text == text
    assert "Köln" in load_bytes("seite.html", (bom + f"<p>{text}</p>").encode(encoding)).text


def test_utf16_without_text_is_still_refused():
    with pytest.raises(LoadError, match="no text"):
        load_bytes("leer.txt", "\ufeff  \n".encode("utf-16-le"))


# -- decompression bombs and size limits -----------------------------------------------------


def test_docx_bomb_is_refused_with_the_reason():
    bomb = make_docx_bomb(12_000_000)  # 12 M characters from a few dozen KB
    assert len(bomb) < 200_000
    with pytest.raises(LoadError, match="compression ratio|expands"):
        load_bytes("bombe.docx", bomb)


@pytest.mark.parametrize(
    "limits, reason",
    [
        (Limits(max_unpacked_mb=1.0), "expands to"),
        (Limits(max_compression_ratio=50), "compression ratio"),
        pytest.param(  # python-docx parses the whole 1.5 MB document: seconds
            Limits(max_text_chars=100_000, max_compression_ratio=1e6),
            "text too long",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_each_docx_limit_names_its_reason(limits, reason):
    bomb = make_docx_bomb(1_500_000)
    with pytest.raises(LoadError, match=reason):
        load_bytes("bombe.docx", bomb, limits)


def test_limits_do_not_refuse_normal_documents():
    data = make_docx(["Die Firma wurde 1998 in Hamburg gegründet."] * 200)
    assert "Hamburg" in load_bytes("bericht.docx", data, Limits()).text


def test_pdf_with_too_many_pages_is_refused():
    data = make_pdf([[f"Seite {i}."] for i in range(30)])
    assert load_bytes("ok.pdf", data, Limits(max_pdf_pages=30)).text.startswith("Seite 0.")
    with pytest.raises(LoadError, match="30 pages.*at most 20"):
        load_bytes("lang.pdf", data, Limits(max_pdf_pages=20))


@pytest.mark.parametrize(
    "name, data",
    [
        ("a.txt", b"Wort " * 5000),
        ("a.md", b"# Titel\n\n" + b"Wort " * 5000),
        ("a.html", b"<p>" + b"Wort " * 5000 + b"</p>"),
        ("a.pdf", make_pdf([["Wort " * 20] * 40] * 30)),
    ],
)
def test_extracted_text_is_bounded_for_every_format(name, data):
    with pytest.raises(LoadError, match="text too long"):
        load_bytes(name, data, Limits(max_text_chars=20_000))


def test_limit_defaults_match_the_settings():
    from assistant.settings import Settings

    assert Limits.from_settings(Settings(_env_file=None)) == Limits()


# -- titles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data, title",
    [
        (
            "a.md",
            b"Vorwort ohne Raute\n\n# Die Geschichte Lindenaus\n\nText.",
            "Die Geschichte Lindenaus",
        ),
        ("a.md", b"## Nur Ebene zwei\n\nText.", "Nur Ebene zwei"),
        (
            "a.html",
            b"<html><head><title>Seitentitel</title></head><body><h1>Kopf</h1>Text.</body>",
            "Seitentitel",
        ),
        (
            "a.html",
            b"<body><p>Vorspann.</p><h1>\n  Die  Kopfzeile </h1><p>Text.</p></body>",
            "Die Kopfzeile",
        ),
        ("a.txt", b"Jahresbericht 2024\n\nDie Firma wuchs.", "Jahresbericht 2024"),
        ("a.txt", ("Ein sehr langer erster Satz " * 10).encode(), None),
    ],
)
def test_document_title(name, data, title):
    assert load_bytes(name, data).title == title


def test_pdf_and_docx_titles_from_metadata_else_first_line():
    assert load_bytes("a.docx", make_docx(["Erster Absatz."], title="Bericht 2024")).title == (
        "Bericht 2024"
    )
    assert load_bytes("a.docx", make_docx(["Kurzer Anfang", "Mehr Text."])).title == "Kurzer Anfang"
    assert load_bytes("a.pdf", make_pdf([["Der Titel", "Text."]])).title == "Der Titel"


# -- links and names --------------------------------------------------------------------


def test_links_leaving_the_corpus_are_skipped_with_a_reason(tmp_path):
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    corpus.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("root:x:0:0:root:/root:/bin/bash")
    (corpus / "a.txt").write_text("A.")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "c.md").write_text("C.")
    (corpus / "passwd.txt").symlink_to(outside / "secret.txt")
    (corpus / "extern").symlink_to(outside, target_is_directory=True)
    (corpus / "sub" / "relativ.txt").symlink_to("../../outside/secret.txt")
    (corpus / "kopie.txt").symlink_to(corpus / "a.txt")  # a link inside the corpus is fine
    (corpus / "sub" / "zurueck").symlink_to("..", target_is_directory=True)  # no loop
    (corpus / "weg.txt").symlink_to(tmp_path / "nirgends.txt")
    found, skipped = list_corpus(corpus)
    assert sorted(found) == ["a.txt", "kopie.txt", "sub/c.md"]
    reasons = {s.source: s.reason for s in skipped}
    assert set(reasons) == {"passwd.txt", "extern", "sub/relativ.txt", "weg.txt"}
    for source in ("passwd.txt", "extern", "sub/relativ.txt"):
        assert "outside the corpus folder" in reasons[source]
    assert "broken link" in reasons["weg.txt"]


def test_a_linked_corpus_folder_itself_is_fine(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.txt").write_text("A.")
    (tmp_path / "corpus").symlink_to(real, target_is_directory=True)
    found, skipped = list_corpus(tmp_path / "corpus")
    assert list(found) == ["a.txt"] and skipped == []


def test_load_file_refuses_a_link_swapped_to_outside(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (tmp_path / "secret.txt").write_text("Geheim.")
    (corpus / "a.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(LoadError, match="outside the corpus folder"):
        load_file(corpus / "a.txt", "a.txt", root=corpus)


@pytest.mark.parametrize(
    "name, shown",
    [
        ("bericht.pdf", "bericht.pdf"),
        ("sub/Grüße aus Köln.txt", "sub/Grüße aus Köln.txt"),
        ("a\nwarning: fake.txt", "'a\\nwarning: fake.txt'"),
        ('sag "hallo".txt', "'sag \"hallo\".txt'"),
        ("rechts\u202etxt.exe", "'rechts\\u202etxt.exe'"),
        ("tab\there.txt", "'tab\\there.txt'"),
    ],
)
def test_display_name_escapes_what_could_fake_output(name, shown):
    assert display_name(name) == shown
    assert "\n" not in display_name(name)


def test_pages_inside_a_span():
    data = make_pdf([["Eins."], ["Zwei."], [], ["Vier."]])
    doc = load_bytes("p.pdf", data)
    starts = doc.page_starts
    assert len(starts) == 4
    assert doc.pages_inside(0, len(doc.text)) == [(s, n + 1) for n, s in enumerate(starts)][1:]
    assert doc.pages_inside(starts[1], starts[1] + 3) == []  # a page starting at the span start
    assert doc.page_at(doc.text.index("Vier")) == 4


# -- a fingerprint belongs to the bytes read ------------------------------------------------
def test_the_fingerprint_is_that_of_the_bytes_read(tmp_path):
    import hashlib
    import os

    from assistant.ingest.loaders import RACY_NS, fingerprint, read_stable

    path = tmp_path / "a.txt"
    path.write_bytes(b"Erste Fassung.")
    data, fp = read_stable(path)
    assert fp.sha256 == hashlib.sha256(data).hexdigest() and fp.size == len(data)
    assert fp.mtime_ns == 0  # written just now: the next run checks the content again
    old = path.stat().st_mtime_ns - 10 * RACY_NS
    os.utime(path, ns=(old, old))
    data, fp = read_stable(path)
    assert (fp.size, fp.mtime_ns) == (len(data), old)
    assert fingerprint(path) == fp  # the same, hashed a block at a time


def test_a_file_rewritten_at_every_read_is_refused_for_now(tmp_path):
    from assistant.ingest.loaders import FileChanged, read_all, read_stable

    path = tmp_path / "a.txt"
    path.write_bytes(b"Erste Fassung.")
    count = []

    def read_then_rewrite(fh):
        data = read_all(fh)
        count.append(1)
        path.write_bytes(b"Fassung %d, etwas laenger." % len(count))
        return data

    with pytest.raises(FileChanged, match="changed while it was read"):
        read_stable(path, read=read_then_rewrite)
    with pytest.raises(LoadError, match="changed while it was read"):
        load_file(path, "a.txt", read=read_then_rewrite)
    data, fp = read_stable(path)  # once it holds still, it is read
    assert data == path.read_bytes() and fp.size == len(data)
