"""The committed state answers are read from: the manifest and the lexical index.

One cheap check per question tells whether another process (``assistant index``, a second
server) committed, rebuilt or deleted the index since; then the state is read again. Within
one answer a thread is pinned to one state, so the answer never mixes two of them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from assistant.errors import IndexStateError
from assistant.retrieve.lexical import LexiconCache
from assistant.retrieve.retriever import Snapshot
from assistant.settings import Settings
from assistant.store.chunks import ChunkStore

__all__ = ["CommittedState"]


class CommittedState:
    """``store`` gives the chunk store, ``embed_id`` the id of the model questions are
    embedded with (an index made with another model is refused with a clear error)."""

    def __init__(
        self, settings: Settings, store: Callable[[], ChunkStore], embed_id: Callable[[], str]
    ) -> None:
        self.settings = settings
        self._store = store
        self._embed_id = embed_id
        self._snapshot: Snapshot | None = None
        self._key: tuple[str, str] | None = None  # the store's state it was read from
        self._lock = threading.Lock()
        self._pinned = threading.local()

    def forget(self) -> None:
        """Read the state again on the next question (this process changed it)."""
        with self._lock:
            self._snapshot = None

    def snapshot(self) -> Snapshot:
        """The pinned state inside :meth:`pinned`, else the current committed one."""
        pinned = getattr(self._pinned, "snapshot", None)
        if pinned is not None:
            return pinned
        store = self._store()
        with self._lock:
            # the store may also have been reopened elsewhere (a listing, a writer that
            # found another process's commit): the snapshot follows the store's state key
            if store.refresh() or store.state_key != self._key:
                self._snapshot = None
            if self._snapshot is None:
                self._snapshot = self._read(store)
                self._key = store.state_key
            return self._snapshot

    def _read(self, store: ChunkStore) -> Snapshot:
        if not store.exists():
            raise IndexStateError(
                "there is no index yet; run `assistant index` (or Assistant().index())"
            )
        store.check_model(self._embed_id())
        manifest = store.manifest()
        files: dict[str, list[tuple[str, str]]] = {}
        for source, entry in manifest.items():
            files.setdefault(entry.lang, []).append((source, entry.version))

        def read_chunks(sources: list[str]):
            for chunk in store.iter_chunks(manifest, sources):
                yield chunk.id, chunk.text

        folder = Path(self.settings.index_dir) / "lexical"
        lexicon = LexiconCache(folder, writable=not store.read_only).open(files, read_chunks)
        return Snapshot(manifest, lexicon)

    @contextlib.contextmanager
    def pinned(self, snapshot: Snapshot) -> Iterator[None]:
        """Within the block this thread reads ``snapshot``: an answer checks the committed
        state once (not at each of its steps) and never mixes two of them."""
        before = getattr(self._pinned, "snapshot", None)
        self._pinned.snapshot = snapshot
        try:
            yield
        finally:
            self._pinned.snapshot = before
