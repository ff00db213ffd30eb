"""The compact sentence-vector store: the int8 codec's error bound, the file's round
trip, and its crash safety (a write killed half way is never read, a damaged row is
refused, not misread)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from assistant.store.records import SentenceVector, StoredChunk
from assistant.store.sentences import (
    FIXED_PAGES,
    PAGE_SIZE,
    FileSentenceStore,
    SentenceStore,
    decode_vectors,
    encode_vectors,
    prune_files,
    quantise,
    store_path,
)

TEXT = "Der erste Satz hat genug Wörter. Der zweite Satz hat auch genug Wörter."
DIM = 384


def chunk(cid: str, start: int, source: str = "a.txt", version: str = "v1") -> StoredChunk:
    return StoredChunk(cid, TEXT, source, version, start, start + len(TEXT), None, "de", 0)


def unit(seed: int, n: int = 3) -> np.ndarray:
    m = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def vectors(c: StoredChunk, seed: int = 0) -> list[SentenceVector]:
    second = TEXT.index("Der zweite")
    spans = [(0, second - 1, "s"), (second, len(TEXT), "s"), (second, len(TEXT), "w")]
    m = unit(seed)
    return [
        SentenceVector(
            f"{c.id}:{j}", c.id, c.source, c.version, c.start + a, c.start + b, k, m[j].tolist()
        )  # fmt: skip
        for j, (a, b, k) in enumerate(spans)
    ]


@pytest.fixture
def store(tmp_path) -> FileSentenceStore:
    s = FileSentenceStore(store_path(tmp_path, "col-1"))
    yield s
    s.close()


class TestCodec:
    def test_error_of_each_component_is_at_most_half_a_step(self):
        m = unit(1, 50)
        values, scales = quantise(m)
        back = values.astype(np.float32) * scales[:, None]
        assert values.dtype == np.int8 and np.abs(values).max() == 127
        assert np.all(np.abs(back - m) <= scales[:, None] / 2 + 1e-7)

    def test_cosine_similarities_move_by_less_than_two_thousandths(self):
        m, q = unit(2, 200), unit(3, 20)
        dim, data = encode_vectors([SentenceVector("x", "c", "s", "v", 0, 1, "s", r) for r in m])
        back = decode_vectors(data, len(m), dim)
        assert np.abs(q @ back.T - q @ m.T).max() < 0.002

    def test_a_vector_costs_its_dimension_plus_a_scale(self):
        dim, data = encode_vectors(vectors(chunk("c-0", 0)))
        assert dim == DIM and len(data) == 3 * (DIM + 4)

    def test_requantising_is_stable(self):
        """An edited file's unchanged sentences reuse stored vectors: stored again as is."""
        m = unit(4, 10)
        values, scales = quantise(m)
        again, scales2 = quantise(values.astype(np.float32) * scales[:, None])
        assert np.array_equal(values, again) and np.allclose(scales, scales2)

    def test_zero_vector_and_wrong_sizes(self):
        values, scales = quantise(np.zeros((1, 4)))
        assert values.tolist() == [[0, 0, 0, 0]] and scales[0] > 0
        with pytest.raises(ValueError):
            decode_vectors(b"\0" * 10, 1, 8)


class TestFileSentenceStore:
    def test_is_a_sentence_store(self, store):
        assert isinstance(store, SentenceStore)

    def test_round_trip_keeps_offsets_kinds_and_values_within_a_step(self, store):
        c = chunk("c-0", 100)
        store.put([(c, vectors(c))])
        got = store.get(["c-0", "missing"])
        assert list(got) == ["c-0"]
        want = vectors(c)
        assert [(v.id, v.start, v.end, v.kind) for v in got["c-0"]] == [
            (v.id, v.start, v.end, v.kind) for v in want
        ]
        diff = np.abs(np.array([v.vector for v in got["c-0"]]) - [v.vector for v in want])
        assert diff.max() < 0.01
        assert all(TEXT[v.start - 100 : v.end - 100].startswith("Der") for v in got["c-0"])

    def test_a_chunk_without_sentences_round_trips_empty(self, store):
        store.put([(chunk("c-0", 0), [])])
        assert store.get(["c-0"]) == {"c-0": []} and store.have(["c-0", "x"]) == {"c-0"}

    def test_by_hash_places_vectors_at_another_chunk_of_the_same_text(self, store):
        old, new = chunk("c-0", 100), chunk("d-3", 7000, "b.txt", "v9")
        store.put([(old, vectors(old))])
        got = store.by_hash([new])["d-3"]
        assert [(v.start, v.end) for v in got] == [(v.start, v.end) for v in vectors(new)]
        assert {(v.chunk, v.source, v.version) for v in got} == {("d-3", "b.txt", "v9")}

    def test_sources_versions_and_garbage(self, store):
        a1, a2, b1 = chunk("a-1", 0), chunk("a-2", 0, version="v2"), chunk("b-1", 0, "b.txt")
        store.put([(a1, vectors(a1)), (a2, vectors(a2)), (b1, vectors(b1))])
        assert {cid for cid, _ in store.of_sources(["a.txt"])} == {"a-1", "a-2"}
        store.delete_version("a.txt", "v1")
        assert store.have(["a-1", "a-2", "b-1"]) == {"a-2", "b-1"}
        assert store.keep_only({"b-1"}) == 1 and store.have(["a-2", "b-1"]) == {"b-1"}

    def test_a_reader_never_creates_the_file(self, tmp_path):
        path = store_path(tmp_path, "none")
        reader = FileSentenceStore(path)
        assert reader.get(["x"]) == {} and reader.have(["x"]) == set()
        assert reader.keep_only(set()) == 0 and not path.exists()

    def test_a_reader_sees_what_a_writer_commits_later(self, tmp_path):
        path = store_path(tmp_path, "col")
        reader, writer = FileSentenceStore(path), FileSentenceStore(path)
        assert reader.get(["c-0"]) == {}
        c = chunk("c-0", 0)
        writer.put([(c, vectors(c))])
        assert list(reader.get(["c-0"])) == ["c-0"]

    def test_a_chunk_of_8_vectors_costs_under_4_kb_on_disk(self, store):
        chunks = [chunk(f"{i:020x}-{i % 7}", i * 100) for i in range(300)]
        many = [(c, vectors(c, i) + vectors(c, i + 1) + vectors(c, i + 2)[:2]) for i, c in
                enumerate(chunks)]  # fmt: skip
        store.put(many)  # 8 vectors a chunk, as measured on XQuAD (8.3)
        store.close()
        size = store.path.stat().st_size - FIXED_PAGES * PAGE_SIZE
        assert size / len(chunks) < 4096

    def test_prune_files_keeps_the_live_collections(self, tmp_path):
        for cid in ("live", "gone"):
            s = FileSentenceStore(store_path(tmp_path, cid))
            s.put([(chunk("c", 0), [])])
            s.close()
        assert prune_files(tmp_path, ["live"]) == 1
        assert store_path(tmp_path, "live").exists() and not store_path(tmp_path, "gone").exists()


class TestCrashSafety:
    def test_a_write_killed_before_its_commit_is_never_read(self, store):
        c = chunk("c-0", 0)
        store.put([(c, vectors(c))])
        store.close()
        # another process writes a row and dies inside its transaction (a hot journal)
        code = (
            "import os, sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('PRAGMA cache_size=2')\n"  # pages spill to the file before the commit
            "db.execute('BEGIN IMMEDIATE')\n"
            "db.execute(\"UPDATE vectors SET spans='0:1:s' WHERE id='c-0'\")\n"
            "for i in range(300):\n"
            "    db.execute('INSERT INTO vectors VALUES (?,?,?,?,?,?,?,?,?)',\n"
            "               (f'torn{i}', 'h', 'a.txt', 'v1', 0, '', 0, os.urandom(3000), 0))\n"
            "os._exit(9)\n"
        )
        subprocess.run([sys.executable, "-c", code, str(store.path)], check=False, timeout=60)
        assert store.path.with_name(store.path.name + "-journal").exists()  # torn: hot journal
        got = store.get(["c-0", "torn0", "torn299"])
        assert list(got) == ["c-0"] and len(got["c-0"]) == 3

    def test_a_damaged_row_is_refused_not_misread(self, store):
        c = chunk("c-0", 0)
        store.put([(c, vectors(c))])
        with sqlite3.connect(store.path) as db:
            (data,) = db.execute("SELECT data FROM vectors").fetchone()
            db.execute("UPDATE vectors SET data = ?", (bytes(data)[:-5] + b"xxxxx",))
        assert store.get(["c-0"]) == {} and store.by_hash([c]) == {}

    def test_an_unreadable_file_reads_as_empty(self, store):
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store.path.write_bytes(b"not a database at all" * 100)
        assert store.get(["c-0"]) == {} and store.have(["c-0"]) == set()
        with pytest.raises(sqlite3.DatabaseError):
            store.put([(chunk("c-0", 0), [])])  # a writer says so (as a readable error above)
