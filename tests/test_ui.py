"""The Gradio app as a person and a program meet it: a real server on a free local port,
driven by gradio_client and by headless Chromium."""

import os
import re
import shutil
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from assistant import Assistant
from conftest import ARTICLE, SHIPPED_CORPUS, free_port, make_settings
from helpers.pdf import make_pdf
from ui.app import build_app, launch_options

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TRAP = "http://127.0.0.1:9"  # nothing listens there; a request to it means markdown leaked
QUOTE = re.compile(r"\[(\d+)\][^„“]*[„“]([^“”]+)[“”]")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    shutil.copytree(SHIPPED_CORPUS, tmp / "corpus")
    (tmp / "corpus" / "curie.txt").write_text(
        "Marie Curie wurde 1867 in Warschau geboren. Sie erhielt zwei Nobelpreise für ihre "
        "Forschung zur Radioaktivität.",
        encoding="utf-8",
    )
    (tmp / "corpus" / "einstein.txt").write_text(
        "Albert Einstein wurde 1879 in Ulm geboren. Er entwickelte die Relativitätstheorie "
        "und erhielt 1921 den Nobelpreis für Physik.",
        encoding="utf-8",
    )
    (tmp / "corpus" / "logo.md").write_text(
        "Das Logo der Firma Quarzwerk zeigt einen blauen Kristall. "
        f'![logo]({TRAP}/logo.png) <img src="{TRAP}/pixel.png"> [klick]({TRAP}/x)',
        encoding="utf-8",
    )
    bot = Assistant(make_settings(tmp, max_upload_mb=1.0))
    bot.index()
    demo = build_app(bot)
    demo.queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(bot),
    )
    yield {"url": f"http://127.0.0.1:{port}/", "bot": bot, "corpus": tmp / "corpus", "demo": demo}
    demo.close()


@pytest.fixture
def client(server):
    return Client(server["url"], verbose=False)


def quotes(answer: str) -> dict[int, str]:
    return {int(n): q for n, q in QUOTE.findall(answer)}


def test_binds_to_loopback(server):
    assert server["demo"].server_name == "127.0.0.1"


def test_german_question_answered_with_real_citations(client):
    answer = client.predict("Wer ist der CEO des Pakistan Crypto Council?", api_name="/chat")
    cited = quotes(answer)
    article = ARTICLE.read_text(encoding="utf-8")
    assert 1 in cited and all(q in article for q in cited.values())
    assert any("Bilal bin Saqib" in q for q in cited.values())


def test_english_question_answered_with_real_citations(client):
    answer = client.predict("Who is the US ambassador mentioned?", api_name="/chat")
    assert answer.startswith("According to [1]")
    assert "Natalie Baker" in quotes(answer)[1]


def test_follow_ups_use_each_sessions_own_conversation(server):
    alice, bob = Client(server["url"], verbose=False), Client(server["url"], verbose=False)
    assert "Einstein" in alice.predict("Wer wurde in Ulm geboren?", api_name="/chat")
    assert "Curie" in bob.predict("Wer wurde in Warschau geboren?", api_name="/chat")
    jobs = [
        alice.submit("Wann wurde er geboren?", api_name="/chat"),
        bob.submit("Wann wurde sie geboren?", api_name="/chat"),
    ]
    alice_answer, bob_answer = (job.result(timeout=60) for job in jobs)
    assert "1879" in quotes(alice_answer)[1] and "1867" in quotes(bob_answer)[1]


def test_upload_becomes_answerable_at_once(server, client, tmp_path):
    pdf = tmp_path / "protokoll.pdf"
    pdf.write_bytes(
        make_pdf(
            [["Protokoll der Sitzung."], ["Das nächste Treffen findet am 14. Mai in Lahore statt."]]
        )
    )
    status, table = client.predict([handle_file(str(pdf))], api_name="/upload")
    assert "indexed protokoll.pdf" in status
    assert "protokoll.pdf" in [row[0] for row in table["data"]]
    answer = client.predict("Wo findet das nächste Treffen statt?", api_name="/chat")
    assert "Lahore" in quotes(answer)[1]
    assert (server["corpus"] / "protokoll.pdf").exists()


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("programm.exe", b"MZ\x90\x00binary", "unsupported file type"),
        ("bild.txt", bytes(range(256)) * 8, "binary"),
        ("kaputt.pdf", b"%PDF-1.4 broken", "broken PDF"),
        ("riesig.txt", b"Wort " * 300_000, "too large"),
    ],
)
def test_rejected_upload_says_why_and_changes_nothing(server, client, tmp_path, name, data, reason):
    before = sorted(os.listdir(server["corpus"]))
    path = tmp_path / name
    path.write_bytes(data)
    status, _ = client.predict([handle_file(str(path))], api_name="/upload")
    assert f"rejected {name}" in status and reason in status
    assert sorted(os.listdir(server["corpus"])) == before


def test_upload_names_cannot_escape_the_corpus(server, tmp_path):
    evil = "../../ausbruch.txt"
    report = server["bot"].add_document(evil, "Harmloser Inhalt über Lahore.".encode())
    assert report.added == ["ausbruch.txt"]
    assert (server["corpus"] / "ausbruch.txt").exists()
    assert not (server["corpus"].parent / "ausbruch.txt").exists()
    assert not Path("/ausbruch.txt").exists()


def test_indexing_does_not_freeze_other_chats(server, client, tmp_path):
    big = tmp_path / "lang.txt"
    big.write_text(
        " ".join(f"Absatz {i}: Die Stadt Nummer {i} hat {i * 7} Einwohner." for i in range(800))
    )
    upload = client.submit([handle_file(str(big))], api_name="/upload")
    other = Client(server["url"], verbose=False)
    answer = other.predict("Wer ist der CEO des Pakistan Crypto Council?", api_name="/chat")
    assert "Bilal bin Saqib" in answer
    assert not upload.done()  # the chat was answered while indexing still ran
    assert "indexed lang.txt" in upload.result(timeout=240)[0]


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="LOUD SKIP: Debian's chromium is not "
    "installed and could not be (make test installs it as root via apt)",
)
def test_browser_question_streams_and_sources_open(server, tmp_path):
    from playwright.sync_api import sync_playwright

    article = ARTICLE.read_text(encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        outside = []
        page.on(
            "request",
            lambda r: outside.append(r.url) if not r.url.startswith(server["url"]) else None,
        )
        page.goto(server["url"])
        page.locator("#question textarea").fill("Wer ist der CEO des Pakistan Crypto Council?")
        page.locator("#send").click()
        sources = page.get_by_text("Quellen / Sources").first
        sources.wait_for(timeout=30_000)
        assert "Laut [1]" in page.locator("#chat").inner_text()
        sources.click()
        mark = page.locator("#chat mark").first
        mark.wait_for(timeout=10_000)
        quoted = mark.inner_text()
        assert quoted in " ".join(article.split()) and len(quoted) > 40
        # a document with markdown images and HTML is shown literally, never fetched
        page.locator("#question textarea").fill("Was zeigt das Logo der Firma Quarzwerk?")
        page.locator("#send").click()
        page.get_by_text("Quellen / Sources").nth(1).wait_for(timeout=30_000)
        page.get_by_text("Quellen / Sources").nth(1).click()
        page.wait_for_timeout(500)
        assert "![logo]" in page.locator("#chat").inner_text()
        assert page.locator("#chat img[src*='127.0.0.1:9']").count() == 0
        shot = tmp_path / "chat.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        page.locator("#new").click()
        page.wait_for_timeout(300)
        assert "Laut [1]" not in page.locator("#chat").inner_text()
        browser.close()
    assert outside == []  # no fonts, analytics or anything else from the internet
