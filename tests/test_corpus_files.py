"""Files in the corpus end to end: links, encodings, bombs, PDF pages, titles, odd names."""

import os
import subprocess
import sys

import pytest

from assistant import Assistant
from assistant.errors import UploadError
from assistant.ingest.loaders import load_bytes
from helpers.office import make_docx_bomb
from helpers.pdf import make_pdf

FACT = "Die Stadt Lindenau wurde im Jahr 1312 von Herzog Albrecht gegründet."
PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


@pytest.mark.slow
def test_links_out_of_the_corpus_are_skipped_not_quoted(settings_factory, tmp_path):
    settings = settings_factory()
    corpus = settings.corpus_dir
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text(PASSWD)
    (outside / "notes.txt").write_text("Die Shell von root ist /bin/bash laut Notiz.")
    (corpus / "stadt.txt").write_text(FACT)
    (corpus / "passwd.txt").symlink_to(outside / "passwd")
    (corpus / "etc").symlink_to(outside, target_is_directory=True)
    (corpus / "auch-stadt.txt").symlink_to("stadt.txt")  # inside: fine
    bot = Assistant(settings)
    report = bot.index()
    assert sorted(report.added) == ["auch-stadt.txt", "stadt.txt"]
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == {"passwd.txt", "etc"}
    assert all("outside the corpus folder" in r for r in reasons.values())
    assert "passwd.txt (a link that leads outside" in report.summary()
    answer = bot.ask("Welche Shell hat root?")
    assert all("/bin/bash" not in c.quote and c.source != "passwd.txt" for c in answer.citations)
    assert "/bin/bash" not in answer.text
    assert sorted(d["source"] for d in bot.documents()) == ["auch-stadt.txt", "stadt.txt"]


@pytest.mark.slow
def test_utf16_files_are_indexed_with_exact_text(settings_factory):
    settings = settings_factory()
    river = "Der Fluss Wendel ist 214 Kilometer lang."
    (settings.corpus_dir / "windows.txt").write_bytes(("\ufeff" + FACT).encode("utf-16-le"))
    (settings.corpus_dir / "mac.md").write_bytes(f"\ufeff# Fluss\n\n{river}".encode("utf-16-be"))
    bot = Assistant(settings)
    report = bot.index()
    assert sorted(report.added) == ["mac.md", "windows.txt"] and not report.skipped
    chunks = {c.source: c for c in bot.store.all_chunks(bot.store.manifest())}
    assert chunks["windows.txt"].text == FACT and chunks["windows.txt"].start == 0
    assert chunks["mac.md"].text == f"# Fluss\n\n{river}"
    assert {d["source"]: d["title"] for d in bot.documents()}["mac.md"] == "Fluss"


@pytest.fixture(scope="module")
def bomb():
    data = make_docx_bomb(52_000_000)  # the case: 52 MB of text
    assert len(data) < 400_000
    return data


@pytest.mark.slow
def test_decompression_bomb_is_skipped_in_the_corpus_and_refused_as_upload(settings_factory, bomb):
    settings = settings_factory()
    (settings.corpus_dir / "stadt.txt").write_text(FACT)
    (settings.corpus_dir / "bombe.docx").write_bytes(bomb)
    bot = Assistant(settings)
    report = bot.index()
    assert report.added == ["stadt.txt"]
    [skipped] = report.skipped
    assert skipped.source == "bombe.docx" and "decompression bomb" in skipped.reason
    with pytest.raises(UploadError, match="bombe2.docx: compression ratio .* decompression bomb"):
        bot.add_document("bombe2.docx", bomb)
    assert not (settings.corpus_dir / "bombe2.docx").exists()


@pytest.mark.slow
def test_pdf_quote_on_page_two_is_cited_with_page_two(settings_factory):
    settings = settings_factory()
    pdf = make_pdf(
        [
            ["Jahresbericht der Stadtwerke Lindenau.", "Die Stadtwerke versorgen 8000 Haushalte."],
            [
                "Im Sommer 1998 begannen an der Wendel die Bauarbeiten.",
                "Das neue Wasserwerk wurde im Jahr 1998 am Ufer der Wendel gebaut.",
            ],
            ["Der Vorstand besteht aus drei Personen."],
        ]
    )
    (settings.corpus_dir / "bericht.pdf").write_bytes(pdf)
    bot = Assistant(settings)
    assert bot.index().added == ["bericht.pdf"]
    [chunk] = bot.store.all_chunks(bot.store.manifest())  # all three pages in one chunk
    assert chunk.page == 1
    text = load_bytes("bericht.pdf", pdf)
    answer = bot.ask("Wann wurde das Wasserwerk gebaut?")
    top = answer.citations[0]
    assert "Wasserwerk wurde im Jahr 1998" in top.quote and top.page == 2
    for c in answer.citations:  # every citation carries the page its quote starts on
        assert c.page == text.page_at(c.start)
    answer = bot.ask("Aus wie vielen Personen besteht der Vorstand?")
    assert "drei Personen" in answer.citations[0].quote and answer.citations[0].page == 3
    answer = bot.ask("Wie viele Haushalte versorgen die Stadtwerke?")
    assert "8000" in answer.citations[0].quote and answer.citations[0].page == 1


@pytest.mark.slow
def test_documents_carry_a_readable_title(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    (corpus / "a.md").write_text("# Die Gründung Lindenaus\n\n" + FACT)
    (corpus / "b.html").write_text(f"<html><head><title>Stadtchronik</title></head><p>{FACT}</p>")
    (corpus / "c.txt").write_text(FACT)  # a short first line is the title
    (corpus / "d.pdf").write_bytes(make_pdf([["Chronik", FACT]]))
    bot = Assistant(settings)
    bot.index()
    titles = {d["source"]: d["title"] for d in bot.documents()}
    assert titles == {
        "a.md": "Die Gründung Lindenaus",
        "b.html": "Stadtchronik",
        "c.txt": FACT,
        "d.pdf": "Chronik",
    }


@pytest.mark.slow
def test_cli_escapes_file_names_that_could_fake_output(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "stadt.txt").write_text(FACT)
    (corpus / "leer\nwarning: all good.txt").write_bytes(b"")
    (corpus / 'sag "hallo".txt').write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "index"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert not any(line.startswith("warning: all good") for line in lines)
    assert "warning: skipped 'leer\\nwarning: all good.txt': no text in file" in out.stderr
    assert "warning: skipped 'sag \"hallo\".txt': no text in file" in out.stderr


def test_stored_chunk_page_at_offsets_inside_it():
    from assistant.store.records import StoredChunk, decode_page_starts, encode_page_starts

    raw = encode_page_starts([(120, 2), (300, 3)])
    assert raw == "120:2,300:3" and decode_page_starts(raw) == ((120, 2), (300, 3))
    assert decode_page_starts("") == () and decode_page_starts(None) == ()
    chunk = StoredChunk("id", "x" * 400, "a.pdf", "v", 50, 450, 1, "de", 0, ((120, 2), (300, 3)))
    assert [chunk.page_at(o) for o in (50, 119, 120, 299, 300, 449)] == [1, 1, 2, 2, 3, 3]
    plain = StoredChunk("id", "x", "a.txt", "v", 0, 1, None, "de", 0)
    assert plain.page_at(0) is None
