"""Rebuild staging: a rebuild writes a sibling collection ``<name>-rebuild`` (with its
manifests), and swaps it in only once it is complete, the chunk collection's rename
last, as the commit. A rebuild that dies before it finished building is dropped by the
next writer; one that dies after is swapped in by the next store that opens the index.

The sentence vectors need no step of their own: their file is named after the chunk
collection's Chroma id, which the rename keeps (see ``assistant.store.sentences``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, IndexStateError
from assistant.store.client import DB_FILE
from assistant.store.errors import guarded, move_aside, sqlite_problem
from assistant.store.sentences import prune_files

logger = logging.getLogger(__name__)

MANIFESTS = "-manifests"  # see chunks.MANIFESTS
STAGED = "-rebuild"
# where sentence vectors were kept before their file (Chroma metadata, 33 kB a chunk): an
# index of that layout answers (missing vectors are embedded per question); a rebuild
# drops the collection
CHROMA_SENTENCES = "-sentence-vectors"


class RebuildSteps:
    """The rebuild half of :class:`~assistant.store.chunks.ChunkStore` (a mixin: it uses
    the store's client, settings and collection handles)."""

    settings: Any
    client: Any
    _injected: bool
    _held: Any

    def prepare_rebuild(self) -> Path | None:
        """Before a rebuild, under the write lock: a folder Chroma cannot read is moved
        aside (kept, never deleted) and a new one started. Returns where it went.
        """
        if self.settings.chroma_host or self._injected:
            return None
        index_dir = Path(self.settings.index_dir)
        problem = sqlite_problem(index_dir / DB_FILE)
        if problem is None:
            try:
                for col in self.client.list_collections():
                    col.count()
            except AssistantError as exc:
                if "no space left" in str(exc):
                    raise
                problem = str(exc)
            except Exception as exc:  # whatever Chroma raises on a broken segment
                problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            return None
        self.close()
        moved = move_aside(index_dir)
        logger.warning("index %s unreadable (%s); moved it to %s", index_dir, problem, moved)
        return moved

    @guarded
    def start_rebuild(self, embed_id: str) -> Any:
        """A sibling store writing to ``<name>-rebuild``; swapped in by finish_rebuild."""
        staged_name = self.settings.collection + STAGED
        self.drop_staged()
        staged = type(self)(
            self.settings.model_copy(update={"collection": staged_name}), client=self.client
        )
        staged._start_empty(embed_id)
        return staged

    @guarded
    def drop_staged(self) -> None:
        """Remove what a rebuild that died before it finished building left behind."""
        staged_name = self.settings.collection + STAGED
        staged = self._get(staged_name)
        if staged is not None and (staged.metadata or {}).get("complete") == "1":
            return  # complete: collection() swaps it in
        for name in (staged_name, staged_name + MANIFESTS):
            if self._get(name) is not None:
                self.client.delete_collection(name)
        self.prune_sentence_files()

    @guarded
    def finish_rebuild(self, staged: Any) -> None:
        self._swap_in(staged.settings.collection)
        self._forget()
        self._seen = None

    def _swap_in(self, staged_name: str) -> None:
        """Replace the live collections by the staged ones; the chunks last, as the commit.

        Safe to repeat after a crash at any step: each step checks what is still staged.
        """
        name = self.settings.collection
        staged_part = self._get(staged_name + MANIFESTS)
        if staged_part is not None:
            if self._get(name + MANIFESTS) is not None:
                self.client.delete_collection(name + MANIFESTS)
            staged_part.modify(name=name + MANIFESTS)
        for old in (name, name + CHROMA_SENTENCES):
            if self._get(old) is not None:
                self.client.delete_collection(old)
        self._get(staged_name).modify(name=name)
        self.prune_sentence_files()

    def prune_sentence_files(self) -> None:
        """Delete the sentence-vector files of chunk collections that no longer exist."""
        live = [str(col.id) for col in self.client.list_collections()]
        removed = prune_files(Path(self.settings.index_dir), live)
        if removed:
            logger.info("removed %d sentence-vector files of replaced collections", removed)

    def _finish_rebuild_left(self, name: str) -> Any | None:
        """Swap in a rebuild that died after building (its collections are complete):
        a writer's step, so under the write lock. A writer does it under its own; a
        reader takes the lock for it, or leaves it to the writer holding it (the swap in
        progress, or the next run), and to no one on a read-only folder."""
        if self._injected or (self._held is not None and self._held.held):
            self._swap_in(name + STAGED)
            return self._get(name)
        if self.read_only:
            return None
        from assistant.store.locking import write_lock

        try:
            with write_lock(self.settings):
                staged = self._get(name + STAGED)
                complete = staged is not None and (staged.metadata or {}).get("complete") == "1"
                if self._get(name) is None and complete:
                    self._swap_in(name + STAGED)
        except IndexStateError as exc:  # locked: the writer at work swaps (or the next run)
            raise IndexStateError(
                f"the {self.where} is being rebuilt by another process right now; ask again "
                "in a moment"
            ) from exc
        return self._get(name)
