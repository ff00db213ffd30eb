"""The same code against a real Chroma server started by the test (`chroma run`)."""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.citations import verify
from conftest import ARTICLE, SHIPPED_CORPUS, free_port, make_settings


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        chroma = shutil.which("chroma")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    log = open(data / "server.log", "wb")  # noqa: SIM115  (a file, not a pipe: a full pipe stalls the server)
    proc = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(data / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not come up in 60 s")
    yield port
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_index_and_ask_through_a_chroma_server(chroma_server, tmp_path, monkeypatch):
    shutil.copytree(SHIPPED_CORPUS, tmp_path / "corpus")
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma_server))
    settings = make_settings(tmp_path)  # CHROMA_HOST and CHROMA_PORT come from the environment
    assert settings.chroma_host == "127.0.0.1" and settings.chroma_port == chroma_server
    bot = Assistant(settings)
    assert bot.index().added == [ARTICLE.name]
    assert not (tmp_path / "index" / "chroma.sqlite3").exists()  # nothing embedded locally

    answer = Assistant(settings).ask("Who is the CEO of the Pakistan Crypto Council?")
    text = ARTICLE.read_text(encoding="utf-8")
    assert any("Bilal bin Saqib" in c.quote for c in answer.citations)
    assert all(verify(text, c) for c in answer.citations)

    (tmp_path / "corpus" / "neu.txt").write_text("Das Treffen fand am 3. März in Islamabad statt.")
    report = bot.index()
    assert report.added == ["neu.txt"] and report.unchanged == [ARTICLE.name]
    assert "Islamabad" in bot.ask("Wo fand das Treffen statt?").citations[0].quote


def test_unreachable_chroma_server_is_a_clear_error(tmp_path):
    from assistant.errors import IndexStateError

    (tmp_path / "corpus").mkdir()
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(IndexStateError, match="Chroma server 127.0.0.1"):
        Assistant(settings).ask("Wer?")
