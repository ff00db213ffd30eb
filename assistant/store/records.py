"""What the index stores, and the one place its Chroma metadata schema is written and
read: a file's committed state, a chunk with its offsets, a sentence vector.

Ids are derived from content (file version, text), so a re-index of an unchanged file
finds its records again and the same text is never embedded twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import asdict, dataclass


@dataclass
class FileEntry:
    """The committed state of one corpus file in the index."""

    version: str  # sha256 of the file's bytes
    size: int
    mtime_ns: int
    chunks: int
    lang: str
    title: str | None = None  # readable title (heading, metadata); absent in old manifests


def encode_manifest(manifest: dict[str, FileEntry]) -> str:
    """The manifest as its record stores it: JSON, deflated, base64 (about 0.4 of the
    JSON with distinct file versions: 1.4 of 3.7 MB at 17,000 files)."""
    text = json.dumps({k: asdict(v) for k, v in manifest.items()}, sort_keys=True)
    return base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii")


def decode_manifest(raw: str) -> dict[str, FileEntry]:
    """The manifest from :func:`encode_manifest`'s text; ValueError if corrupt."""
    try:
        text = zlib.decompress(base64.b64decode(raw, validate=True)).decode()
        return {k: _entry(v) for k, v in json.loads(text).items()}
    except (zlib.error, UnicodeDecodeError, TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"unreadable manifest: {exc}") from exc


_ENTRY_FIELDS = frozenset(("version", "size", "mtime_ns", "chunks", "lang", "title"))


def _entry(v: dict) -> FileEntry:
    """``FileEntry(**v)``, as strict, in half the time: it runs once per file at every
    open (0.5 of 1.0 s at 67,000 files)."""
    if not v.keys() <= _ENTRY_FIELDS:
        raise TypeError(f"unknown manifest fields {sorted(set(v) - _ENTRY_FIELDS)}")
    return FileEntry(v["version"], v["size"], v["mtime_ns"], v["chunks"], v["lang"], v.get("title"))


@dataclass
class StoredChunk:
    """A chunk as stored: text plus where it sits in its source."""

    id: str
    text: str
    source: str
    version: str
    start: int
    end: int
    page: int | None  # the page the chunk starts on (PDF)
    lang: str
    ordinal: int
    # (offset, page) of every page that starts inside the chunk, so a quote from the
    # middle of a chunk is cited with its own page, not the chunk's first one
    page_starts: tuple[tuple[int, int], ...] = ()

    def metadata(self) -> dict:
        """The chunk's Chroma metadata: the one place its schema is written
        (:meth:`from_record` reads it back). Chroma holds scalars only."""
        return {
            "source": self.source,
            "version": self.version,
            "ordinal": self.ordinal,
            "start": self.start,
            "end": self.end,
            "page": self.page if self.page is not None else -1,
            "page_starts": encode_page_starts(list(self.page_starts)),
            "lang": self.lang,
        }

    @classmethod
    def from_record(cls, cid: str, text: str | None, meta: dict) -> StoredChunk:
        page = meta.get("page", -1)
        return cls(
            id=cid,
            text=text or "",
            source=str(meta.get("source", "")),
            version=str(meta.get("version", "")),
            start=int(meta.get("start", 0)),
            end=int(meta.get("end", 0)),
            page=int(page) if page not in (None, "", -1) else None,
            lang=str(meta.get("lang", "de")),
            ordinal=int(meta.get("ordinal", 0)),
            page_starts=decode_page_starts(meta.get("page_starts")),
        )

    def page_at(self, offset: int) -> int | None:
        """1-based page of source offset ``offset`` inside this chunk (None: no pages)."""
        page = self.page
        for start, number in self.page_starts:
            if offset >= start:
                page = number
        return page


def encode_page_starts(page_starts: list[tuple[int, int]]) -> str:
    """Chroma metadata holds scalars only: "offset:page,offset:page"."""
    return ",".join(f"{offset}:{page}" for offset, page in page_starts)


def decode_page_starts(raw: object) -> tuple[tuple[int, int], ...]:
    out = []
    for item in str(raw or "").split(","):
        offset, _, page = item.partition(":")
        if offset.strip().isdigit() and page.strip().isdigit():
            out.append((int(offset), int(page)))
    return tuple(sorted(out))


@dataclass
class SentenceVector:
    """One sentence ("s") or sentence-with-its-predecessor ("w") vector of a chunk."""

    id: str
    chunk: str
    source: str
    version: str
    start: int
    end: int
    kind: str
    vector: list[float]


def text_hash(text: str) -> str:
    """Key of an embedded text: the same text is never embedded twice (store.vectors_by_hash)."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def chunk_id(source: str, version: str, ordinal: int) -> str:
    return f"{chunk_prefix(source, version)}-{ordinal}"


def chunk_prefix(source: str, version: str) -> str:
    """What every chunk id of one file version starts with (a scope filters by it)."""
    return hashlib.sha1(f"{source}\x00{version}".encode()).hexdigest()[:20]
