"""Regenerate the README screenshots: `make screenshots` (needs Debian's chromium).

Starts the app on the shipped corpus in a temporary folder and, in headless Chromium,
asks questions with a German and with an English browser, on a 1280×800 desktop (the
conversations' side panel open, an answer and a hedge with their outcome labels, the
cited passage in the Sources panel) and on a 390×844 phone (the sources under the
answer). Saves the screen as the user sees it.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from pathlib import Path

from assistant import Assistant
from assistant.settings import Settings
from ui.app import build_app, launch_options

ROOT = Path(__file__).resolve().parent.parent
# (file, UI language, viewport, questions): desktop and phone, German and English UI
SHOTS = [
    (
        "chat-de.png",
        "de-DE",
        (1280, 800),
        ["Wer ist der CEO des Pakistan Crypto Council?", "Wie hoch ist der Eiffelturm?"],
    ),
    (
        "chat-en.png",
        "en-US",
        (1280, 800),
        ["Who is the CEO of the Pakistan Crypto Council?", "Who is the US ambassador mentioned?"],
    ),
    ("phone-de.png", "de-DE", (390, 844), ["Mit welcher US-Botschafterin sprach er?"]),
    ("phone-en.png", "en-US", (390, 844), ["Which company did Bilal bin Saqib partner with?"]),
]


def main() -> int:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(ROOT / "corpus", tmp / "corpus")
    bot = Assistant(
        Settings(
            _env_file=None,
            corpus_dir=tmp / "corpus",
            index_dir=tmp / "index",
            answer_mode="extractive",
        )
    )
    bot.index()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app(bot)
    demo.queue()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(bot),
    )
    url = f"http://127.0.0.1:{port}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
            ],
        )
        for name, locale, (width, height), questions in SHOTS:
            page = browser.new_context(
                locale=locale, viewport={"width": width, "height": height}
            ).new_page()
            page.goto(url)
            page.locator("#send").wait_for()
            page.wait_for_timeout(1000)
            for turn, question in enumerate(questions, 1):
                page.locator("#question textarea").fill(question)
                page.locator("#send").click()
                done = f"#sources section[data-turn='{turn}']"
                page.locator(done).wait_for(state="attached", timeout=60_000)
            page.wait_for_timeout(800)
            if width >= 1000:  # the first answer's passage, as a click on [1] shows it
                page.locator("#chat a[href='#src-1-1']").first.click()
                page.wait_for_timeout(300)
            # the last answer's start with its label (on a phone, the source under it)
            page.locator("#chat .bot-row").last.evaluate("e => e.scrollIntoView()")
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / name))
            print("wrote", ROOT / "docs" / name)
            page.context.close()
        browser.close()
    demo.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
