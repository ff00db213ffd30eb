"""No writer loses another's work: every writer takes the write lock, re-reads the
committed state, changes it and commits. Real processes on one index (the CLI in a
subprocess beside an `Assistant` standing for the running server), and interleavings
made deterministic with hooks instead of sleeps."""

import json
import os
import subprocess
import sys

import pytest

import assistant.indexing
import assistant.loaders
from assistant import Assistant
from assistant.errors import IndexStateError
from assistant.locking import write_lock
from assistant.store import ChunkStore

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


def test_a_remove_while_another_run_indexes_is_refused_and_changes_nothing(
    settings_factory, monkeypatch
):
    """The server's delete arrives while another run holds the lock (here: right after
    that run listed the corpus): it is refused clearly, and both changes survive."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    write(corpus / "parken.txt", PARKEN)
    server = Assistant(settings)
    server.index()
    cli = Assistant(settings)  # stands for `assistant index` in another shell
    tried, refused = [], []
    listing = assistant.indexing.list_corpus

    def list_then_remove(folder):
        found = listing(folder)
        if not tried:
            tried.append(folder)
            with pytest.raises(IndexStateError, match="locked by") as caught:
                server.remove_document("kantine.md")
            refused.append(caught.value)
        return found

    monkeypatch.setattr(assistant.indexing, "list_corpus", list_then_remove)
    write(corpus / "hausmeister.txt", HAUSMEISTER)
    assert cli.index().added == ["hausmeister.txt"]
    monkeypatch.undo()
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


def test_an_upload_during_another_run_is_refused_whole_and_the_retry_lands(
    settings_factory, monkeypatch
):
    """Before, a run listed the corpus before it took the lock: an upload committed in
    between was dropped from the index again by that run. Now the listing is under the
    lock, and an upload meanwhile is refused as a whole (nothing left in the corpus)."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    server = Assistant(settings)
    server.index()
    cli = Assistant(settings)
    tried, refused = [], []
    listing = assistant.indexing.list_corpus

    def list_then_upload(folder):
        found = listing(folder)
        if not tried:
            tried.append(folder)
            with pytest.raises(IndexStateError, match="locked by") as caught:
                server.add_document("hausmeister.txt", HAUSMEISTER.encode())
            refused.append(caught.value)
        return found

    monkeypatch.setattr(assistant.indexing, "list_corpus", list_then_upload)
    write(corpus / "parken.txt", PARKEN)
    assert cli.index().added == ["parken.txt"]
    monkeypatch.undo()
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


def test_two_uploads_at_once_one_waits_its_turn(settings_factory, monkeypatch):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    first, second = Assistant(settings), Assistant(settings)
    first.index()
    tried, refused = [], []
    listing = assistant.indexing.list_corpus

    def list_then_upload(folder):
        found = listing(folder)
        if not tried:
            tried.append(folder)
            with pytest.raises(IndexStateError, match="locked by") as caught:
                second.add_document("parken.txt", PARKEN.encode())
            refused.append(caught.value)
        return found

    monkeypatch.setattr(assistant.indexing, "list_corpus", list_then_upload)
    assert first.add_document("hausmeister.txt", HAUSMEISTER.encode()).added
    monkeypatch.undo()
    assert refused and not (corpus / "parken.txt").exists()
    assert second.add_document("parken.txt", PARKEN.encode()).added
    assert docs(first) == docs(second) == ["hausmeister.txt", "kantine.md", "parken.txt"]
    assert "4711" in quotes(second.ask(BRANDT))


# -- a rebuild killed before its swap ----------------------------------------------------------
def test_a_rebuild_killed_before_its_swap_is_finished_under_the_lock(settings_factory, monkeypatch):
    """Finishing a rebuild that died after building is a writer's step: a reader takes
    the write lock for it, and leaves it to the writer holding the lock otherwise."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "kantine.md", KANTINE)
    Assistant(settings).index()
    write(corpus / "parken.txt", PARKEN)

    def killed_between_delete_and_rename(self, staged):
        self.client.delete_collection(self.settings.collection)
        raise RuntimeError("killed")

    monkeypatch.setattr(ChunkStore, "finish_rebuild", killed_between_delete_and_rename)
    with pytest.raises(RuntimeError, match="killed"):
        Assistant(settings).index(rebuild=True)
    monkeypatch.undo()
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


def rewrite_during_reads(monkeypatch, path, texts):
    """The loader's read returns the bytes it read, then the file is rewritten: the
    file changes between the read and anything done after it, every time."""
    reads = []
    read_all = assistant.loaders._read_all

    def read_then_rewrite(fh):
        data = read_all(fh)
        if fh.name == str(path) and len(reads) < len(texts):
            path.write_text(texts[len(reads)], encoding="utf-8")
            reads.append(data)
        return data

    monkeypatch.setattr(assistant.loaders, "_read_all", read_then_rewrite)
    return reads


@pytest.mark.parametrize("new", [NEW, NEW[: len(EDITED)].ljust(len(EDITED), ".")])
def test_a_file_rewritten_while_read_is_indexed_with_its_current_text(
    settings_factory, monkeypatch, new
):
    """Same size or not: the run indexes the text the file has now, and the manifest's
    fingerprint belongs to those bytes (before, the old text was recorded with the new
    file's size and mtime, and every later run said unchanged)."""
    settings = settings_factory()
    path = settings.corpus_dir / "sitzung.txt"
    write(path, OLD)
    bot = Assistant(settings)
    bot.index()
    assert "Elbe" in quotes(bot.ask(MEETING))
    write(path, EDITED)  # an edit, then another one while the run reads the file
    reads = rewrite_during_reads(monkeypatch, path, [new])
    report = bot.index()
    assert reads and report.updated == ["sitzung.txt"]
    entry = bot.store.manifest()["sitzung.txt"]
    assert entry.size == path.stat().st_size
    assert entry.version == assistant.loaders.file_sha256(path)
    monkeypatch.undo()
    answer = bot.ask(MEETING)
    assert "Havel" not in answer.text and "Elbe" not in answer.text
    assert new[:40] in quotes(answer)
    assert bot.index().unchanged == ["sitzung.txt"]


INDEX_WHILE_EDITED = """
import pathlib, sys
import assistant.loaders as loaders
from assistant.cli import main
path, text = pathlib.Path(sys.argv[1]), sys.argv[2]
read_all, done = loaders._read_all, []
def read_then_rewrite(fh):
    data = read_all(fh)
    if fh.name == str(path) and not done:
        done.append(path.write_text(text, encoding="utf-8"))
    return data
loaders._read_all = read_then_rewrite
sys.exit(main(["index"]))
"""


def test_a_file_rewritten_while_the_cli_indexes_it_answers_with_its_text(settings_factory):
    """The same through real processes: `assistant index` (its reader hooked to rewrite
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


def test_a_file_that_keeps_changing_is_left_for_the_next_run(settings_factory, monkeypatch):
    settings = settings_factory()
    path = settings.corpus_dir / "sitzung.txt"
    write(path, OLD)
    bot = Assistant(settings)
    bot.index()
    write(path, NEW + " Erster Entwurf.")
    rewrite_during_reads(monkeypatch, path, [NEW + f" Entwurf {i}." for i in range(10)])
    report = bot.index()
    assert report.updated == [] and [s.source for s in report.skipped] == ["sitzung.txt"]
    assert "changed while it was read" in report.skipped[0].reason
    assert "Elbe" in quotes(bot.ask(MEETING))  # the committed version still answers
    monkeypatch.undo()
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
    old = path.stat().st_mtime_ns - 10 * assistant.loaders.RACY_NS
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
