"""A real Gradio server of the app on 127.0.0.1, for the tests that drive it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import SHIPPED_CORPUS, free_port
from ui.app import build_app, launch_options


@contextmanager
def served(bot, gate=None, concurrency: int = 4) -> Iterator[tuple[object, str]]:
    """(the app, its URL) while the block runs; closed afterwards."""
    demo = build_app(bot, gate)
    demo.queue(default_concurrency_limit=concurrency)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(bot, gate),
    )
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


# nothing listens there; a request to it means markdown in a document leaked into the page
TRAP = "http://127.0.0.1:9"


def ui_corpus(folder: Path) -> Path:
    """The corpus the UI tests serve: the shipped article, two short biographies and a
    markdown file whose images and links point at TRAP."""
    shutil.copytree(SHIPPED_CORPUS, folder)
    (folder / "curie.txt").write_text(
        "Marie Curie wurde 1867 in Warschau geboren. Sie erhielt zwei Nobelpreise für ihre "
        "Forschung zur Radioaktivität.",
        encoding="utf-8",
    )
    (folder / "einstein.txt").write_text(
        "Albert Einstein wurde 1879 in Ulm geboren. Er entwickelte die Relativitätstheorie "
        "und erhielt 1921 den Nobelpreis für Physik.",
        encoding="utf-8",
    )
    (folder / "logo.md").write_text(
        "Das Logo der Firma Quarzwerk zeigt einen blauen Kristall. "
        f'![logo]({TRAP}/logo.png) <img src="{TRAP}/pixel.png"> [klick]({TRAP}/x)',
        encoding="utf-8",
    )
    return folder
