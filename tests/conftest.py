"""Shared fixtures: isolated settings, a small indexed corpus, the shipped article."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The tests decide about LLM servers themselves; a developer's key must not leak in.
for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHROMA_HOST", "CHROMA_PORT"):
    os.environ.pop(var, None)

from assistant import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = ROOT / "corpus"
ARTICLE = next(SHIPPED_CORPUS.glob("*.txt"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(tmp: Path, **overrides) -> Settings:
    """Settings that never read the developer's .env and write only below ``tmp``."""
    base = {
        "corpus_dir": tmp / "corpus",
        "index_dir": tmp / "index",
        "answer_mode": "extractive",
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)


@pytest.fixture
def settings_factory(tmp_path):
    def factory(**overrides) -> Settings:
        (tmp_path / "corpus").mkdir(exist_ok=True)
        return make_settings(tmp_path, **overrides)

    return factory


@pytest.fixture(scope="session")
def article_text() -> str:
    return ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def shipped_bot(tmp_path_factory) -> Assistant:
    """The shipped corpus, indexed once per session into a temporary folder."""
    tmp = tmp_path_factory.mktemp("shipped")
    shutil.copytree(SHIPPED_CORPUS, tmp / "corpus")
    bot = Assistant(make_settings(tmp))
    report = bot.index()
    assert report.added == [ARTICLE.name]
    return bot


def pytest_ignore_collect(collection_path, config):
    """With ``-m "not slow"`` (the fast loop), a module marked slow as a whole is not even
    imported: its imports (gradio, a browser driver, servers) cost seconds of collection."""
    if config.getoption("markexpr", "") != "not slow" or collection_path.suffix != ".py":
        return None
    whole = "\npytestmark = pytest.mark.slow"
    if collection_path.name.startswith("test_") and whole in collection_path.read_text("utf-8"):
        return True
    return None


def pytest_collection_modifyitems(items):
    """A test that uses the indexed shipped corpus is slow by definition (the first one
    builds the index), so `-m "not slow"` never pays for it, however the test is marked."""
    for item in items:
        if "shipped_bot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
