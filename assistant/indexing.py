"""Ingest: corpus folder -> loaded text -> sentence-aligned chunks -> embeddings -> Chroma.

Incremental by file content: unchanged files cost a stat() call, changed files are
re-embedded, deleted files lose their chunks. See ``store`` for why a crash half way
never leaves a half-written index behind.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from llama_index.core.schema import TextNode

from .chunking import answer_sentences, chunk_text
from .embedding import embedder_id, token_counter
from .errors import AssistantError, CorpusError
from .language import detect_language
from .loaders import (
    Limits,
    LoadedDocument,
    LoadError,
    Skipped,
    display_name,
    file_sha256,
    list_corpus,
    load_file,
)
from .settings import Settings
from .store import (
    ChunkStore,
    FileEntry,
    SentenceVector,
    StoredChunk,
    chunk_id,
    store_error,
    write_lock,
)

Progress = Callable[[str, int, int], None]


logger = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """What an indexing run did, for the CLI, the UI and the tests."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_added: int = 0
    texts_embedded: int = 0  # chunks plus their sentences and sentence windows
    tokens_embedded: int = 0  # chunks, sentences and sentence windows
    seconds: float = 0.0
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
            f"{self.chunks_added} chunks embedded ({self.texts_embedded} texts: chunks, "
            f"their sentences and sentence windows) in {self.seconds:.1f}s",
        ]
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


def _nodes_for(doc: LoadedDocument, settings: Settings, count_tokens) -> list[TextNode]:
    lang = detect_language(doc.text[:20000])
    nodes = []
    for i, span in enumerate(chunk_text(doc.text, settings.chunk_tokens, count_tokens)):
        page = doc.page_at(span.start)
        inside = doc.pages_inside(span.start, span.end)
        chunk = StoredChunk(
            id=chunk_id(doc.source, doc.sha256, i),
            text=span.text,
            source=doc.source,
            version=doc.sha256,
            start=span.start,
            end=span.end,
            page=page,
            lang=lang,
            ordinal=i,
            page_starts=tuple(inside),
        )
        nodes.append(
            TextNode(
                id_=chunk.id,
                text=chunk.text,
                start_char_idx=chunk.start,
                end_char_idx=chunk.end,
                metadata=chunk.metadata(),
            )
        )
    return nodes


def sentence_records(node: TextNode) -> list[tuple[SentenceVector, str]]:
    """Vectors-to-be for each answer sentence of a chunk and for its window.

    On XQuAD the window lifts answer accuracy by 1.5 (de) to 2 (en) points.
    """
    meta = node.metadata
    out = []
    for j, span, window in answer_sentences(node.text):
        start, end = meta["start"] + span.start, meta["start"] + span.end
        for kind, text in (("s", span.text), ("w", window)):
            if text:
                rec = SentenceVector(
                    f"{node.node_id}:{j}{kind}",
                    node.node_id,
                    meta["source"],
                    meta["version"],
                    start,
                    end,
                    kind,
                    [],
                )
                out.append((rec, text))
    return out


def require_corpus(settings: Settings) -> Path:
    """The corpus folder, or an error naming its absolute path and the setting behind it."""
    corpus = Path(settings.corpus_dir)
    if not corpus.is_dir():
        raise CorpusError(
            f"corpus folder {corpus.resolve()} does not exist; create it and add documents, "
            "or point ASSISTANT_CORPUS_DIR (or --corpus) at your documents folder"
        )
    return corpus


def index_corpus(
    settings: Settings,
    embedder,
    store: ChunkStore,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> IndexReport:
    """Bring the index in line with ``settings.corpus_dir``; returns what changed."""
    began = time.perf_counter()
    corpus = require_corpus(settings)
    files, skipped = list_corpus(corpus)
    if not files:
        raise CorpusError(
            f"corpus folder {corpus} has no documents to index "
            "(supported: txt, md, html, pdf, docx)"
        )
    report = IndexReport(skipped=skipped)
    embed_id = embedder_id(embedder)
    progress = progress or (lambda stage, done, total: None)
    max_bytes = int(settings.max_file_mb * 1e6)
    limits = Limits.from_settings(settings)

    with write_lock(settings):
        store.refresh()  # another process may have committed or rebuilt since we looked
        target = store
        was_dirty = False
        if rebuild:
            report.moved_aside = store.prepare_rebuild()
            target = store.start_rebuild(embed_id)
            old: dict[str, FileEntry] = {}
        else:
            store.drop_staged()  # what a killed rebuild left behind
            store.check_model(embed_id)
            old = store.manifest()
            was_dirty = store.dirty()
        new = dict(old)

        # 1. what changed: stat first, hash only when size or mtime moved
        todo: list[tuple[str, Path, FileEntry | None]] = []
        for i, (source, path) in enumerate(files.items()):
            progress("scanning", i, len(files))
            try:
                st = path.stat()
            except OSError as exc:
                report.skipped.append(Skipped(source, f"cannot read file ({exc})"))
                continue
            entry = old.get(source)
            if entry and entry.size == st.st_size and entry.mtime_ns == st.st_mtime_ns:
                report.unchanged.append(source)
                continue
            try:
                sha = file_sha256(path)
            except OSError as exc:
                report.skipped.append(Skipped(source, f"cannot read file ({exc})"))
                continue
            if entry and entry.version == sha:
                new[source] = dataclasses.replace(entry, size=st.st_size, mtime_ns=st.st_mtime_ns)
                report.unchanged.append(source)
                continue
            todo.append((source, path, entry))

        # 2. load and chunk what changed; a file that fails keeps its old chunks
        count_tokens = token_counter(embedder)
        pending: list[tuple[str, list[TextNode], FileEntry, bool]] = []
        for i, (source, path, entry) in enumerate(todo):
            progress("loading", i, len(todo))
            try:
                doc = load_file(path, source, max_bytes, limits, root=corpus)
            except LoadError as exc:
                report.skipped.append(Skipped(source, str(exc)))
                continue
            nodes = _nodes_for(doc, settings, count_tokens)
            st = path.stat()
            lang = nodes[0].metadata["lang"] if nodes else "de"
            pending.append(
                (
                    source,
                    nodes,
                    FileEntry(doc.sha256, st.st_size, st.st_mtime_ns, len(nodes), lang, doc.title),
                    entry is None,
                )
            )
        progress("loading", len(todo), len(todo))  # a piped log sees the stage end

        # 3. embed everything (chunks, sentences, windows) before writing anything
        all_nodes = [n for _, nodes, _, _ in pending for n in nodes]
        sentences = {n.node_id: sentence_records(n) for n in all_nodes}
        jobs: list[tuple[object, str]] = [(n, n.text) for n in all_nodes]
        jobs += [(rec, text) for recs in sentences.values() for rec, text in recs]
        batch = max(1, settings.embed_batch_size)
        for i in range(0, len(jobs), batch):
            progress("embedding", i, len(jobs))
            part = jobs[i : i + batch]
            vectors = embedder.get_text_embedding_batch([text for _, text in part])
            for (owner, _), vec in zip(part, vectors):
                if isinstance(owner, TextNode):
                    owner.embedding = vec
                else:
                    owner.vector = vec
        progress("embedding", len(jobs), len(jobs))
        report.texts_embedded = len(jobs)
        report.tokens_embedded = sum(count_tokens(text) for _, text in jobs)

        # 4. write chunks (invisible until the manifest names their version), then commit
        if jobs:
            dim = len(
                jobs[0][0].embedding if isinstance(jobs[0][0], TextNode) else jobs[0][0].vector
            )
            target.check_room(len(jobs), dim, sum(len(t.encode()) for _, t in jobs))
        try:
            target.collection(create=True, embed_id=embed_id)
            if pending and not rebuild:
                target.mark_dirty()  # if this run dies, the next one removes its chunks
            for source, nodes, entry, is_new in pending:
                target.delete_where({"$and": [{"source": source}, {"version": entry.version}]})
                target.add(nodes, [rec for n in nodes for rec, _ in sentences[n.node_id]])
                new[source] = entry
                (report.added if is_new else report.updated).append(source)
                report.chunks_added += len(nodes)
            for source in sorted(set(old) - set(files)):
                new.pop(source, None)
                report.removed.append(source)

            superseded = bool(report.updated or report.removed)
            if rebuild or report.changed or new != old or target.collection() is None:
                progress("committing", 0, 1)
                target.commit(new, embed_id, dirty=not rebuild and (was_dirty or superseded))
                if rebuild:
                    store.finish_rebuild(target)
        except AssistantError:
            raise
        except Exception as exc:  # a full disk, a vanished server: said, nothing committed
            error = store_error(exc, settings)
            if error is None:
                raise
            raise error from exc

        # 5. remove what no manifest names: superseded versions, and what runs that were
        # killed before or after their commit left behind
        if not rebuild and store.dirty():
            try:
                report.leftovers_removed = store.garbage_collect(new)
                store.mark_dirty(False)
            except AssistantError as exc:
                report.notes.append(f"old chunks stay until the next run ({exc})")
    report.seconds = time.perf_counter() - began
    progress("done", 1, 1)
    for skipped in report.skipped:
        logger.info("skipped %s: %s", skipped.source, skipped.reason)
    logger.info("%s", report.summary())
    return report
