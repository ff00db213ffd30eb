"""A real Gradio server of the app on 127.0.0.1, for the tests that drive it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conftest import free_port
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
