"""Ingest: corpus folder -> loaded text -> sentence-aligned chunks -> embeddings -> Chroma.

Incremental by file content: unchanged files cost a stat() call, changed files are
re-embedded, deleted files lose their chunks. See ``store`` for why a crash half way
never leaves a half-written index behind.

Two phases, so a new corpus is answerable sooner: phase 1 embeds and commits the chunks
(from that commit on the files are answerable; the extractive answerer embeds the
sentences of the few chunks it retrieves itself while their vectors are missing). Phase 2
(``complete_sentences``) adds the sentence vectors. The files still waiting
for phase 2 are recorded with the commit, so a run killed in phase 2 is finished by the
next run (or the server's start) without embedding the chunks again. No text is embedded
twice: identical texts within a run once, texts already stored (a copied file, the
unchanged passages of an edited one) not at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.schema import TextNode

from assistant.errors import AssistantError, CorpusError
from assistant.ingest.chunking import chunk_text
from assistant.ingest.loaders import (
    FORMAT_NAMES,
    Limits,
    LoadedDocument,
    LoadError,
    Skipped,
    fingerprint,
    list_corpus,
    load_file,
)
from assistant.ingest.report import IndexReport, Progress
from assistant.ingest.sentences import (
    chunk_groups,
    complete_sentences,
    embed_texts,
    embedding_plan,
    finish,
    sentence_records,
)
from assistant.question.language import detect_language
from assistant.retrieve.embedding import embedder_id, token_counter
from assistant.settings import Settings
from assistant.store.chunks import ChunkStore
from assistant.store.errors import store_error
from assistant.store.locking import WriteLock, write_lock
from assistant.store.records import FileEntry, StoredChunk, chunk_id, text_hash

__all__ = [
    "IndexReport",
    "Progress",
    "chunk_groups",
    "complete_index",
    "complete_sentences",
    "embed_texts",
    "embedding_plan",
    "finish",
    "index_corpus",
    "require_corpus",
    "sentence_records",
]

logger = logging.getLogger(__name__)


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


def _as_stored(node: TextNode) -> StoredChunk:
    """A node about to be stored, read back through the one metadata schema."""
    return StoredChunk.from_record(node.node_id, node.text, node.metadata)


def require_corpus(settings: Settings) -> Path:
    """The corpus folder, or an error naming its absolute path and the setting behind it."""
    corpus = Path(settings.corpus_dir)
    if not corpus.is_dir():
        raise CorpusError(
            f"corpus folder {corpus.resolve()} does not exist; create it and add documents, "
            "or point ASSISTANT_CORPUS_DIR (or --corpus) at your documents folder"
        )
    return corpus


def _locked(settings: Settings, lock: WriteLock | None):
    """The write lock the caller holds, or a new one."""
    return contextlib.nullcontext(lock) if lock is not None else write_lock(settings)


def index_corpus(
    settings: Settings,
    embedder,
    store: ChunkStore,
    progress: Progress | None = None,
    rebuild: bool = False,
    defer_sentences: bool = False,
    lock: WriteLock | None = None,
    read: Callable[[Any], bytes] | None = None,
) -> IndexReport:
    """Bring the index in line with ``settings.corpus_dir``; returns what changed.

    ``lock``: the write lock, if the caller holds it already (an upload: it writes the
    corpus and indexes under one lock); otherwise taken here. ``read``: how a file's
    bytes are read from the open file (see ``loaders.read_stable``).

    ``defer_sentences``: return once the new files are answerable (phase 1) and leave the
    sentence vectors to ``complete_index``; otherwise both phases run here.
    """
    began = time.perf_counter()
    corpus = require_corpus(settings)
    embed_id = embedder_id(embedder)
    progress = progress or (lambda stage, done, total: None)
    max_bytes = int(settings.max_file_mb * 1e6)
    limits = Limits.from_settings(settings)
    load = functools.partial(load_file, max_bytes=max_bytes, limits=limits, root=corpus, read=read)

    with _locked(settings, lock) as lock:
        # Under the lock: the corpus as it is now (an upload or removal by another
        # process is in it or not, never half), and the state committed now.
        files, skipped = list_corpus(corpus)
        if not files:
            raise CorpusError(
                f"corpus folder {corpus} has no documents to index (supported: {FORMAT_NAMES})"
            )
        report = IndexReport(skipped=skipped)
        run = _start_run(settings, store, lock, report, progress, rebuild, embed_id)
        todo = _changed_files(run, files)
        count_tokens = token_counter(embedder)
        pending = _load_changed(run, todo, load, count_tokens)
        all_nodes = _embed_chunks(run, pending, embedder, count_tokens)
        _write_chunks(run, pending, all_nodes, files)
        report.answerable_after_s = time.perf_counter() - began
        if report.changed:
            progress("answerable", 1, 1)

        # phase 2: the sentence vectors (now, or by the caller in the background)
        if defer_sentences:
            report.sentences_pending = bool(store.pending_sentences())
        else:
            finish(settings, embedder, store, progress, report)
    report.seconds = time.perf_counter() - began
    progress("done", 1, 1)
    for skipped_file in report.skipped:
        logger.info("skipped %s: %s", skipped_file.source, skipped_file.reason)
    logger.info("%s", report.summary())
    return report


@dataclass
class _Run:
    """One indexing run's state, handed from step to step."""

    settings: Settings
    store: ChunkStore
    target: ChunkStore  # the store itself, or the staged one of a rebuild
    report: IndexReport
    progress: Progress
    rebuild: bool
    embed_id: str
    old: dict[str, FileEntry]  # the committed manifest ({} for a rebuild)
    new: dict[str, FileEntry] = field(default_factory=dict)  # the manifest to commit
    was_dirty: bool = False


def _start_run(
    settings: Settings,
    store: ChunkStore,
    lock: WriteLock,
    report: IndexReport,
    progress: Progress,
    rebuild: bool,
    embed_id: str,
) -> _Run:
    """Begin writing: a rebuild stages a new index, else the committed one is checked."""
    store.begin_write(lock)
    if rebuild:
        report.moved_aside = store.prepare_rebuild()
        target = store.start_rebuild(embed_id)
        return _Run(settings, store, target, report, progress, rebuild, embed_id, old={})
    store.drop_staged()  # what a killed rebuild left behind
    store.check_model(embed_id)
    old = store.manifest()
    was_dirty = store.dirty()
    return _Run(
        settings, store, store, report, progress, rebuild, embed_id, old, dict(old), was_dirty
    )


def _changed_files(run: _Run, files: dict[str, Path]) -> list[tuple[str, Path, FileEntry | None]]:
    """1. What changed: stat first, hash only when size or mtime moved."""
    todo: list[tuple[str, Path, FileEntry | None]] = []
    for i, (source, path) in enumerate(files.items()):
        run.progress("scanning", i, len(files))
        entry = run.old.get(source)
        if _changed(run, source, path, entry):
            todo.append((source, path, entry))
    return todo


def _changed(run: _Run, source: str, path: Path, entry: FileEntry | None) -> bool:
    """Whether the file needs indexing; an unchanged or unreadable one is reported."""
    report = run.report
    try:
        st = path.stat()
    except OSError as exc:
        report.skipped.append(Skipped(source, f"cannot read file ({exc})"))
        return False
    if (
        entry
        and entry.mtime_ns  # 0: recorded too soon after a write to vouch for it
        and entry.size == st.st_size
        and entry.mtime_ns == st.st_mtime_ns
    ):
        report.unchanged.append(source)
        return False
    try:
        fp = fingerprint(path)
    except OSError as exc:
        report.skipped.append(Skipped(source, f"cannot read file ({exc})"))
        return False
    except LoadError as exc:  # kept changing while read: the next run takes it
        report.skipped.append(Skipped(source, str(exc)))
        return False
    if entry and entry.version == fp.sha256:
        run.new[source] = dataclasses.replace(entry, size=fp.size, mtime_ns=fp.mtime_ns)
        report.unchanged.append(source)
        return False
    return True


_Pending = tuple[str, list[TextNode], FileEntry, bool]  # source, its chunks, entry, new?


def _load_changed(
    run: _Run,
    todo: list[tuple[str, Path, FileEntry | None]],
    load: Callable[[Path, str], LoadedDocument],
    count_tokens,
) -> list[_Pending]:
    """2. Load and chunk what changed; a file that fails keeps its old chunks."""
    pending: list[_Pending] = []
    for i, (source, path, entry) in enumerate(todo):
        run.progress("loading", i, len(todo))
        try:
            doc = load(path, source)
        except LoadError as exc:
            run.report.skipped.append(Skipped(source, str(exc)))
            continue
        nodes = _nodes_for(doc, run.settings, count_tokens)
        # size and mtime of the very bytes chunked (a stat taken now could belong to
        # a newer version of the file, which would then pass as indexed)
        fp = doc.fingerprint
        lang = nodes[0].metadata["lang"] if nodes else "de"
        file_entry = FileEntry(doc.sha256, fp.size, fp.mtime_ns, len(nodes), lang, doc.title)
        pending.append((source, nodes, file_entry, entry is None))
    run.progress("loading", len(todo), len(todo))  # a piped log sees the stage end
    return pending


def _embed_chunks(run: _Run, pending: list[_Pending], embedder, count_tokens) -> list[TextNode]:
    """3. Embed the chunks before writing anything (phase 1)."""
    all_nodes = [n for _, nodes, _, _ in pending for n in nodes]
    batch = max(1, run.settings.embed_batch_size)
    vectors = embed_texts(
        [n.text for n in all_nodes], embedder, run.target, count_tokens, batch, run.report,
        run.progress, "embedding",
    )  # fmt: skip
    for n in all_nodes:
        n.embedding = vectors[n.text]
        n.metadata["h"] = text_hash(n.text)
    return all_nodes


def _write_chunks(
    run: _Run, pending: list[_Pending], all_nodes: list[TextNode], files: dict[str, Path]
) -> None:
    """4. Write chunks (invisible until the manifest names their version), then commit."""
    if all_nodes:  # room for the sentence vectors of phase 2 too
        later = [t for n in all_nodes for _, t in sentence_records(_as_stored(n))]
        texts = sum(len(t.encode()) for t in [n.text for n in all_nodes] + later)
        run.target.check_room(len(all_nodes) + len(later), len(all_nodes[0].embedding), texts)
    try:
        _write_and_commit(run, pending, files)
    except AssistantError:
        raise
    except Exception as exc:  # a full disk, a vanished server: said, nothing committed
        error = store_error(exc, run.settings)
        if error is None:
            raise
        raise error from exc


def _write_and_commit(run: _Run, pending: list[_Pending], files: dict[str, Path]) -> None:
    """Add the changed files' chunks, drop the removed files, commit the new manifest."""
    store, target, report, new, old = run.store, run.target, run.report, run.new, run.old
    target.collection(create=True, embed_id=run.embed_id)
    if pending and not run.rebuild:
        target.mark_dirty()  # if this run dies, the next one removes its chunks
    waiting = set() if run.rebuild else set(store.pending_sentences())
    for source, nodes, entry, is_new in pending:
        target.delete_version(source, entry.version)
        target.add(nodes)
        new[source] = entry
        waiting.add(source)
        (report.added if is_new else report.updated).append(source)
        report.chunks_added += len(nodes)
    for source in sorted(set(old) - set(files)):
        new.pop(source, None)
        report.removed.append(source)

    superseded = bool(report.updated or report.removed)
    waiting &= set(new)
    if run.rebuild or report.changed or new != old or target.collection() is None:
        run.progress("committing", 0, 1)
        target.commit(
            new, run.embed_id, dirty=not run.rebuild and (run.was_dirty or superseded),
            pending=sorted(waiting),
        )  # fmt: skip
        if run.rebuild:
            store.finish_rebuild(target)


def complete_index(
    settings: Settings,
    embedder,
    store: ChunkStore,
    progress: Progress | None = None,
    report: IndexReport | None = None,
    lock: WriteLock | None = None,
) -> IndexReport:
    """Phase 2 and the clean-up under the write lock: after ``defer_sentences``, and at a
    server's start (finishes what a killed run left)."""
    with _locked(settings, lock) as lock:
        store.begin_write(lock)
        report = finish(settings, embedder, store, progress, report)
    if progress:
        progress("done", 1, 1)
    return report
