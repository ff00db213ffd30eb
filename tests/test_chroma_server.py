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
from assistant.answer.citations import verify
from assistant.errors import IndexStateError
from conftest import ARTICLE, SHIPPED_CORPUS, free_port, make_settings

pytestmark = pytest.mark.slow


class ChromaServer:
    """A real `chroma run` on a fixed port and data folder, which a test can kill and restart."""

    def __init__(self, data: Path):
        self.data = data
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = open(data / "server.log", "ab")  # noqa: SIM115  (a file, not a pipe: a full pipe stalls the server)

    def start(self) -> None:
        chroma = Path(sys.executable).with_name("chroma")
        if not chroma.exists():
            chroma = shutil.which("chroma")
        self.proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(self.data / "db"), "--host", "127.0.0.1"]
            + ["--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, ANONYMIZED_TELEMETRY="False"),
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(
                        f"chroma run exited: {(self.data / 'server.log').read_text()[-2000:]}"
                    )
                time.sleep(0.3)
        self.proc.kill()
        pytest.fail("chroma run did not come up in 60 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    yield server.port
    server.stop()


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
    (tmp_path / "corpus").mkdir()
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(IndexStateError, match="cannot reach the Chroma server at 127.0.0.1:"):
        Assistant(settings).ask("Wer?")


def test_a_chroma_server_that_dies_is_said_and_followed_when_back(tmp_path, monkeypatch):
    server = ChromaServer(tmp_path)
    server.start()
    try:
        write = tmp_path / "corpus"
        write.mkdir()
        (write / "a.txt").write_text("Die Stadt Lindenau wurde im Jahr 1312 gegründet.")
        settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=server.port)
        bot = Assistant(settings)
        bot.index()
        assert "1312" in bot.ask("Wann wurde Lindenau gegründet?").citations[0].quote

        server.kill()  # dies under the running assistant
        for _ in range(2):
            with pytest.raises(IndexStateError) as caught:
                bot.ask("Wann wurde Lindenau gegründet?")
            message = str(caught.value)
            assert f"Chroma server at 127.0.0.1:{server.port}" in message
            assert "cannot reach" in message and "--rebuild" not in message
        assert isinstance(caught.value.__cause__, Exception)  # the library error is kept

        server.start()  # the same port and data folder
        assert "1312" in bot.ask("Wann wurde Lindenau gegründet?").citations[0].quote
        assert bot.documents()[0]["source"] == "a.txt"
    finally:
        server.stop()
