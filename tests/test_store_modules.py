"""One class per module of the store's split: paging, errors, client, connection,
rebuild (the sentence file follows the chunk collection through the swap)."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from assistant.errors import IndexStateError
from assistant.store.chunks import ChunkStore
from assistant.store.client import DB_FILE, read_only_folder
from assistant.store.connection import _racy, commit_key
from assistant.store.errors import free_bytes, guarded
from assistant.store.paging import IN_BATCH, get_ids, scan
from assistant.store.records import SentenceVector, StoredChunk
from assistant.store.sentences import FOLDER


class PagedCollection:
    """A Chroma collection stand-in that records the size of every get()."""

    def __init__(self, n: int):
        self.ids = [f"id{i}" for i in range(n)]
        self.asked: list[int] = []

    def count(self) -> int:
        return len(self.ids)

    def get(self, ids=None, include=(), limit=None, offset=0, where=None):
        got = ids if ids is not None else self.ids[offset : offset + limit]
        self.asked.append(len(got))
        return {"ids": got, "metadatas": [{"n": i} for i in got]}


class TestPaging:
    def test_ids_are_fetched_in_batches_without_repeats(self):
        col = PagedCollection(0)
        ids = [f"x{i}" for i in range(IN_BATCH * 2 + 3)] + ["x0"]
        got = [i for page in get_ids(col, ids, []) for i in page["ids"]]
        assert got == list(dict.fromkeys(ids)) and max(col.asked) <= IN_BATCH

    def test_scan_reads_every_record_a_page_at_a_time(self):
        col = PagedCollection(12_001)
        assert sum(1 for _ in scan(col, ["metadatas"])) == 12_001 and len(col.asked) == 3


class Thing:
    def __init__(self, settings):
        self.settings = settings

    @guarded
    def fail(self, exc: BaseException):
        raise exc


class TestErrors:
    def test_store_failures_become_readable_errors_and_bugs_keep_their_type(self, tmp_path):
        from tests.conftest import make_settings

        thing = Thing(make_settings(tmp_path))
        with pytest.raises(IndexStateError, match="corrupt"):
            thing.fail(sqlite3.DatabaseError("file is not a database"))
        with pytest.raises(KeyError):
            thing.fail(KeyError("a bug"))

    def test_free_bytes_looks_at_the_nearest_existing_parent(self, tmp_path):
        assert free_bytes(tmp_path / "not" / "yet") == free_bytes(tmp_path) > 0


class TestClient:
    def test_a_writable_folder_is_not_read_only(self, tmp_path):
        (tmp_path / DB_FILE).write_bytes(b"")
        assert not read_only_folder(tmp_path)


class Col:
    def __init__(self, cid, metadata):
        self.id, self.metadata = cid, metadata


class TestConnection:
    def test_the_commit_key_is_the_collection_id_and_its_stamp(self):
        assert commit_key(Col("c1", {"stamp": "s9"})) == ("c1", "s9")
        assert commit_key(Col("c1", None)) == ("c1", "")

    def test_a_file_written_just_now_is_racy(self):
        now = time.time_ns()
        assert _racy((0, 0, 0, now)) and not _racy((0, 0, 0, now - 10_000_000_000))


def vectors(c: StoredChunk) -> list[SentenceVector]:
    return [SentenceVector("", c.id, c.source, c.version, c.start, c.end, "s", [0.6, 0.8])]


class TestRebuild:
    def test_the_staged_sentence_vectors_become_live_with_the_swap(self, settings_factory):
        store = ChunkStore(settings_factory())
        store.commit({}, "model")
        old = StoredChunk("old-0", "alt", "a.txt", "v1", 0, 3, None, "de", 0)
        store.add_sentences([(old, vectors(old))])
        staged = store.start_rebuild("model")
        new = StoredChunk("new-0", "neu", "b.txt", "v2", 0, 3, None, "de", 0)
        staged.add_sentences([(new, vectors(new))])
        assert store.sentence_vectors(["new-0"]) == {}  # not live before the swap
        staged.commit({}, "model")
        store.finish_rebuild(staged)
        assert list(store.sentence_vectors(["new-0", "old-0"])) == ["new-0"]
        files = os.listdir(store.settings.index_dir / FOLDER)
        assert files == [f"{store.collection().id}.sqlite3"]  # the old one is gone

    def test_a_rebuild_drops_the_sentence_collection_of_the_older_layout(self, settings_factory):
        store = ChunkStore(settings_factory())
        store.commit({}, "model")
        store.client.create_collection("documents-sentence-vectors", embedding_function=None)
        staged = store.start_rebuild("model")
        staged.commit({}, "model")
        store.finish_rebuild(staged)
        names = sorted(c.name for c in store.client.list_collections())
        assert names == ["documents", "documents-manifests"]

    def test_a_dropped_rebuild_leaves_no_sentence_file(self, settings_factory):
        store = ChunkStore(settings_factory())
        store.commit({}, "model")
        staged = store.start_rebuild("model")
        c = StoredChunk("c-0", "x", "a.txt", "v", 0, 1, None, "de", 0)
        staged.add_sentences([(c, vectors(c))])
        staged.close()
        store.drop_staged()
        assert os.listdir(store.settings.index_dir / FOLDER) == []
