"""Regenerate the README screenshots: `make screenshots` (needs Debian's chromium).

Starts the app on the shipped corpus in a temporary folder and, in headless Chromium,
asks a question with a German and with an English browser, on a desktop and on a
390 px phone screen; the first source opens by itself. Saves full-page PNGs.
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
# (file, UI language, viewport, question): desktop and phone, German and English UI
SHOTS = [
    ("chat-de.png", "de-DE", (1280, 900), "Wer ist der CEO des Pakistan Crypto Council?"),
    ("chat-en.png", "en-US", (1280, 900), "With which US ambassador were plans discussed?"),
    ("phone-de.png", "de-DE", (390, 844), "Mit welcher US-Botschafterin sprach er?"),
    (
        "phone-en.png",
        "en-US",
        (390, 844),
        "Which country views the cooperation with mixed feelings?",
    ),
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
        for name, locale, (width, height), question in SHOTS:
            page = browser.new_context(
                locale=locale, viewport={"width": width, "height": height}
            ).new_page()
            page.goto(url)
            page.locator("#send").wait_for()
            page.wait_for_timeout(1000)
            page.locator("#question textarea").fill(question)
            page.locator("#send").click()
            page.locator("#sources details[open] mark").first.wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            if width < 600:  # phone: the answer, then the opened source below it
                page.locator("#chat").scroll_into_view_if_needed()
            page.screenshot(path=str(ROOT / "docs" / name), full_page=True)
            print("wrote", ROOT / "docs" / name)
            page.context.close()
        browser.close()
    demo.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
