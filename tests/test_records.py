"""The stored record schemas: a chunk's sentence vectors packed into one record, and
the manifest's record."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.store.records import (
    FileEntry,
    SentenceVector,
    StoredChunk,
    decode_manifest,
    decode_sentence_vectors,
    encode_manifest,
    encode_sentence_vectors,
)

TEXT = "Der erste Satz hat genug Wörter. Der zweite Satz hat auch genug Wörter."


def chunk(cid: str, start: int) -> StoredChunk:
    return StoredChunk(cid, TEXT, "a.txt", "v1", start, start + len(TEXT), None, "de", 0)


def vectors(c: StoredChunk) -> list[SentenceVector]:
    second = TEXT.index("Der zweite")
    spans = [(0, second - 1, "s"), (second, len(TEXT), "s"), (second, len(TEXT), "w")]
    where = dict(chunk=c.id, source=c.source, version=c.version)
    return [
        SentenceVector(
            f"{c.id}:{j}",
            **where,
            start=c.start + a,
            end=c.start + b,
            kind=k,
            vector=[0.1 * j, -0.25, 1 / 3],
        )
        for j, (a, b, k) in enumerate(spans)
    ]


class TestSentenceVectorRecord:
    def test_round_trip_keeps_offsets_kinds_and_exact_values(self):
        c = chunk("c-0", 100)
        meta = encode_sentence_vectors(c, vectors(c))
        got = decode_sentence_vectors(c.id, meta)
        want = vectors(c)
        assert [(v.start, v.end, v.kind) for v in got] == [(v.start, v.end, v.kind) for v in want]
        assert [v.vector for v in got] == [np.float32(v.vector).tolist() for v in want]
        assert all(TEXT[v.start - 100 : v.end - 100].startswith("Der") for v in got)
        assert {v.chunk for v in got} == {"c-0"} and {v.source for v in got} == {"a.txt"}

    def test_placed_at_another_chunk_of_the_same_text(self):
        old, new = chunk("c-0", 100), chunk("d-3", 7000)
        got = decode_sentence_vectors(old.id, encode_sentence_vectors(old, vectors(old)), at=new)
        assert [(v.start, v.end) for v in got] == [(v.start, v.end) for v in vectors(new)]
        assert {v.chunk for v in got} == {"d-3"}

    def test_metadata_holds_scalars_only_and_the_text_hash(self):
        c = chunk("c-0", 0)
        meta = encode_sentence_vectors(c, vectors(c))
        assert all(isinstance(v, (str, int)) for v in meta.values())
        assert meta["h"] and meta["source"] == "a.txt" and meta["version"] == "v1"

    def test_a_chunk_without_sentences_round_trips_empty(self):
        c = chunk("c-0", 0)
        assert decode_sentence_vectors(c.id, encode_sentence_vectors(c, [])) == []

    @pytest.mark.parametrize("field", ["vectors", "spans"])
    def test_a_truncated_record_is_refused_not_misread(self, field):
        c = chunk("c-0", 0)
        meta = encode_sentence_vectors(c, vectors(c))
        meta[field] = meta[field][: len(meta[field]) // 2 // 4 * 4]
        with pytest.raises(ValueError):
            decode_sentence_vectors(c.id, meta)


class TestManifestRecord:
    MANIFEST = {
        "a.txt": FileEntry("v1", 10, 123, 2, "de", "Titel"),
        "ü/b.md": FileEntry("v2", 20, 456, 1, "en"),
    }

    def test_round_trip(self):
        assert decode_manifest(encode_manifest(self.MANIFEST)) == self.MANIFEST

    def test_packed_smaller_than_its_json_for_many_similar_entries(self):
        many = {f"dir/file{i:05d}.txt": FileEntry(f"{i:064x}", i, i, 3, "de") for i in range(2000)}
        import json
        from dataclasses import asdict

        plain = json.dumps({k: asdict(v) for k, v in many.items()})
        assert len(encode_manifest(many)) < len(plain) / 3

    def test_an_older_index_s_plain_json_is_read(self):
        raw = '{"a.txt": {"version": "v", "size": 1, "mtime_ns": 2, "chunks": 3, "lang": "de"}}'
        assert decode_manifest(raw, packed=False) == {"a.txt": FileEntry("v", 1, 2, 3, "de")}

    @pytest.mark.parametrize("raw", ["", "not base64!", "eJw=", encode_manifest(MANIFEST)[:-12]])
    def test_a_damaged_record_is_refused(self, raw):
        with pytest.raises(ValueError):
            decode_manifest(raw)

    @pytest.mark.parametrize("raw", ["[1]", '{"a.txt": 5}', '{"a.txt": {"version": "v"}}'])
    def test_wrong_shapes_are_refused(self, raw):
        with pytest.raises(ValueError):
            decode_manifest(raw, packed=False)
