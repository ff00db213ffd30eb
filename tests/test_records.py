"""The stored record schemas: the manifest's record (sentence vectors:
test_sentence_store.py)."""

from __future__ import annotations

import base64
import zlib

import pytest

from assistant.store.records import (
    FileEntry,
    decode_manifest,
    encode_manifest,
)


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

    @pytest.mark.parametrize("raw", ["", "not base64!", "eJw=", encode_manifest(MANIFEST)[:-12]])
    def test_a_damaged_record_is_refused(self, raw):
        with pytest.raises(ValueError):
            decode_manifest(raw)

    @pytest.mark.parametrize(
        "raw",
        [
            "[1]",
            '{"a.txt": 5}',
            '{"a.txt": {"version": "v"}}',
            '{"a.txt": {"version": "v", "size": 1, "mtime_ns": 2, "chunks": 3, "lang": "de",'
            ' "colour": "red"}}',
        ],
    )
    def test_wrong_shapes_are_refused(self, raw):
        """Missing and unknown fields alike, as ``FileEntry(**fields)`` refused them."""
        with pytest.raises(ValueError):
            decode_manifest(base64.b64encode(zlib.compress(raw.encode())).decode())


def test_a_manifest_without_titles_reads_as_before():
    raw = '{"a.txt": {"version": "v", "size": 1, "mtime_ns": 2, "chunks": 3, "lang": "de"}}'
    got = decode_manifest(base64.b64encode(zlib.compress(raw.encode())).decode())
    assert got == {"a.txt": FileEntry("v", 1, 2, 3, "de")}
