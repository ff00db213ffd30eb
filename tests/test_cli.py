"""The `assistant` command as a user runs it: a real subprocess, real exit codes."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ARTICLE, SHIPPED_CORPUS


def run(*args, cwd, env_extra=None, timeout=180):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder laid out like the repo: corpus/ with the article, index/ built by the CLI."""
    tmp = tmp_path_factory.mktemp("cli")
    shutil.copytree(SHIPPED_CORPUS, tmp / "corpus")
    (tmp / ".env").write_text("ASSISTANT_ANSWER_MODE=extractive\n")
    done = run("index", cwd=tmp)
    assert done.returncode == 0, done.stderr
    assert "1 added" in done.stderr and "embedding:" in done.stderr  # progress is shown
    return tmp


def test_ask_json_is_one_object_with_checkable_citations(workdir):
    out = run("ask", "Wer ist der CEO des Pakistan Crypto Council?", "--json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # exactly one JSON document on stdout
    assert set(data) == {
        "answer",
        "language",
        "mode",
        "outcome",
        "declined",
        "confidence",
        "notice",
        "citations",
    }
    assert data["language"] == "de" and data["mode"] == "extractive"
    text = ARTICLE.read_text(encoding="utf-8")
    assert data["citations"]
    for c in data["citations"]:
        assert c["source"] == ARTICLE.name
        assert text[c["start"] : c["end"]] == c["quote"]
    assert any("Bilal bin Saqib" in c["quote"] for c in data["citations"])


def test_ask_english_and_decline(workdir):
    out = run("ask", "Who is the CEO of the Pakistan Crypto Council?", "--json", cwd=workdir)
    data = json.loads(out.stdout)
    assert data["language"] == "en" and "Bilal bin Saqib" in data["answer"]
    assert data["outcome"] == "answered" and data["declined"] is False
    out = run("ask", "What is the boiling point of water?", "--json", cwd=workdir)
    data = json.loads(out.stdout)
    assert data["citations"] == [] and data["answer"].startswith("The documents do not say")
    assert data["declined"] is True and data["outcome"] == "declined"


def test_reindex_with_nothing_changed(workdir):
    out = run("index", cwd=workdir)
    assert out.returncode == 0 and "0 added, 0 updated, 0 removed, 1 unchanged" in out.stderr


@pytest.mark.parametrize(
    "question, message",
    [("", "the question is empty"), ("   ", "the question is empty"), ("x" * 5000, "too long")],
)
def test_bad_question_exits_nonzero_with_one_line(workdir, question, message):
    out = run("ask", question, cwd=workdir)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in out.stderr


def test_missing_corpus_is_one_readable_line(tmp_path):
    out = run(
        "index", "--corpus", str(tmp_path / "fehlt"), "--index", str(tmp_path / "ix"), cwd=tmp_path
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert (
        out.stderr.strip()
        == f"error: corpus folder {tmp_path / 'fehlt'} does not exist; create it and add documents"
    )


def test_explicit_folders_and_first_ask_indexes(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "notiz.md").write_text("# Notiz\n\nDer Schlüssel liegt unter der blauen Fußmatte.\n")
    out = run(
        "ask",
        "Wo liegt der Schlüssel?",
        "--corpus",
        str(corpus),
        "--index",
        str(tmp_path / "ix"),
        "--json",
        "--mode",
        "extractive",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (
        data["citations"][0]["source"] == "notiz.md"
        and "blauen Fußmatte" in data["citations"][0]["quote"]
    )


def test_chat_in_the_terminal_with_a_follow_up(workdir):
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "chat"],
        cwd=workdir,
        text=True,
        capture_output=True,
        input="Wer ist der CEO des Pakistan Crypto Council?\nMit welcher US-Botschafterin sprach er?\n\n",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Bilal bin Saqib" in proc.stdout and "Natalie Baker" in proc.stdout
    assert "offline extractive" in proc.stdout
