"""Reading Chroma collections in batches its embedded SQLite accepts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PAGE = 5000  # Chroma's embedded SQLite refuses a get() of ~100k ids at once


# Values per ``$in`` filter or ids per get: Chroma's SQLite refuses a statement with more
# variables than its limit ("too many SQL variables"; met with ~34k file names at once).
IN_BATCH = 500


def get_in(col: Any, field: str, values: list[str], include: list[str]) -> Iterator[dict]:
    """Chroma's get() results for the records whose ``field`` is in ``values``, a batch
    of values at a time."""
    for i in range(0, len(values), IN_BATCH):
        yield col.get(where={field: {"$in": values[i : i + IN_BATCH]}}, include=include)


def get_ids(col: Any, ids: list[str], include: list[str]) -> Iterator[dict]:
    """Chroma's get() results for these ids, a batch of ids at a time."""
    ids = list(dict.fromkeys(ids))
    for i in range(0, len(ids), IN_BATCH):
        yield col.get(ids=ids[i : i + IN_BATCH], include=include)


def scan_in(
    col: Any, field: str, values: list[str], include: list[str]
) -> Iterator[tuple[str, Any, dict]]:
    """(id, document or None, metadata) of the records whose ``field`` is in ``values``."""
    for got in get_in(col, field, values, include):
        docs = got.get("documents") or [None] * len(got["ids"])
        yield from zip(got["ids"], docs, got["metadatas"])


def scan(col: Any, include: list[str]) -> Iterator[tuple[str, Any, dict]]:
    """(id, document or None, metadata) of every record, a page at a time."""
    for offset in range(0, col.count(), PAGE):
        got = col.get(include=include, limit=PAGE, offset=offset)
        docs = got.get("documents") or [None] * len(got["ids"])
        metas = got.get("metadatas") or [{}] * len(got["ids"])
        yield from zip(got["ids"], docs, metas)
