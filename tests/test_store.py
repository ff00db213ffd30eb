"""The store: error messages, SQLite checks, moving aside, and the score convention."""

import errno
import sqlite3

import chromadb.errors
import httpx
import numpy as np
import pytest

from assistant.errors import IndexStateError
from assistant.store.chunks import ChunkStore
from assistant.store.errors import move_aside, sqlite_problem, store_error
from assistant.store.locking import LOCK_FILE


@pytest.fixture
def embedded(settings_factory):
    return settings_factory()


@pytest.fixture
def server(settings_factory):
    return settings_factory(chroma_host="chroma.local", chroma_port=8123)


def test_full_disk_is_recognised_by_errno_and_by_sqlite_code(embedded):
    for exc in (
        OSError(errno.ENOSPC, "No space left on device"),
        chromadb.errors.InternalError(
            "error returned from database: (code: 13) database or disk is full"
        ),
    ):
        error = store_error(exc, embedded)
        assert isinstance(error, IndexStateError)
        assert str(error).startswith("no space left on the disk holding the index folder")
        assert "unchanged" in str(error) and "--rebuild" not in str(error)


def test_corrupt_database_points_at_rebuild(embedded):
    exc = chromadb.errors.InternalError(
        "error returned from database: (code: 26) file is not a database"
    )
    assert "is corrupt" in str(store_error(exc, embedded))
    assert "assistant index --rebuild" in str(store_error(exc, embedded))


def test_unreachable_server_names_host_and_port_not_rebuild(server):
    for exc in (httpx.ConnectError("[Errno 111] Connection refused"), ConnectionResetError()):
        message = str(store_error(exc, server))
        assert message.startswith("cannot reach the Chroma server at chroma.local:8123")
        assert "--rebuild" not in message


def test_missing_collection_says_another_process_changed_it(embedded):
    error = store_error(chromadb.errors.NotFoundError("Collection [x] does not exist."), embedded)
    assert "another process" in str(error)


def test_other_exceptions_are_bugs_and_keep_their_traceback(embedded):
    assert store_error(KeyError("source"), embedded) is None
    assert store_error(RuntimeError("does not exist"), embedded) is None


def test_opening_failure_suggests_rebuild_other_reads_do_not(embedded):
    exc = chromadb.errors.InternalError("something odd")
    assert "--rebuild" in str(store_error(exc, embedded, opening=True))
    assert str(store_error(exc, embedded)).startswith("cannot read the index folder")


def test_sqlite_problem(tmp_path):
    good = tmp_path / "good.sqlite3"
    with sqlite3.connect(good) as db:
        db.execute("create table t (x)")
    assert sqlite_problem(good) is None
    assert sqlite_problem(tmp_path / "missing.sqlite3") is None
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    assert "not a database" in sqlite_problem(bad)


def test_move_aside_keeps_everything_but_the_lock(tmp_path):
    index = tmp_path / "index"
    (index / "seg").mkdir(parents=True)
    (index / "chroma.sqlite3").write_bytes(b"broken")
    (index / "seg" / "data.bin").write_bytes(b"1")
    (index / LOCK_FILE).write_text("pid 1")
    moved = move_aside(index)
    assert moved.parent == tmp_path and moved.name.startswith("index.broken-")
    assert (moved / "chroma.sqlite3").read_bytes() == b"broken"
    assert (moved / "seg" / "data.bin").exists()
    assert sorted(p.name for p in index.iterdir()) == [LOCK_FILE]
    assert move_aside(index) != moved  # a second one never overwrites the first


def test_query_scores_are_the_true_cosine(settings_factory):
    """Pins llama-index's score convention (exp(-distance)) that ``query`` undoes: an
    upgrade that reports another similarity must fail here, not skew every answer."""
    from llama_index.core.schema import TextNode

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(12, 24)) * rng.uniform(0.2, 5.0, size=(12, 1))  # not unit length
    question = rng.normal(size=24)
    vectors[0] = question * 3.0  # cosine 1
    vectors[1] = -question  # cosine -1
    store = ChunkStore(settings_factory())
    try:
        store.collection(create=True, embed_id="test/vectors")
        store.add(
            [
                TextNode(
                    id_=f"chunk-{i}",
                    text=f"chunk {i}",
                    embedding=vec.tolist(),
                    metadata={
                        "source": "v.txt",
                        "version": "1",
                        "ordinal": i,
                        "start": 0,
                        "end": 7,
                        "page": -1,
                        "lang": "en",
                    },
                )
                for i, vec in enumerate(vectors)
            ]
        )
        hits = store.query(question.tolist(), len(vectors))
    finally:
        store.close()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    truth = unit @ (question / np.linalg.norm(question))
    assert [c.id for c, _ in hits] == [f"chunk-{i}" for i in np.argsort(-truth)]
    for chunk, score in hits:
        assert score == pytest.approx(truth[int(chunk.id.split("-")[1])], abs=1e-4), chunk.id
    assert hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert hits[-1][1] == pytest.approx(-1.0, abs=1e-4)


class TestManifest:
    """The committed manifest lives in a record of its own, named by the stamp; the
    chunk collection's metadata (which Chroma reads on every query) stays small."""

    def test_committed_out_of_the_collection_metadata_and_pruned(self, settings_factory):
        from assistant.store.chunks import ChunkStore
        from assistant.store.records import FileEntry

        store = ChunkStore(settings_factory())
        many = {f"f{i:05d}.txt": FileEntry(f"{i:064x}", i, i, 1, "de") for i in range(3000)}
        for n in range(4):
            store.commit(dict(list(many.items())[: 1000 * n]), "model")
        meta = store.collection().metadata
        assert "manifest" not in meta and len(str(meta)) < 1000
        assert ChunkStore(store.settings).manifest() == many
        assert len(store.manifests().get(include=[])["ids"]) == 2  # this commit, the one before

    def test_a_reader_that_looked_before_two_commits_reads_the_current_one(self, settings_factory):
        from assistant.store.chunks import ChunkStore
        from assistant.store.records import FileEntry

        settings = settings_factory()
        writer, reader = ChunkStore(settings), ChunkStore(settings)
        writer.commit({}, "model")
        reader.collection()  # holds the first stamp, whose record goes two commits later
        entries = [{f"{n}.txt": FileEntry(f"v{n}", 1, 1, 0, "de")} for n in range(2)]
        for manifest in entries:
            writer.commit(manifest, "model")
        assert reader.manifest() == entries[-1]

    def test_a_damaged_manifest_record_points_at_rebuild(self, settings_factory):
        from assistant.store.chunks import ChunkStore

        store = ChunkStore(settings_factory())
        store.commit({}, "model")
        stamp = store.collection().metadata["stamp"]
        store.manifests().upsert(ids=[stamp], embeddings=[[1.0]], metadatas=[{"z": "eJw="}])
        with pytest.raises(IndexStateError, match="corrupt.*--rebuild"):
            ChunkStore(store.settings).manifest()


class TestRefresh:
    """A reader notices another process's commit on the next question, cheaply."""

    def test_a_commit_by_another_store_is_seen_at_once(self, settings_factory):
        from assistant.store.chunks import ChunkStore
        from assistant.store.records import FileEntry

        settings = settings_factory()
        writer, reader = ChunkStore(settings), ChunkStore(settings)
        writer.commit({}, "model")
        assert reader.manifest() == {}
        assert reader.refresh() is False  # nothing changed
        entry = FileEntry("v1", 1, 1, 0, "de")
        writer.commit({"a.txt": entry}, "model")  # within the same mtime tick, probably
        assert reader.refresh() is True
        assert reader.manifest() == {"a.txt": entry}
        assert reader.refresh() is False

    def test_old_unchanged_files_are_trusted_recent_ones_checked(self):
        import time

        from assistant.store.connection import _racy

        now = time.time_ns()
        assert _racy((0, 0, 0, now))
        assert not _racy((0, 0, 0, now - 10**10))

    def test_a_server_is_asked_at_most_every_interval(self, settings_factory):
        import chromadb

        from assistant.store.chunks import ChunkStore
        from assistant.store.records import FileEntry

        client = chromadb.EphemeralClient(
            chromadb.Settings(anonymized_telemetry=False, allow_reset=True)
        )
        entry = FileEntry("v1", 1, 1, 0, "de")
        slow = ChunkStore(settings_factory(server_check_seconds=3600), client=client)
        quick = ChunkStore(settings_factory(server_check_seconds=0), client=client)
        writer = ChunkStore(settings_factory(), client=client)
        writer.commit({}, "model")
        assert slow.manifest() == quick.manifest() == {}
        assert slow.refresh() is False and quick.refresh() is False
        writer.commit({"a.txt": entry}, "model")
        assert quick.refresh() is True
        assert slow.refresh() is False  # asked a moment ago: trusts what it has


@pytest.mark.slow
def test_chunks_of_tens_of_thousands_of_files_are_read_in_batches(settings_factory):
    """At ~34k files one ``$in`` filter exceeded SQLite's variable limit ("too many SQL
    variables", found by the 100k-chunk bench opening its lexical index)."""
    from llama_index.core.schema import TextNode

    from assistant.store.records import FileEntry, StoredChunk

    n = 34_000
    chunks = [
        StoredChunk(f"c{i}", f"text {i}", f"f{i}.txt", "v", 0, 6, None, "de", 0) for i in range(n)
    ]
    store = ChunkStore(settings_factory())
    try:
        store.collection(create=True, embed_id="test/vectors")
        nodes = [
            TextNode(id_=c.id, text=c.text, embedding=[1.0, i % 7, 0.5], metadata=c.metadata())
            for i, c in enumerate(chunks)
        ]
        for i in range(0, n, 5000):
            store.add(nodes[i : i + 5000])
        manifest = {c.source: FileEntry("v", 1, 0, 1, "de") for c in chunks}
        manifest["f1.txt"] = FileEntry("older", 1, 0, 1, "de")  # a stale version is left out
        wanted = [c.source for c in chunks[: n - 500]]  # 33,500 names: more than one filter holds
        got = [c.id for c in store.iter_chunks(manifest, wanted)]
        assert sorted(got) == sorted(c.id for c in chunks[: n - 500] if c.source != "f1.txt")
        ids = [c.id for c in chunks[:1200]]
        assert sorted(store.chunks(ids)) == sorted(ids)
    finally:
        store.close()


def test_records_hold_the_chunk_once_and_llama_index_still_reads_them(settings_factory):
    """No llama-index node JSON beside the text (Chroma would store and index it again),
    and a llama-index user wrapping the collection still gets the text and the metadata."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    meta = {"source": "a.txt", "version": "1", "ordinal": 0, "start": 0, "end": 20, "lang": "de"}
    store = ChunkStore(settings_factory())
    try:
        store.collection(create=True, embed_id="test/vectors")
        store.add(
            [TextNode(id_="a-0", text="Die Brücke ist rot.", embedding=[1.0, 0.0], metadata=meta)]
        )
        got = store.collection().get(ids=["a-0"], include=["metadatas", "documents"])
        assert got["documents"] == ["Die Brücke ist rot."]
        assert got["metadatas"][0] == meta  # nothing but the chunk's own fields
        vs = ChromaVectorStore(chroma_collection=store.collection())
        index = VectorStoreIndex.from_vector_store(vs, embed_model=MockEmbedding(embed_dim=2))
        [hit] = index.as_retriever(similarity_top_k=1).retrieve("Brücke")
        assert (
            hit.node.get_content() == "Die Brücke ist rot."
            and hit.node.metadata["source"] == "a.txt"
        )
    finally:
        store.close()
