"""What an indexing run did (``IndexReport``) and how it tells its progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.ingest.loaders import Skipped, display_name

Progress = Callable[[str, int, int], None]


@dataclass
class IndexReport:
    """What an indexing run did, for the CLI, the UI and the tests."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_added: int = 0
    texts_embedded: int = 0  # chunks plus their sentences
    tokens_embedded: int = 0  # chunks and sentences
    texts_reused: int = 0  # duplicates and texts whose vectors were stored already
    seconds: float = 0.0  # until complete (with defer_sentences: until answerable)
    answerable_after_s: float | None = None  # until the chunks were committed (phase 1)
    sentences_pending: bool = False  # phase 2 left for later (see Assistant.index)
    moved_aside: Path | None = None  # where --rebuild put an index it could not read
    leftovers_removed: int = 0  # chunks of earlier runs no manifest names
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self, skipped_reasons: bool = True) -> str:
        """One line; ``skipped_reasons=False`` when the caller lists the skipped files."""
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.removed)} removed",
            f"{len(self.unchanged)} unchanged",
            # the progress line counts texts, so say what a text is
            f"{self.chunks_added} chunks embedded ({self.texts_embedded} texts: chunks and "
            f"their sentences) in {self.seconds:.1f}s",
        ]
        if self.answerable_after_s is not None and self.changed:
            parts[-1] += f", answerable after {self.answerable_after_s:.1f}s"
        if self.sentences_pending:
            parts[-1] += " (sentence vectors are being added in the background)"
        text = "indexed: " + ", ".join(parts)
        if self.moved_aside:
            text += f"; the unreadable index was moved to {self.moved_aside}, a new one built"
        for note in self.notes:
            text += f"; {note}"
        if self.skipped and skipped_reasons:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(
                f"{display_name(s.source)} ({s.reason})" for s in self.skipped
            )
        elif self.skipped:
            text += f"; skipped {len(self.skipped)} (below)"
        return text
