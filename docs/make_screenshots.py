"""Regenerate the README screenshots: `make screenshots` (needs Debian's chromium).

Starts the app on the shipped corpus in a temporary folder, asks one German and one
English question in headless Chromium, opens the sources and saves full-page PNGs.
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
QUESTIONS = {
    "chat-de.png": "Wer ist der CEO des Pakistan Crypto Council?",
    "chat-en.png": "Who is the US ambassador mentioned in the article?",
}


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
        for name, question in QUESTIONS.items():
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(url)
            page.locator("#question textarea").fill(question)
            page.locator("#send").click()
            sources = page.get_by_text("Quellen / Sources").first
            sources.wait_for(timeout=30_000)
            sources.click()
            page.locator("#chat mark").first.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(ROOT / "docs" / name), full_page=True)
            print("wrote", ROOT / "docs" / name)
        browser.close()
    demo.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
