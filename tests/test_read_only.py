"""An index on a read-only folder (a shared mount, a backup): readers answer and write
nothing; writers fail with one line that says the folder is read-only."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from assistant import Assistant
from assistant.errors import IndexStateError
from conftest import free_port, make_settings

pytestmark = pytest.mark.slow

KANTINE = "Die Kantine im Erdgeschoss öffnet um 11:30 Uhr. Freitags gibt es dort Fisch."
PARKEN = "Der Parkplatz hinter dem Gebäude hat 40 Stellplätze für Fahrräder und Autos."
HAUSMEISTER = "Der Hausmeister heißt Herr Brandt und ist unter der Durchwahl 4711 erreichbar."
KANTINE_Q = "Wann öffnet die Kantine?"
BRANDT = "Wie heißt der Hausmeister und wie ist er erreichbar?"


def snapshot(folder):
    """Every file below ``folder`` with its bytes' hash and mtime."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                path.stat().st_mtime_ns,
            )
    return out


@pytest.fixture
def folders(tmp_path):
    """(writable settings, read-only settings): one index, seen through a read-only bind
    mount (root) or with its write permissions taken away (anyone else)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "kantine.md").write_text(KANTINE, encoding="utf-8")
    (corpus / "parken.txt").write_text(PARKEN, encoding="utf-8")
    writable = make_settings(tmp_path)
    bot = Assistant(writable)
    bot.index()
    bot.store.close()
    if os.geteuid() == 0:
        view = tmp_path / "index-ro"
        view.mkdir()
        for command in (
            ["mount", "--bind", str(writable.index_dir), str(view)],
            ["mount", "-o", "remount,bind,ro", str(view)],
        ):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", str(view)], capture_output=True)
                pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
        yield writable, make_settings(tmp_path, index_dir=view)
        subprocess.run(["umount", "-l", str(view)], check=False)
    else:
        paths = [writable.index_dir, *writable.index_dir.rglob("*")]
        modes = {p: p.stat().st_mode for p in paths}
        for p in reversed(paths):
            os.chmod(p, modes[p] & ~0o222)
        yield writable, writable
        for p in paths:
            os.chmod(p, modes[p])


def run(settings, *args, cache):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    env.update(
        ASSISTANT_CORPUS_DIR=str(settings.corpus_dir),
        ASSISTANT_INDEX_DIR=str(settings.index_dir),
        ASSISTANT_ANSWER_MODE="extractive",
        XDG_CACHE_HOME=str(cache),
    )
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ask_answers_from_a_read_only_index_and_writes_nothing(folders, tmp_path):
    _, read_only = folders
    before = snapshot(read_only.index_dir)
    cache = tmp_path / "cache"
    done = run(read_only, "ask", "--json", KANTINE_Q, cache=cache)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "readonly" not in done.stderr
    answer = json.loads(done.stdout)
    assert answer["outcome"] == "answered"
    assert any("11:30" in c["quote"] for c in answer["citations"])
    assert snapshot(read_only.index_dir) == before
    copies = cache / "assistant" / "read-only-index"
    assert not copies.exists() or list(copies.iterdir()) == []  # the private copy is gone


@pytest.mark.parametrize(
    "args", [("index",), ("index", "--rebuild"), ("remove", "kantine.md")], ids=" ".join
)
def test_writers_on_a_read_only_index_fail_in_one_line(folders, tmp_path, args):
    _, read_only = folders
    before = snapshot(read_only.index_dir)
    done = run(read_only, *args, cache=tmp_path / "cache")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: the index folder {read_only.index_dir} is read-only")
    assert "--rebuild" not in lines[0] and "corrupt" not in lines[0]
    assert snapshot(read_only.index_dir) == before
    assert (read_only.corpus_dir / "kantine.md").exists()


def test_the_api_answers_and_refuses_changes_on_a_read_only_index(folders):
    _, read_only = folders
    before = snapshot(read_only.index_dir)
    bot = Assistant(read_only)
    assert bot.store.read_only
    assert bot.ensure_index() is None
    assert "11:30" in " ".join(c.quote for c in bot.ask(KANTINE_Q).citations)
    assert [d["source"] for d in bot.documents()] == ["kantine.md", "parken.txt"]
    with pytest.raises(IndexStateError, match="is read-only"):
        bot.add_document("hausmeister.txt", HAUSMEISTER.encode())
    assert not (read_only.corpus_dir / "hausmeister.txt").exists()
    with pytest.raises(IndexStateError, match="is read-only"):
        bot.remove_document("kantine.md")
    assert (read_only.corpus_dir / "kantine.md").exists()
    with pytest.raises(IndexStateError, match="is read-only"):
        bot.index()
    assert "11:30" in " ".join(c.quote for c in bot.ask(KANTINE_Q).citations)
    assert snapshot(read_only.index_dir) == before
    bot.store.close()


def test_a_reader_of_a_read_only_view_follows_the_writer(folders, tmp_path, monkeypatch):
    """A shared index: written where it is writable, read where it is mounted read-only;
    the reader answers from each new commit without a restart, and keeps no more than
    two private copies of the database on the way."""
    writable, read_only = folders
    if writable.index_dir == read_only.index_dir:
        pytest.skip("needs a read-only view of a writable index (a bind mount, as root)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copies = tmp_path / "cache" / "assistant" / "read-only-index"
    reader = Assistant(read_only)
    assert "11:30" in " ".join(c.quote for c in reader.ask(KANTINE_Q).citations)
    writer = Assistant(writable)
    writer.add_document("hausmeister.txt", HAUSMEISTER.encode())
    assert "4711" in " ".join(c.quote for c in reader.ask(BRANDT).citations)
    assert "hausmeister.txt" in [d["source"] for d in reader.documents()]
    writer.remove_document("kantine.md")
    assert "11:30" not in reader.ask(KANTINE_Q).text
    writer.add_document("kantine.md", KANTINE.replace("11:30", "12:15").encode())
    assert "12:15" in " ".join(c.quote for c in reader.ask(KANTINE_Q).citations)
    assert 1 <= len(list(copies.iterdir())) <= 2
    reader.store.close()
    assert list(copies.iterdir()) == []


def test_the_served_chat_answers_from_a_read_only_index(folders):
    from gradio_client import Client

    from helpers.served import served

    _, read_only = folders
    bot = Assistant(read_only)
    bot.ensure_index()
    try:
        with served(bot, concurrency=2) as (_, url):
            client = Client(url, verbose=False)
            assert "11:30" in client.predict(KANTINE_Q, api_name="/chat")
            with pytest.raises(Exception, match="read-only"):
                client.predict("kantine.md", api_name="/remove")
    finally:
        bot.store.close()


def test_assistant_serve_serves_a_read_only_index_without_indexing(folders, tmp_path):
    """`assistant serve` itself: it says the folder is read-only, does not index, and
    the chat answers."""
    from gradio_client import Client

    _, read_only = folders
    before = snapshot(read_only.index_dir)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    env.update(
        ASSISTANT_CORPUS_DIR=str(read_only.corpus_dir),
        ASSISTANT_INDEX_DIR=str(read_only.index_dir),
        ASSISTANT_ANSWER_MODE="extractive",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        client = None
        for _ in range(240):  # until it listens (or has died)
            if server.poll() is not None:
                break
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                try:
                    server.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        output = log.read_text()
        assert client is not None, output
        assert "Traceback" not in output
        assert f"the index folder {read_only.index_dir} is read-only" in output
        assert "11:30" in client.predict(KANTINE_Q, api_name="/chat")
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert snapshot(read_only.index_dir) == before
