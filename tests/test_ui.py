"""The Gradio app as a person and a program meet it: a real server on a free local port,
driven by gradio_client and by headless Chromium."""

import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from assistant import Assistant
from conftest import ARTICLE, SHIPPED_CORPUS, make_settings
from helpers.pdf import make_pdf
from helpers.served import served
from ui.app import build_app

pytestmark = pytest.mark.slow

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
    with served(bot) as (demo, url):
        yield {"url": url, "bot": bot, "corpus": tmp / "corpus", "demo": demo}


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
    # (the refitted answerer hedges on "Who is the US ambassador mentioned?")
    answer = client.predict("With which US ambassador were plans discussed?", api_name="/chat")
    assert answer.startswith("According to") and "[1]" in answer
    assert "Natalie Baker" in quotes(answer)[1]


def test_twenty_parallel_chats_are_all_answered(server):
    """Load: 20 browser sessions ask at once; every one gets its own, checked answer."""
    from concurrent.futures import ThreadPoolExecutor

    article = ARTICLE.read_text(encoding="utf-8")
    questions = [
        "Wer ist der CEO des Pakistan Crypto Council?",
        "Who is the CEO of the Pakistan Crypto Council?",
        "Wann wurde Marie Curie geboren?",
        "Wer wurde in Ulm geboren?",
    ] * 5

    def one(question: str) -> tuple[str, str]:
        return question, Client(server["url"], verbose=False).predict(question, api_name="/chat")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, questions))
    assert len(results) == 20
    for question, answer in results:
        cited = quotes(answer)
        assert cited, (question, answer)
        if "CEO" in question:
            assert any(
                "Bilal bin Saqib" in q and " ".join(q.split()) in " ".join(article.split())
                for q in cited.values()
            )
        elif "Curie" in question:
            assert any("1867" in q for q in cited.values())
        else:
            assert any("Einstein" in q for q in cited.values())


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


def test_ask_endpoint_exposes_outcome_and_confidence(client):
    data = client.predict("Wer ist der CEO des Pakistan Crypto Council?", api_name="/ask")
    assert data["outcome"] == "answered" and data["declined"] is False
    assert 0 <= data["confidence"] <= 1 and "Bilal bin Saqib" in data["citations"][0]["quote"]
    data = client.predict("What is the boiling point of water at sea level?", api_name="/ask")
    assert data["declined"] is True and data["outcome"] in ("hedged", "declined")
    # /chat keeps returning plain text for existing programs
    text = client.predict("Mit welcher US-Botschafterin sprach er?", api_name="/chat")
    assert isinstance(text, str) and "Natalie Baker" in text


def test_documents_are_served_read_only_and_only_when_indexed(server):
    url = server["url"] + "document/"
    with urllib.request.urlopen(url + ARTICLE.name) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        assert r.read().decode() == ARTICLE.read_text(encoding="utf-8")
    with urllib.request.urlopen(url + "logo.md") as r:  # markdown/HTML never runs as a page
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert r.headers["Content-Type"].startswith("text/plain")
    (server["corpus"] / "nicht-indexiert.txt").write_text("noch nicht im Index")
    (server["corpus"].parent / "geheim.txt").write_text("geheim")
    for name in ("nicht-indexiert.txt", "..%2Fgeheim.txt", "%2Fetc%2Fpasswd", "../geheim.txt"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + name)
        assert err.value.code == 404, name
    request = urllib.request.Request(url + ARTICLE.name, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 405
    (server["corpus"] / "nicht-indexiert.txt").unlink()


def test_remove_endpoint(server, client):
    server["bot"].add_document("weg.txt", b"Der Leuchtturm von Quarzhafen ist rot.")
    assert client.predict("weg.txt", api_name="/remove") == "removed weg.txt"
    assert not (server["corpus"] / "weg.txt").exists()
    with pytest.raises(Exception, match="not an indexed document"):
        client.predict("../conftest.py", api_name="/remove")


def test_upload_becomes_answerable_at_once(server, client, tmp_path):
    pdf = tmp_path / "protokoll.pdf"
    pdf.write_bytes(
        make_pdf(
            [["Protokoll der Sitzung."], ["Das nächste Treffen findet am 14. Mai in Lahore statt."]]
        )
    )
    status, table = client.predict([handle_file(str(pdf))], api_name="/upload")
    assert "Indexed: protokoll.pdf" in status
    assert "protokoll.pdf" in [row[0] for row in table["data"]]
    answer = client.predict("Wo findet das nächste Treffen statt?", api_name="/chat")
    assert "Lahore" in quotes(answer)[1]
    assert (server["corpus"] / "protokoll.pdf").exists()
    with urllib.request.urlopen(server["url"] + "document/protokoll.pdf") as r:  # the PDF opens
        assert r.headers["Content-Type"] == "application/pdf"
        assert r.read() == pdf.read_bytes()


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
    assert f"Rejected: {name}" in status and reason in status
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
    assert "Indexed: lang.txt" in upload.result(timeout=240)[0]


needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="LOUD SKIP: Debian's chromium is not "
    "installed and could not be (make test installs it as root via apt)",
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

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
        yield browser
        browser.close()


def open_page(browser, server, locale="de-DE", **viewport):
    context = browser.new_context(
        locale=locale, viewport=viewport or {"width": 1280, "height": 1000}
    )
    page = context.new_page()
    page.outside = []
    page.on(
        "request",
        lambda r: page.outside.append(r.url) if not r.url.startswith(server["url"]) else None,
    )
    page.goto(server["url"])
    page.locator("#send").wait_for()
    return page


def ask(page, question: str, turn: int) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    page.locator(f"#sources section[data-turn='{turn}']").wait_for(state="attached", timeout=30_000)


@needs_chromium
def test_browser_click_on_a_citation_lands_on_the_passage(server, browser):
    article = " ".join(ARTICLE.read_text(encoding="utf-8").split())
    page = open_page(browser, server)
    ask(page, "Wer ist der CEO des Pakistan Crypto Council?", 1)
    ask(page, "Wer wurde in Ulm geboren?", 2)
    # the latest answer's sources show, the first passage open, the second closed
    assert page.locator("#sources section[data-turn='2']").is_visible()
    assert not page.locator("#sources section[data-turn='1']").is_visible()
    page.mouse.wheel(0, 2000)
    link = page.locator("#chat .bot-row").first.locator("a[href^='#src-1-']").last
    n = link.inner_text().strip("[]")
    link.click()
    passage = page.locator(f"#src-1-{n}")
    passage.locator("mark").wait_for(state="visible", timeout=5_000)
    assert passage.evaluate("d => d.open")
    box = passage.bounding_box()
    assert 0 <= box["y"] < 1000  # scrolled into view
    quoted = passage.locator("mark").inner_text()
    assert len(quoted) > 40 and quoted in article
    assert page.url == server["url"]  # the link did not navigate
    # offsets and scores are developer details behind a toggle
    dev = passage.locator(".dev")
    assert not dev.is_visible()
    page.locator("#details input").check()
    assert dev.is_visible() and "Zeichen" in dev.inner_text()
    # the document opens through the app
    href = passage.locator("a.open").get_attribute("href")
    assert href == f"document/{ARTICLE.name}"
    # a document with markdown images and HTML is shown literally, never fetched
    ask(page, "Was zeigt das Logo von Quarzwerk?", 3)
    assert "![logo]" in page.locator("#sources").inner_text()
    assert page.locator("img[src*='127.0.0.1:9']").count() == 0
    # a declined answer is marked as such
    ask(page, "Wie hoch ist der Eiffelturm?", 4)
    last = page.locator("#chat .bot-row").last
    assert "nicht" in last.locator(".outcome").inner_text()
    assert page.outside == []  # no fonts, analytics or anything else from the internet
    page.context.close()


@needs_chromium
def test_browser_conversation_survives_a_reload_and_can_be_deleted(server, browser):
    page = open_page(browser, server)
    ask(page, "Wer ist der CEO des Pakistan Crypto Council?", 1)
    page.reload()
    page.locator("#chat a[href='#src-1-1']").wait_for(timeout=10_000)
    assert "Bilal bin Saqib" in page.locator("#chat").inner_text()
    assert page.locator("#sources section[data-turn='1']").is_visible()
    conversations = page.locator("#conversations")
    assert "Wer ist der CEO des Pakistan Crypto Council?" in conversations.inner_text()
    # a follow-up in the reopened conversation still knows what came before
    ask(page, "Mit welcher US-Botschafterin sprach er?", 2)
    assert "Natalie Baker" in page.locator("#chat").inner_text()
    # a new conversation, then back to the saved one from the list
    page.locator("#new").click()
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('Bilal')")
    conversations.get_by_text("Wer ist der CEO des Pakistan Crypto Council?").click()
    page.get_by_text("Natalie Baker").first.wait_for(timeout=10_000)
    page.locator("#delete-conversation").click()
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('Bilal')")
    page.reload()
    page.locator("#send").wait_for()
    page.wait_for_timeout(1500)
    assert "Bilal" not in page.locator("#chat").inner_text()
    assert "Pakistan" not in page.locator("#conversations").inner_text()
    page.context.close()


@needs_chromium
def test_browser_examples_send_and_bad_input_is_kept(server, browser):
    page = open_page(browser, server, locale="en-US")
    page.locator("#examples").get_by_text("Which company did Bilal bin Saqib partner with?").click()
    page.locator("#sources section[data-turn='1'] mark").wait_for(state="attached", timeout=30_000)
    assert "Which company did Bilal" in page.locator("#chat .user-row").first.inner_text()
    answer = page.locator("#chat .bot-row").first.inner_text()
    # an empty submit adds nothing
    page.locator("#question textarea").fill("   ")
    page.locator("#send").click()
    page.wait_for_timeout(1500)
    assert page.locator("#chat .user-row").count() == 1
    # a too-long question stays in the box, with the allowed length
    long_question = "Warum " + "sehr " * 500 + "?"
    page.locator("#question textarea").fill(long_question)
    page.locator("#send").click()
    page.get_by_text("at most 2000 allowed").wait_for(timeout=10_000)
    assert page.locator("#question textarea").input_value() == long_question
    assert page.locator("#chat .user-row").count() == 1
    # retry asks the last question again and replaces its answer
    page.locator("#chat .bot-row").last.hover()
    page.locator("#chat button[aria-label*='etry'], #chat button[title*='etry']").last.click()
    page.wait_for_timeout(3000)
    assert page.locator("#chat .user-row").count() == 1
    assert page.locator("#chat .bot-row").first.inner_text() == answer
    page.context.close()


@needs_chromium
def test_browser_language_follows_the_browser_and_the_switch(server, browser):
    page = open_page(browser, server, locale="de-DE")
    page.wait_for_function("document.documentElement.lang === 'de'")
    page.wait_for_function("document.querySelector('#send').innerText === 'Senden'")
    assert "Modus:" in page.locator("#mode").inner_text()
    page.get_by_role("tab", name="Dokumente").click()
    assert "Dokument" in page.locator("#docs").inner_text()
    page.locator("#lang").get_by_text("English").click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.get_by_role("tab", name="Documents").wait_for()
    page.wait_for_function("document.querySelector('#docs').innerText.includes('Chunks')")
    assert "Chunks" in page.locator("#docs").inner_text()
    page.get_by_role("tab", name="Chat").click()
    assert page.locator("#send").inner_text() == "Send"
    assert "Mode:" in page.locator("#mode").inner_text()
    page.reload()  # the choice is remembered
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.locator("#send").wait_for()
    page.wait_for_function("document.querySelector('#send').innerText === 'Send'")
    page.context.close()
    page = open_page(browser, server, locale="en-GB")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_timeout(1000)
    assert "Senden" not in page.content() and page.locator("#send").inner_text() == "Send"
    page.context.close()


@needs_chromium
def test_browser_delete_a_document_and_it_is_gone_from_answers(server, browser):
    server["bot"].add_document(
        "zaubertrank.txt",
        "Der Zaubertrank des Druiden Miraculix wird aus Mistelzweigen gebraut. Er verleiht "
        "den Galliern übermenschliche Kräfte.".encode(),
    )
    page = open_page(browser, server)
    ask(page, "Woraus wird der Zaubertrank gebraut?", 1)
    assert "zaubertrank.txt" in page.locator("#sources").inner_text()
    page.get_by_role("tab", name="Dokumente").click()
    table = page.locator("#docs")
    row = table.locator("[role=row]").filter(has_text="zaubertrank.txt")
    row.get_by_text("Löschen").click()
    confirm = page.locator("#confirm")
    confirm.wait_for()
    assert "zaubertrank.txt" in confirm.inner_text()
    assert (server["corpus"] / "zaubertrank.txt").exists()  # nothing happens unconfirmed
    page.locator("#yes").click()
    page.locator("#upload-status").get_by_text("Gelöscht").wait_for(timeout=30_000)
    page.wait_for_function("!document.querySelector('#docs').innerText.includes('zaubertrank')")
    assert not (server["corpus"] / "zaubertrank.txt").exists()
    page.get_by_role("tab", name="Chat").click()
    page.locator("#new").click()
    # the new conversation is in place before the question: otherwise its reset can land
    # after the answer and wipe it (seen once in CI)
    page.locator("#sources section[data-turn]").first.wait_for(state="detached")
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('Mistelzweig')")
    ask(page, "Woraus wird der Zaubertrank gebraut?", 1)
    assert "zaubertrank.txt" not in page.locator("#sources").inner_text()
    assert "Mistelzweig" not in page.locator("#chat").inner_text()
    page.context.close()


@needs_chromium
def test_browser_phone_sources_open_and_documents_fit(server, browser, tmp_path):
    page = open_page(browser, server, locale="de-DE", width=390, height=844)
    ask(page, "Wer ist der CEO des Pakistan Crypto Council?", 1)
    passage = page.locator("#src-1-1")
    assert passage.evaluate("d => d.open")  # the first source opens by default
    passage.scroll_into_view_if_needed()
    shot = tmp_path / "phone.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # no sideways scrolling, and the sources are not a scroll area inside the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    sources = page.locator("#sources")
    assert sources.evaluate("e => e.scrollHeight <= e.clientHeight + 1")
    assert sources.evaluate(
        "e => { for (let n = e; n && n !== document.body; n = n.parentElement) {"
        " const s = getComputedStyle(n); if (/(auto|scroll)/.test(s.overflowY)"
        " && n.scrollHeight > n.clientHeight + 1) return false; } return true; }"
    )
    # the documents table shows every column within the screen
    page.get_by_role("tab", name="Dokumente").click()
    cells = page.locator("#docs [role=columnheader]")
    cells.first.wait_for()
    for i in range(cells.count()):
        box = cells.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 391, i
    page.context.close()


def test_refused_question_leaves_the_conversation_and_returns_to_the_box(tmp_path):
    """No index yet: the question is refused, the chat stays as it was, the box keeps it."""
    (tmp_path / "corpus").mkdir()
    demo = build_app(Assistant(make_settings(tmp_path)))
    (respond,) = [f.fn for f in demo.fns.values() if f.name == "respond"][:1]
    conversation = {"id": "c1", "title": "", "turns": [], "updated": 0}
    with pytest.warns(UserWarning, match="Frage nicht beantwortet: there is no index yet"):
        yields = list(respond("Wer ist der CEO?", conversation, [], "de"))
    chat, box, *rest = yields[-1]
    assert chat == [] and box == "Wer ist der CEO?"
    assert all(not isinstance(x, dict) or "turns" not in x for x in rest)  # nothing saved


def test_replacing_a_document_is_an_explicit_choice(server, client, tmp_path):
    path = tmp_path / "ersetzen.txt"
    path.write_text("Die Fähre nach Quarzhafen fährt um acht Uhr ab.", encoding="utf-8")
    status, _ = client.predict([handle_file(str(path))], False, api_name="/upload")
    assert "Indexed: ersetzen.txt" in status
    path.write_text("Die Fähre nach Quarzhafen fährt um neun Uhr ab.", encoding="utf-8")
    status, _ = client.predict([handle_file(str(path))], False, api_name="/upload")
    assert "Rejected: ersetzen.txt" in status
    assert "acht" in (server["corpus"] / "ersetzen.txt").read_text(encoding="utf-8")
    status, _ = client.predict([handle_file(str(path))], True, api_name="/upload")
    assert "Replaced and indexed: ersetzen.txt" in status
    assert "neun" in (server["corpus"] / "ersetzen.txt").read_text(encoding="utf-8")
    server["bot"].remove_document("ersetzen.txt")
