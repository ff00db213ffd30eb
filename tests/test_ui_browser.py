"""The chat as a person meets it, in headless Chromium (Debian's) on a desktop (1280×800)
and a phone (390×844): outcomes, sources, the reading view, languages, conversations,
documents. Few tests, each doing a lot: every browser start costs seconds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from assistant import Assistant
from conftest import ARTICLE, SHIPPED_CORPUS, make_settings
from helpers.served import served
from ui.text import TEXT, examples

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="LOUD SKIP: Debian's chromium is not installed and could not be (make test "
    "installs it as root via apt)",
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Gradio's own strings the page shows, per language (footer, drop zone, toasts)
GRADIO = {
    "de": ["Über API verwenden", "Datei hier ablegen", "Hochladen", "Chat leeren"],
    "en": ["Use via API", "Drop File Here", "Click to Upload", "Clear chat", "Warning", "Error"],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
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
    bot = Assistant(make_settings(tmp, max_upload_mb=1.0))
    bot.index()
    with served(bot) as (_, url):
        yield {"url": url, "bot": bot, "corpus": tmp / "corpus"}


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


def open_page(browser, server, locale="de-DE", viewport=DESKTOP):
    context = browser.new_context(locale=locale, viewport=viewport)
    page = context.new_page()
    page.outside = []
    page.on(
        "request",
        lambda r: page.outside.append(r.url) if not r.url.startswith(server["url"]) else None,
    )
    page.goto(server["url"])
    page.locator("#send").wait_for()
    lang = "de" if locale.startswith("de") else "en"
    page.wait_for_function(f"document.documentElement.lang === '{lang}'")
    page.wait_for_function(
        f"document.querySelector('#send').innerText === '{TEXT[lang]['send']}'"
    )
    return page


def ask(page, question: str, turn: int) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    page.locator(f"#sources section[data-turn='{turn}']").wait_for(state="attached", timeout=30_000)


def bubble(page, turn: int):
    return page.locator("#chat .bot-row").nth(turn - 1)


def fragments(lang: str) -> set[str]:
    """Pieces of our strings in ``lang`` that the other language does not use."""
    other = "en" if lang == "de" else "de"
    theirs = " ".join(TEXT[other].values())
    found = set()
    for value in TEXT[lang].values():
        for piece in re.split(r"\{[^}]*\}|[*#„“”:()]", value):
            piece = piece.strip(" .,;–-·…")
            if len(piece) >= 6 and piece not in theirs:
                found.add(piece)
    return found


def assert_only(page, lang: str) -> None:
    """Nothing of the other language shows (our strings and Gradio's own)."""
    other = "en" if lang == "de" else "de"
    text = page.locator("body").inner_text()
    leaked = [s for s in fragments(other) | set(GRADIO[other]) if s in text]
    leaked = [s for s in leaked if not any(s in s2 for s2 in GRADIO[lang])]
    assert leaked == [], (lang, leaked)
    assert all(s not in text for s in examples(other))


@needs_chromium
def test_desktop_outcomes_sources_and_the_reading_view(server, browser):
    page = open_page(browser, server, viewport=DESKTOP)
    page.wait_for_timeout(800)
    assert page.evaluate("window.scrollY") == 0  # no autofocus jump on load
    assert page.locator("#header").bounding_box()["y"] < 100
    ask(page, "Wer ist der CEO des Pakistan Crypto Council?", 1)
    ask(page, "When was Marie Curie born?", 2)
    ask(page, "Who is the US ambassador mentioned?", 3)
    ask(page, "Wie hoch ist der Eiffelturm?", 4)
    labels = [bubble(page, k).locator(".outcome").inner_text() for k in (1, 2, 3, 4)]
    assert labels == [
        "Beantwortet",
        "Beantwortet",
        "Nicht direkt beantwortet – die nächstliegenden Stellen",
        "Nicht in den Dokumenten",
    ]
    for k in (1, 2, 3, 4):
        assert re.search(r"Sicherheit: (hoch|mittel|gering)", bubble(page, k).inner_text())
        assert "**" not in bubble(page, k).inner_text()
    assert bubble(page, 2).locator("strong").first.inner_text() == "1867"
    # [1] of the first answer: its passage in the Sources panel, then the reading view
    link = bubble(page, 1).locator("a[href='#src-1-1']").first
    link.click()
    passage = page.locator("#src-1-1")
    passage.locator("mark").wait_for(state="visible", timeout=5_000)
    assert "Bilal bin Saqib" in passage.locator("mark").inner_text()
    assert "000_" not in passage.locator(".title").inner_text()  # a title, not the file name
    with page.context.expect_page() as opened:
        passage.locator("a.open").click()
    view = opened.value
    view.wait_for_load_state()
    mark = view.locator("mark#passage")
    assert "Bilal bin Saqib" in mark.inner_text()
    view.wait_for_function("window.scrollY > 0")
    box = mark.bounding_box()
    assert 0 <= box["y"] < DESKTOP["height"]
    assert view.locator("#view-title").inner_text().startswith("Die globale Technologie")
    text = " ".join(ARTICLE.read_text(encoding="utf-8").split())
    assert " ".join(mark.inner_text().split()) in text
    view.close()
    assert page.outside == []  # no fonts, analytics or anything else from the internet
    page.context.close()


@needs_chromium
@pytest.mark.parametrize("locale, lang", [("en-US", "en"), ("de-DE", "de")])
def test_one_language_everywhere_after_a_bad_upload(server, browser, locale, lang):
    """The browser says one language, the switch picks the other: after an example
    question, a too-long question and a refused upload nothing of the first shows."""
    other = "de" if lang == "en" else "en"
    page = open_page(browser, server, locale=locale)
    page.locator("#lang").get_by_text("Deutsch" if other == "de" else "English").click()
    page.wait_for_function(f"document.documentElement.lang === '{other}'")
    page.locator("#examples").get_by_text(examples(other)[0]).click()
    page.locator("#sources section[data-turn='1'] mark").wait_for(state="attached", timeout=30_000)
    long_question = "Warum " + "sehr " * 500 + "?"
    page.locator("#question textarea").fill(long_question)
    page.locator("#send").click()
    toast = page.locator(".toast-body").first
    toast.wait_for(timeout=10_000)
    assert TEXT[other]["toast_warning"] in toast.inner_text()
    assert page.locator("#question textarea").input_value() == long_question  # kept
    page.get_by_role("tab", name=TEXT[other]["tab_docs"]).click()
    page.locator("#upload input[type=file]").set_input_files(
        files=[{"name": "programm.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
    )
    status = page.locator("#upload-status")
    status.get_by_text("programm.exe").wait_for(timeout=30_000)
    assert status.inner_text().count("programm.exe") == 1
    assert TEXT[other]["reason_unsupported"].split("(")[0] in status.inner_text()
    page.get_by_role("tab", name="Chat").click()
    page.wait_for_timeout(500)
    assert_only(page, other)
    page.get_by_role("tab", name=TEXT[other]["tab_docs"]).click()
    assert_only(page, other)
    page.reload()  # the choice is remembered
    page.wait_for_function(f"document.documentElement.lang === '{other}'")
    page.context.close()
