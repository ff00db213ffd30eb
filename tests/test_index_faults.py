"""Faults around the index: corruption, other processes re-indexing, deleted folders,
full disks, killed runs, and how the store recognises Chroma's errors."""

import errno
import os
import shutil
import subprocess
import sys
import uuid

import chromadb.errors
import pytest

from assistant import Assistant
from assistant.cli import main
from assistant.errors import IndexStateError
from assistant.store.chunks import ChunkStore
from assistant.store.locking import write_lock

pytestmark = pytest.mark.slow

FACT_A = "Die Stadt Lindenau wurde im Jahr 1312 von Herzog Albrecht gegründet."
FACT_A2 = "Die Stadt Lindenau wurde im Jahr 1555 von Herzog Albrecht neu gegründet."
FACT_B = "Der Fluss Wendel ist 214 Kilometer lang und mündet in die Ostsee."
FACT_B2 = "Der Fluss Wendel ist 388 Kilometer lang und mündet in die Nordsee."
FACT_C = "Das Rathaus von Lindenau hat einen grünen Turm mit einer goldenen Uhr."
FOUNDED = "Wann wurde Lindenau gegründet?"
RIVER = "Wie lang ist der Fluss Wendel?"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    st = path.stat()  # a rewrite within the same clock tick is still a change
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def quotes(answer):
    return " ".join(c.quote for c in answer.citations)


def versions(store, source):
    got = store.collection().get(where={"source": source}, include=["metadatas"])
    return {m["version"] for m in got["metadatas"]}


def cli(settings, *args):
    """The real console script in another process, on the same folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args]
        + ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)],
        env=dict(env, ASSISTANT_ANSWER_MODE="extractive"),
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- a corrupt index ---------------------------------------------------------------------
def test_rebuild_moves_a_corrupt_index_aside_and_builds_anew(settings_factory, capsys):
    settings = settings_factory()
    write(settings.corpus_dir / "a.txt", FACT_A)
    Assistant(settings).index()
    garbage = b"this is not a database" * 100
    (settings.index_dir / "chroma.sqlite3").write_bytes(garbage)
    with pytest.raises(IndexStateError, match="assistant index --rebuild"):
        Assistant(settings).ask(FOUNDED)

    code = main(["index", "--rebuild", "--corpus", str(settings.corpus_dir), "--index",
                 str(settings.index_dir)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err and "1 added" in err
    broken = [p for p in settings.index_dir.parent.iterdir() if ".broken-" in p.name]
    assert len(broken) == 1 and str(broken[0]) in err  # the output says where it went
    assert (broken[0] / "chroma.sqlite3").read_bytes() == garbage  # kept, not deleted
    assert "1312" in quotes(Assistant(settings).ask(FOUNDED))


def test_rebuild_of_a_truncated_index_moves_it_aside(settings_factory):
    settings = settings_factory()
    write(settings.corpus_dir / "a.txt", FACT_A)
    Assistant(settings).index()
    db = settings.index_dir / "chroma.sqlite3"
    with open(db, "r+b") as fh:  # a valid header, then garbage pages
        fh.seek(4096)
        fh.write(b"\xff" * 60000)
    report = Assistant(settings).index(rebuild=True)
    assert report.moved_aside is not None and report.moved_aside.is_dir()
    assert str(report.moved_aside) in report.summary()
    assert "1312" in quotes(Assistant(settings).ask(FOUNDED))


# -- another writer on the same index folder ---------------------------------------------
def test_a_running_assistant_follows_a_rebuild_by_another(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    write(corpus / "b.txt", FACT_B)
    serving = Assistant(settings)
    serving.index()
    assert "214" in quotes(serving.ask(RIVER))

    write(corpus / "b.txt", FACT_B2)
    Assistant(settings).index(rebuild=True)  # e.g. `assistant index --rebuild` meanwhile
    answer = serving.ask(RIVER)
    assert "388" in quotes(answer) and "214" not in quotes(answer)

    write(corpus / "c.txt", FACT_C)
    Assistant(settings).index()  # an incremental run by another writer
    assert "goldenen Uhr" in quotes(serving.ask("Welche Uhr hat der Turm des Rathauses?"))
    assert [d["source"] for d in serving.documents()] == ["a.txt", "b.txt", "c.txt"]


def test_a_running_assistant_follows_other_processes(settings_factory):
    """The server case: `assistant index` runs in a second process."""
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    write(corpus / "b.txt", FACT_B)
    serving = Assistant(settings)
    serving.index()
    assert "214" in quotes(serving.ask(RIVER))

    write(corpus / "b.txt", FACT_B2)
    done = cli(settings, "index", "--rebuild")
    assert done.returncode == 0, done.stderr
    answer = serving.ask(RIVER)
    assert "388" in quotes(answer) and "214" not in quotes(answer)

    write(corpus / "a.txt", FACT_A2)
    write(corpus / "c.txt", FACT_C)
    done = cli(settings, "index")
    assert done.returncode == 0, done.stderr
    assert "1 added, 1 updated" in done.stderr
    answer = serving.ask(FOUNDED)
    assert "1555" in quotes(answer) and "1312" not in quotes(answer)
    assert "goldenen Uhr" in quotes(serving.ask("Welche Uhr hat der Turm des Rathauses?"))


def test_deleted_index_folder_is_said_and_rebuilt(settings_factory):
    settings = settings_factory()
    write(settings.corpus_dir / "a.txt", FACT_A)
    bot = Assistant(settings)
    bot.index()
    assert "1312" in quotes(bot.ask(FOUNDED))
    shutil.rmtree(settings.index_dir)
    with pytest.raises(IndexStateError, match="assistant index"):
        bot.ask(FOUNDED)
    assert bot.documents() == []
    assert bot.index().added == ["a.txt"]  # the same object builds it again
    assert "1312" in quotes(bot.ask(FOUNDED))


def test_upload_whose_indexing_fails_leaves_the_corpus_as_it_was(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    bot = Assistant(settings)
    bot.index()
    before = (corpus / "a.txt").stat()
    with write_lock(settings):  # another process is indexing: this upload cannot be indexed
        with pytest.raises(IndexStateError, match="locked"):
            bot.add_document("neu.txt", FACT_C.encode())
        with pytest.raises(IndexStateError, match="locked"):
            bot.add_document("a.txt", FACT_A2.encode(), replace=True)
    assert sorted(p.name for p in corpus.iterdir()) == ["a.txt"]  # no stray or temp file
    assert (corpus / "a.txt").read_text(encoding="utf-8") == FACT_A
    assert (corpus / "a.txt").stat().st_mtime_ns == before.st_mtime_ns
    assert bot.index().unchanged == ["a.txt"]


# -- a full disk ---------------------------------------------------------------------------
class FullDiskStore(ChunkStore):
    """A store whose disk fills up after ``room`` writes."""

    def __init__(self, settings, room=1):
        super().__init__(settings)
        self.room = room

    def add(self, nodes):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        super().add(nodes)


def test_full_disk_during_indexing_is_a_clear_error_and_keeps_the_index(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    write(corpus / "b.txt", FACT_B)
    Assistant(settings).index()
    write(corpus / "a.txt", FACT_A2)
    write(corpus / "b.txt", FACT_B2)
    bot = Assistant(settings, store=FullDiskStore(settings))
    with pytest.raises(IndexStateError, match="no space left") as caught:
        bot.index()
    assert "unchanged" in str(caught.value)
    answer = bot.ask(FOUNDED)  # the same object still answers from the committed state
    assert "1312" in quotes(answer) and "1555" not in quotes(answer)


def test_killed_between_commit_and_cleanup_is_cleaned_by_any_next_run(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    Assistant(settings).index()

    class KilledStore(ChunkStore):
        def garbage_collect(self, manifest):
            raise KeyboardInterrupt  # the process dies right after the commit

    write(corpus / "a.txt", FACT_A2)
    with pytest.raises(KeyboardInterrupt):
        Assistant(settings, store=KilledStore(settings)).index()
    bot = Assistant(settings)
    assert len(versions(bot.store, "a.txt")) == 2  # the old version is left over
    report = bot.index()
    assert not report.changed
    assert len(versions(bot.store, "a.txt")) == 1


def test_orphans_of_a_run_that_died_before_commit_go_on_any_next_run(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    write(corpus / "b.txt", FACT_B)
    Assistant(settings).index()
    original = (corpus / "b.txt").stat()
    write(corpus / "a.txt", FACT_A2)
    write(corpus / "b.txt", FACT_B2)
    with pytest.raises(IndexStateError):
        Assistant(settings, store=FullDiskStore(settings)).index()
    write(corpus / "a.txt", FACT_A)  # the user takes the edits back
    write(corpus / "b.txt", FACT_B)
    os.utime(corpus / "b.txt", ns=(original.st_atime_ns, original.st_mtime_ns))
    bot = Assistant(settings)
    report = bot.index()
    assert not report.changed
    assert len(versions(bot.store, "a.txt")) == 1 and len(versions(bot.store, "b.txt")) == 1


# -- how Chroma's errors are recognised ----------------------------------------------------
class ScriptedClient:
    """A Chroma client whose get_collection raises what it is given."""

    def __init__(self, exc):
        self.exc = exc

    def get_collection(self, name, embedding_function=None):
        raise self.exc


def test_missing_collection_is_recognised_by_its_type_not_its_text(settings_factory):
    settings = settings_factory()
    odd = chromadb.errors.NotFoundError(f"Sammlung {uuid.uuid4()} fehlt")
    assert ChunkStore(settings, client=ScriptedClient(odd)).collection() is None
    lookalike = RuntimeError("sqlite: the table does not exist")
    with pytest.raises(IndexStateError, match="cannot read"):
        ChunkStore(settings, client=ScriptedClient(lookalike)).collection()


def test_assistant_takes_its_store_and_embedder_from_the_constructor(settings_factory):
    settings = settings_factory()
    store = ChunkStore(settings)
    first = Assistant(settings)
    bot = Assistant(settings, store=store, embedder=first.embedder)
    assert bot.store is store and bot.embedder is first.embedder


# -- a really full disk (a small tmpfs; mounting needs root) ---------------------------------
@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs as a disk that fills up")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk, leave):
    """Fill the disk up to ``leave`` free bytes; returns the filler file."""
    filler = disk / "filler"
    st = os.statvfs(disk)
    size = max(0, st.f_bavail * st.f_frsize - leave)
    with open(filler, "ab") as fh:
        fh.write(b"\0" * size)
    return filler


def test_full_disk_is_said_and_the_committed_index_keeps_answering(small_disk, settings_factory):
    settings = settings_factory(index_dir=small_disk / "index")
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    Assistant(settings).index()
    long = " ".join(
        f"Im Jahr {1400 + i} baute die Gilde Nummer {i} in Lindenau ein Haus am Markt {i}."
        for i in range(120)
    )
    write(corpus / "chronik.txt", long)
    filler = fill(small_disk, leave=150_000)

    done = cli(settings, "index")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "error: no space left on the disk" in done.stderr and "unchanged" in done.stderr

    done = cli(settings, "ask", FOUNDED)  # the committed index still answers
    assert done.returncode == 0, done.stderr
    assert "1312" in done.stdout

    fill(small_disk, leave=0)  # not one byte left: Chroma cannot even open its database
    done = cli(settings, "ask", FOUNDED)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: no space left on the disk" in done.stderr

    filler.unlink()  # space is freed: everything works again, nothing was lost
    bot = Assistant(settings)
    assert "1312" in quotes(bot.ask(FOUNDED))
    assert bot.index().added == ["chronik.txt"]
    assert "1455" in quotes(bot.ask("Was baute die Gilde Nummer 55?"))
