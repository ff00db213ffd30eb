"""The `assistant` command as a user runs it: a real subprocess, real exit codes."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ARTICLE, SHIPPED_CORPUS
from helpers.cli import run_cli

pytestmark = pytest.mark.slow


def run(*args, cwd, env_extra=None, timeout=180):
    return run_cli(*args, cwd=cwd, env_extra=env_extra, timeout=timeout)


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
        "scope",
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
    out = run("ask", "How many moons does Jupiter have?", "--json", cwd=workdir)
    data = json.loads(out.stdout)
    assert data["citations"] == [] and data["answer"].startswith("The documents do not say")
    assert data["declined"] is True and data["outcome"] == "declined"
    assert 0 <= data["confidence"] <= 1 and data["notice"] == ""


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
    assert out.stderr.strip() == (
        f"error: corpus folder {(tmp_path / 'fehlt').resolve()} does not exist; create it and "
        "add documents, or point ASSISTANT_CORPUS_DIR (or --corpus) at your documents folder"
    )


def test_relative_corpus_error_names_the_absolute_folder_and_the_setting(tmp_path):
    elsewhere = tmp_path / "woanders"
    elsewhere.mkdir()
    out = run("index", cwd=elsewhere)
    assert out.returncode == 2
    assert str(elsewhere / "corpus") in out.stderr and "ASSISTANT_CORPUS_DIR" in out.stderr


def test_ask_with_a_missing_corpus_is_an_error_not_an_old_answer(workdir, tmp_path):
    out = run(
        "ask",
        "Wer ist der CEO des Pakistan Crypto Council?",
        "--corpus",
        str(tmp_path / "x"),
        cwd=workdir,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"error: corpus folder {tmp_path / 'x'} does not exist")


def test_index_progress_completes_and_says_each_thing_once(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Der Schlüssel liegt unter der Fußmatte.")
    (tmp_path / "corpus" / "kaputt.pdf").write_bytes(b"%PDF-1.4 broken")
    for args in (["index"], ["index", "--rebuild"]):
        out = run(*args, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        lines = out.stderr.splitlines()
        assert "loading: 2/2 files" in lines  # the stage ends also when piped
        (summary,) = [line for line in lines if line.startswith("indexed:")]
        assert "chunks embedded (" in summary and "texts: chunks" in summary
        assert "texts" in next(line for line in lines if line.startswith("embedding:"))
        assert out.stderr.count("kaputt.pdf") == 1  # one warning, not summary and warning


def test_ask_help_explains_the_question_and_the_mode():
    out = run("ask", "--help", cwd=".")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "the question, in German or English" in text
    assert "extractive quotes the documents offline" in text


def test_remove_takes_a_document_out_of_folder_and_answers(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "curie.txt").write_text("Marie Curie wurde 1867 in Warschau geboren.")
    (corpus / "einstein.txt").write_text("Albert Einstein wurde 1879 in Ulm geboren.")
    (tmp_path / ".env").write_text("ASSISTANT_ANSWER_MODE=extractive\n")
    assert run("index", cwd=tmp_path).returncode == 0
    out = run("remove", "corpus/curie.txt", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "removed curie.txt" in out.stderr and not (corpus / "curie.txt").exists()
    data = json.loads(run("ask", "Wo wurde Marie Curie geboren?", "--json", cwd=tmp_path).stdout)
    assert all(c["source"] != "curie.txt" for c in data["citations"])
    for bad in ("curie.txt", "../.env", "/etc/passwd"):
        out = run("remove", bad, cwd=tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "is not an indexed document" in lines[0]
    assert (tmp_path / ".env").exists() and (corpus / "einstein.txt").exists()


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


def test_ask_scoped_to_a_document_and_an_unknown_one(workdir):
    out = run("ask", "Wer ist der CEO?", "--document", ARTICLE.name, "--json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["scope"] == [ARTICLE.name]
    assert all(c["source"] == ARTICLE.name for c in data["citations"])
    out = run("ask", "Wer ist der CEO?", "--document", "nope.txt", cwd=workdir)
    assert out.returncode != 0
    assert "not an indexed document: nope.txt" in out.stderr and "Traceback" not in out.stderr


def test_chat_in_the_terminal_with_a_follow_up(workdir):
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "chat"],
        cwd=workdir,
        text=True,
        capture_output=True,
        input="Wer ist der CEO des Pakistan Crypto Council?\nMit welcher US-Botschafterin sprach "
        "er?\nWer ist sie?\n\n",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Bilal bin Saqib" in proc.stdout and "Natalie Baker" in proc.stdout
    assert "offline extractive" in proc.stdout
    assert "Botschafterin" in proc.stdout.split("> ")[-2]  # "sie" from the conversation


def test_serve_prints_its_address_not_gradios_share_hint(workdir):
    import time
    import urllib.request

    from conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--no-index", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(1)
        time.sleep(2)  # Gradio prints its banner right after it starts listening
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert f"Open http://127.0.0.1:{port} in your browser" in output
    assert "share=True" not in output


def test_a_bad_setting_in_the_environment_is_one_readable_line(tmp_path):
    out = run("ask", "Wer?", cwd=tmp_path, env_extra={"ASSISTANT_TOP_K": "viele"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("error: invalid setting ASSISTANT_TOP_K:")
