"""No writer loses another's work: every writer takes the write lock, re-reads the
committed state, changes it and commits. Real processes on one index (the CLI in a
subprocess beside an `Assistant` standing for the running server), and interleavings
made deterministic with hooks instead of sleeps."""

import json
import os
import subprocess
import sys

import pytest

from assistant import Assistant
from assistant.errors import IndexStateError
from assistant.ingest.loaders import RACY_NS, file_sha256, read_all
from assistant.store.chunks import ChunkStore
from assistant.store.locking import write_lock

pytestmark = pytest.mark.slow

KANTINE = "Die Kantine im Erdgeschoss öffnet um 11:30 Uhr. Freitags gibt es dort Fisch."
HAUSMEISTER = "Der Hausmeister heißt Herr Brandt und ist unter der Durchwahl 4711 erreichbar."
PARKEN = "Der Parkplatz hinter dem Gebäude hat 40 Stellplätze für Fahrräder und Autos."
POST = "Die Poststelle im zweiten Stock leert den Briefkasten täglich um 15 Uhr."
BRANDT = "Wie heißt der Hausmeister und wie ist er erreichbar?"
KANTINE_Q = "Wann öffnet die Kantine?"
PARKEN_Q = "Wie viele Stellplätze hat der Parkplatz?"
POST_Q = "Wann leert die Poststelle den Briefkasten?"


def write(path, text):
    path.write_text(text, encoding="utf-8")


def quotes(answer):
    return " ".join(c.quote for c in answer.citations)


def docs(bot):
    return [d["source"] for d in bot.documents()]


def run(settings, *args, script=None):
    """The console script (or a Python snippet) in another process, on the same folders,
    configured through the environment as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    env.update(
        ASSISTANT_CORPUS_DIR=str(settings.corpus_dir),
        ASSISTANT_INDEX_DIR=str(settings.index_dir),
        ASSISTANT_ANSWER_MODE="extractive",
    )
    command = [sys.executable, "-c", script] if script else [sys.executable, "-m", "assistant"]
    return subprocess.run(
        command + list(args), env=env, capture_output=True, text=True, timeout=300
    )


def cli_answer(settings, question):
    done = run(settings, "ask", "--json", question)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- CLI index vs. the server's remove --------------------------------------------------------
def test_a_remove_in_the_server_keeps_what_another_process_indexed(settings_factory):
    """The issue's first case: `assistant index` adds hausmeister.txt while the server
    runs; the server's delete of kantine.md must not take hausmeister.txt with it."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    write(corpus / "parken.txt", PARKEN)
    server = Assistant(settings)
    server.index()
    assert "11:30" in quotes(server.ask(KANTINE_Q))  # the server has read the state

    write(corpus / "hausmeister.txt", HAUSMEISTER)
    done = run(settings, "index")
    assert done.returncode == 0 and "1 added" in done.stderr, done.stderr
    answer = cli_answer(settings, BRANDT)  # the shell answers from it
    assert any("4711" in c["quote"] for c in answer["citations"])

    server.remove_document("kantine.md")  # the server has not looked since
    assert docs(server) == ["hausmeister.txt", "parken.txt"]
    assert "4711" in quotes(server.ask(BRANDT))
    assert "11:30" not in server.ask(KANTINE_Q).text
    answer = cli_answer(settings, BRANDT)  # another process sees the same state
    assert any("4711" in c["quote"] for c in answer["citations"])
    # the index agrees with the folder: nothing for the next run to put back
    done = run(settings, "index")
    assert "0 added, 0 updated, 0 removed" in done.stderr, done.stderr


def test_a_cli_index_after_a_server_remove_does_not_bring_it_back(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    write(corpus / "parken.txt", PARKEN)
    assert run(settings, "index").returncode == 0
    server = Assistant(settings)
    assert "11:30" in quotes(server.ask(KANTINE_Q))
    server.remove_document("kantine.md")
    done = run(settings, "index")
    assert done.returncode == 0 and "0 added" in done.stderr, done.stderr
    assert docs(server) == ["parken.txt"]
    assert "11:30" not in server.ask(KANTINE_Q).text


def while_scanning(action):
    """A progress callback that runs ``action`` once, when the run reports its first
    step (it has listed the corpus and read the committed state, under the lock)."""
    refused = []

    def progress(stage, done, total):
        if stage == "scanning" and not refused:
            with pytest.raises(IndexStateError, match="locked by") as caught:
                action()
            refused.append(caught.value)

    return progress, refused


def test_a_remove_while_another_run_indexes_is_refused_and_changes_nothing(settings_factory):
    """The server's delete arrives while another run holds the lock: it is refused
    clearly, and both changes survive."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    write(corpus / "parken.txt", PARKEN)
    server = Assistant(settings)
    server.index()
    cli = Assistant(settings)  # stands for `assistant index` in another shell
    progress, refused = while_scanning(lambda: server.remove_document("kantine.md"))
    write(corpus / "hausmeister.txt", HAUSMEISTER)
    assert cli.index(progress).added == ["hausmeister.txt"]
    assert refused and (corpus / "kantine.md").exists()
    assert docs(server) == ["hausmeister.txt", "kantine.md", "parken.txt"]
    server.remove_document("kantine.md")  # asked again once the run is done
    assert docs(cli) == ["hausmeister.txt", "parken.txt"]
    assert "4711" in quotes(cli.ask(BRANDT))


# -- the server's upload vs. CLI index ------------------------------------------------------
def test_an_upload_and_a_cli_index_keep_each_others_files(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    server = Assistant(settings)
    server.index()
    assert "11:30" in quotes(server.ask(KANTINE_Q))

    write(corpus / "parken.txt", PARKEN)
    assert "1 added" in run(settings, "index").stderr
    report = server.add_document("hausmeister.txt", HAUSMEISTER.encode())
    assert report.added == ["hausmeister.txt"] and report.index.removed == []
    done = run(settings, "index")  # the other process finds nothing to undo
    assert "0 added, 0 updated, 0 removed, 3 unchanged" in done.stderr, done.stderr
    assert docs(server) == ["hausmeister.txt", "kantine.md", "parken.txt"]
    assert "4711" in quotes(server.ask(BRANDT))
    assert "40 Stellplätze" in quotes(server.ask(PARKEN_Q))
    answer = cli_answer(settings, BRANDT)
    assert any("4711" in c["quote"] for c in answer["citations"])


def test_an_upload_during_another_run_is_refused_whole_and_the_retry_lands(settings_factory):
    """Before, a run listed the corpus before it took the lock: an upload committed in
    between was dropped from the index again by that run. Now the listing is under the
    lock, and an upload meanwhile is refused as a whole (nothing left in the corpus)."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    server = Assistant(settings)
    server.index()
    cli = Assistant(settings)
    progress, refused = while_scanning(
        lambda: server.add_document("hausmeister.txt", HAUSMEISTER.encode())
    )
    write(corpus / "parken.txt", PARKEN)
    assert cli.index(progress).added == ["parken.txt"]
    assert refused and not (corpus / "hausmeister.txt").exists()
    assert sorted(p.name for p in corpus.iterdir()) == ["kantine.md", "parken.txt"]
    assert server.add_document("hausmeister.txt", HAUSMEISTER.encode()).added
    assert docs(cli) == ["hausmeister.txt", "kantine.md", "parken.txt"]
    assert "4711" in quotes(cli.ask(BRANDT)) and "40 Stellplätze" in quotes(cli.ask(PARKEN_Q))


# -- two uploads ------------------------------------------------------------------------------
UPLOAD = """
import sys
from assistant import Assistant
report = Assistant().add_document(sys.argv[1], sys.argv[2].encode())
print(report.summary())
"""


def test_uploads_from_two_processes_keep_each_other(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    server = Assistant(settings)
    server.index()
    assert "11:30" in quotes(server.ask(KANTINE_Q))
    other = run(settings, "parken.txt", PARKEN, script=UPLOAD)  # a second server's upload
    assert other.returncode == 0 and "added parken.txt" in other.stdout, other.stderr
    server.add_document("hausmeister.txt", HAUSMEISTER.encode())
    other = run(settings, "post.txt", POST, script=UPLOAD)
    assert other.returncode == 0, other.stderr
    expected = ["hausmeister.txt", "kantine.md", "parken.txt", "post.txt"]
    assert docs(server) == expected
    assert "40 Stellplätze" in quotes(server.ask(PARKEN_Q))
    assert "15 Uhr" in quotes(server.ask(POST_Q))
    answer = cli_answer(settings, BRANDT)
    assert any("4711" in c["quote"] for c in answer["citations"])
    # a replacement by one server is what the other then answers from
    other = Assistant(settings)
    assert docs(other) == expected
    other.add_document("parken.txt", PARKEN.replace("40", "55").encode(), replace=True)
    assert "55 Stellplätze" in quotes(server.ask(PARKEN_Q))
    assert docs(server) == expected


def test_two_uploads_at_once_one_waits_its_turn(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    first, second = Assistant(settings), Assistant(settings)
    first.index()
    progress, refused = while_scanning(lambda: second.add_document("parken.txt", PARKEN.encode()))
    assert first.add_document("hausmeister.txt", HAUSMEISTER.encode(), progress).added
    assert refused and not (corpus / "parken.txt").exists()
    assert second.add_document("parken.txt", PARKEN.encode()).added
    assert docs(first) == docs(second) == ["hausmeister.txt", "kantine.md", "parken.txt"]
    assert "4711" in quotes(second.ask(BRANDT))


# -- a rebuild killed before its swap ----------------------------------------------------------
class KilledBeforeSwap(ChunkStore):
    """A store whose rebuild dies after the old collection went, before the new one is
    renamed into place."""

    def finish_rebuild(self, staged):
        self.client.delete_collection(self.settings.collection)
        raise RuntimeError("killed")


def test_a_rebuild_killed_before_its_swap_is_finished_under_the_lock(settings_factory):
    """Finishing a rebuild that died after building is a writer's step: a reader takes
    the write lock for it, and leaves it to the writer holding the lock otherwise."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    Assistant(settings).index()
    write(corpus / "parken.txt", PARKEN)
    with pytest.raises(RuntimeError, match="killed"):
        Assistant(settings, store=KilledBeforeSwap(settings)).index(rebuild=True)
    with write_lock(settings), pytest.raises(IndexStateError, match="being rebuilt"):
        Assistant(settings).ask(PARKEN_Q)  # another writer holds the lock: not swapped here
    reader = Assistant(settings)
    assert "40 Stellplätze" in quotes(reader.ask(PARKEN_Q))
    assert docs(reader) == ["kantine.md", "parken.txt"]
    assert "0 added, 0 updated, 0 removed, 2 unchanged" in run(settings, "index").stderr


# -- a file rewritten while it is read ----------------------------------------------------------
OLD = "Die Sitzung des Betriebsrats findet am Montag um 9 Uhr im Raum Elbe statt."
NEW = "Die Sitzung des Betriebsrats findet am Donnerstag um 14 Uhr im Raum Weser statt."
EDITED = OLD.replace("Elbe", "Havel")
MEETING = "Wann und wo findet die Sitzung des Betriebsrats statt?"


class Rewriter:
    """A file reader (``Assistant(file_reader=...)``) that returns the bytes it read,
    then rewrites the file with the next of ``texts``: the file changes between the read
    and anything done after it."""

    def __init__(self, path, texts=()):
        self.path, self.texts, self.reads = path, list(texts), []

    def __call__(self, fh):
        data = read_all(fh)
        if fh.name == str(self.path) and self.texts:
            self.path.write_text(self.texts.pop(0), encoding="utf-8")
            self.reads.append(data)
        return data


@pytest.mark.parametrize("new", [NEW, NEW[: len(EDITED)].ljust(len(EDITED), ".")])
def test_a_file_rewritten_while_read_is_indexed_with_its_current_text(settings_factory, new):
    """Same size or not: the run indexes the text the file has now, and the manifest's
    fingerprint belongs to those bytes (before, the old text was recorded with the new
    file's size and mtime, and every later run said unchanged)."""
    settings = settings_factory()
    path = settings.corpus_dir / "sitzung.txt"
    write(path, OLD)
    rewriter = Rewriter(path)
    bot = Assistant(settings, file_reader=rewriter)
    bot.index()
    assert "Elbe" in quotes(bot.ask(MEETING))
    write(path, EDITED)  # an edit, then another one while the run reads the file
    rewriter.texts = [new]
    report = bot.index()
    assert rewriter.reads and report.updated == ["sitzung.txt"]
    entry = bot.store.manifest()["sitzung.txt"]
    assert entry.size == path.stat().st_size
    assert entry.version == file_sha256(path)
    answer = bot.ask(MEETING)
    assert "Havel" not in answer.text and "Elbe" not in answer.text
    assert new[:40] in quotes(answer)
    assert bot.index().unchanged == ["sitzung.txt"]


INDEX_WHILE_EDITED = """
import pathlib, sys
from assistant import Assistant
from assistant.ingest.loaders import read_all
path, text, done = pathlib.Path(sys.argv[1]), sys.argv[2], []
def read_then_rewrite(fh):
    data = read_all(fh)
    if fh.name == str(path) and not done:
        done.append(path.write_text(text, encoding="utf-8"))
    return data
print(Assistant(file_reader=read_then_rewrite).index().summary(), file=sys.stderr)
"""


def test_a_file_rewritten_while_the_cli_indexes_it_answers_with_its_text(settings_factory):
    """The same through real processes: an indexing process (its file reader rewrites
    the file once, mid-read), then `assistant ask` and `assistant index` elsewhere."""
    settings = settings_factory()
    path = settings.corpus_dir / "sitzung.txt"
    write(path, OLD)
    assert run(settings, "index").returncode == 0
    write(path, EDITED)
    done = run(settings, str(path), NEW, script=INDEX_WHILE_EDITED)
    assert done.returncode == 0 and "1 updated" in done.stderr, done.stderr
    assert path.read_text(encoding="utf-8") == NEW
    answer = cli_answer(settings, MEETING)
    assert any("Weser" in c["quote"] for c in answer["citations"])
    assert "Havel" not in answer["answer"] and "Elbe" not in answer["answer"]
    done = run(settings, "index")
    assert "0 added, 0 updated, 0 removed, 1 unchanged" in done.stderr, done.stderr


def test_a_file_that_keeps_changing_is_left_for_the_next_run(settings_factory):
    settings = settings_factory()
    path = settings.corpus_dir / "sitzung.txt"
    write(path, OLD)
    rewriter = Rewriter(path)
    bot = Assistant(settings, file_reader=rewriter)
    bot.index()
    write(path, NEW + " Erster Entwurf.")
    rewriter.texts = [NEW + f" Entwurf {i}." for i in range(3)]
    report = bot.index()
    assert report.updated == [] and [s.source for s in report.skipped] == ["sitzung.txt"]
    assert "changed while it was read" in report.skipped[0].reason
    assert "Elbe" in quotes(bot.ask(MEETING))  # the committed version still answers
    assert rewriter.texts == []  # it holds still from now on
    assert bot.index().updated == ["sitzung.txt"]  # the next run takes it
    assert "Weser" in quotes(bot.ask(MEETING))


def test_a_file_recorded_moments_after_a_write_is_checked_again(settings_factory):
    """A file written within the file system's clock tick of its read could change again
    with size and mtime unchanged; such a file is recorded with mtime 0 and hashed by
    the next run, which then records its real mtime."""
    settings = settings_factory()
    path = settings.corpus_dir / "sitzung.txt"
    write(path, OLD)
    bot = Assistant(settings)
    bot.index()
    assert bot.store.manifest()["sitzung.txt"].mtime_ns == 0  # written just now
    st = path.stat()
    write(path, OLD.replace("Elbe", "Ruhr"))  # same size; the mtime put back as it was
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert bot.index().updated == ["sitzung.txt"]
    assert "Ruhr" in quotes(bot.ask(MEETING))
    old = path.stat().st_mtime_ns - 10 * RACY_NS
    os.utime(path, ns=(old, old))
    assert bot.index().unchanged == ["sitzung.txt"]
    assert bot.store.manifest()["sitzung.txt"].mtime_ns == old  # trusted from now on


# -- uploaded files' permissions -------------------------------------------------------------
def test_uploads_get_the_folders_usual_permissions(settings_factory):
    settings = settings_factory()
    write(settings.corpus_dir / "kantine.md", KANTINE)
    mask = os.umask(0o022)
    try:
        bot = Assistant(settings)
        bot.add_document("hausmeister.txt", HAUSMEISTER.encode())
        assert (settings.corpus_dir / "hausmeister.txt").stat().st_mode & 0o777 == 0o644
        os.chmod(settings.corpus_dir / "kantine.md", 0o640)
        bot.add_document("kantine.md", KANTINE.replace("Fisch", "Pasta").encode(), replace=True)
        assert (settings.corpus_dir / "kantine.md").stat().st_mode & 0o777 == 0o640
        os.umask(0o002)
        bot.add_document("parken.txt", PARKEN.encode())
        assert (settings.corpus_dir / "parken.txt").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(mask)
