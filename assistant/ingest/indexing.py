"""Ingest: corpus folder -> loaded text -> sentence-aligned chunks -> embeddings -> Chroma.

Incremental by file content: unchanged files cost a stat() call, changed files are
re-embedded, deleted files lose their chunks. See ``store`` for why a crash half way
never leaves a half-written index behind.

Two phases, so a new corpus is answerable sooner: phase 1 embeds and commits the chunks
(from that commit on the files are answerable; the extractive answerer embeds the
sentences of the few chunks it retrieves itself while their vectors are missing). Phase 2
(``complete_sentences``) adds the sentence and window vectors. The files still waiting
for phase 2 are recorded with the commit, so a run killed in phase 2 is finished by the
next run (or the server's start) without embedding the chunks again. No text is embedded
twice: identical texts within a run once, texts already stored (a copied file, the
unchanged passages of an edited one) not at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.schema import TextNode

from assistant.errors import AssistantError, CorpusError
from assistant.ingest.chunking import answer_sentences, chunk_text
from assistant.ingest.loaders import (
    FORMAT_NAMES,
    Limits,
    LoadedDocument,
    LoadError,
    Skipped,
    display_name,
    fingerprint,
    list_corpus,
    load_file,
)
from assistant.question.language import detect_language
from assistant.retrieve.embedding import embedder_id, token_counter
from assistant.settings import Settings
from assistant.store.chunks import ChunkStore
from assistant.store.errors import store_error
from assistant.store.locking import WriteLock, write_lock
from assistant.store.records import FileEntry, SentenceVector, StoredChunk, chunk_id, text_hash

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
            f"{self.chunks_added} chunks embedded ({self.texts_embedded} texts: chunks, "
            f"their sentences and sentence windows) in {self.seconds:.1f}s",
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


def sentence_records(chunk: StoredChunk) -> list[tuple[SentenceVector, str]]:
    """Vectors-to-be for each answer sentence of a chunk and for its window.

    On XQuAD the window lifts answer accuracy by 1.5 (de) to 2 (en) points.
    """
    out = []
    for j, span, window in answer_sentences(chunk.text):
        start, end = chunk.start + span.start, chunk.start + span.end
        for kind, text in (("s", span.text), ("w", window)):
            if text:
                rec = SentenceVector(
                    f"{chunk.id}:{j}{kind}",
                    chunk.id,
                    chunk.source,
                    chunk.version,
                    start,
                    end,
                    kind,
                    [],
                )
                out.append((rec, text))
    return out


def embedding_plan(texts: list[str], known: set[str], count_tokens) -> list[str]:
    """The texts to embed, each once, shortest first.

    Drops repeats and texts in ``known`` (vectors stored already); sorting by length keeps
    texts of similar length in one batch.
    """
    todo = {t: None for t in texts if t not in known}
    return sorted(todo, key=lambda t: (count_tokens(t), t))


def embed_texts(
    texts: list[str],
    embedder,
    store: ChunkStore,
    count_tokens,
    batch: int,
    report: IndexReport,
    progress: Progress,
    stage: str,
    sink: Callable[[dict[str, list[float]]], None] | None = None,
) -> dict[str, list[float]]:
    """Vectors of ``texts`` (text -> vector), each distinct text embedded at most once.

    ``sink`` gets each batch's vectors as they come, so a long run can store them early.
    """
    hashes = {t: text_hash(t) for t in texts}
    stored = store.vectors_by_hash(sorted(set(hashes.values()))) if texts else {}
    vectors = {t: stored[h] for t, h in hashes.items() if h in stored}
    plan = embedding_plan(texts, set(vectors), count_tokens)
    report.texts_reused += len(texts) - len(plan)
    if vectors and sink:
        sink(vectors)
    for i in range(0, len(plan), batch):
        progress(stage, i, len(plan))
        part = plan[i : i + batch]
        got = dict(zip(part, embedder.get_text_embedding_batch(part)))
        vectors.update(got)
        report.texts_embedded += len(part)
        report.tokens_embedded += sum(count_tokens(t) for t in part)
        if sink:
            sink(got)
    progress(stage, len(plan), len(plan))
    return vectors


def _as_stored(node: TextNode) -> StoredChunk:
    """A node about to be stored, read back through the one metadata schema."""
    return StoredChunk.from_record(node.node_id, node.text, node.metadata)


def complete_sentences(
    settings: Settings,
    embedder,
    store: ChunkStore,
    progress: Progress | None = None,
    report: IndexReport | None = None,
    group_texts: int = 2048,
) -> IndexReport:
    """Phase 2: add the sentence and window vectors the committed files still lack.

    Call under the write lock. Resumable: a killed run leaves the files recorded as
    pending, and the next call embeds only the sentences not stored yet. Readers see no
    difference but speed (the answerer embeds missing sentence vectors itself).
    """
    report = report or IndexReport()
    progress = progress or (lambda stage, done, total: None)
    pending = store.pending_sentences()
    if not pending:
        return report
    manifest = store.manifest()
    chunks = store.chunks_of(manifest, [s for s in pending if s in manifest])
    stored = store.chunks_with_sentences([c.id for c in chunks])
    todo = [c for c in chunks if c.id not in stored]
    copied = store.sentences_by_hash(todo)  # the same chunk text stored before
    if copied:
        store.add_sentences([(c, copied[c.id]) for c in todo if c.id in copied])
    report.texts_reused += sum(len(v) for v in copied.values())

    # a chunk's record is written once all its vectors are there (as they come: a killed
    # run keeps the chunks it finished)
    records = {c.id: sentence_records(c) for c in todo if c.id not in copied}
    by_id = {c.id: c for c in todo}
    left = {cid: len(recs) for cid, recs in records.items()}
    by_text: dict[str, list[tuple[str, SentenceVector]]] = {}
    for cid, recs in records.items():
        for rec, text in recs:
            by_text.setdefault(text, []).append((cid, rec))

    def store_batch(vectors: dict[str, list[float]]) -> None:
        finished = []
        for text, vec in vectors.items():
            for cid, rec in by_text.pop(text, []):
                rec.vector = vec
                left[cid] -= 1
                if left[cid] == 0:
                    finished.append((by_id[cid], [r for r, _ in records[cid]]))
        if finished:
            store.add_sentences(finished)

    # an edited file's earlier versions (kept until the clean-up after this phase)
    for old, vecs in store.stored_sentences(sorted({by_id[cid].source for cid in records})):
        recs = sentence_records(old)
        if len(recs) == len(vecs):  # stored in sentence_records' order
            known = {t: v.vector for (_, t), v in zip(recs, vecs) if t in by_text}
            report.texts_reused += len(known)
            store_batch(known)

    count_tokens = token_counter(embedder)
    batch = max(1, settings.embed_batch_size)
    total, done = len(by_text), 0
    for group in chunk_groups(records, group_texts):
        texts = list(dict.fromkeys(t for cid in group for _, t in records[cid] if t in by_text))
        embed_texts(texts, embedder, store, count_tokens, batch, report,
                    lambda stage, i, n, at=done: progress(stage, at + i, total), "sentences",
                    sink=store_batch)  # fmt: skip
        done += len(texts)
    progress("sentences", total, total)
    store.set_pending([])
    return report


def chunk_groups(records: dict[str, list], texts: int) -> Iterator[list[str]]:
    """Chunk ids in groups of about ``texts`` texts to embed.

    Within a group texts are sorted by length (less padding); a chunk's record is written
    when its group is done. Measured on XQuAD, padding over a global sort: +9% with
    groups of 32 chunks (~270 texts), +17% with 16; 2048 texts keep it near the global
    sort while a killed run loses about a minute of work.
    """
    group: list[str] = []
    size = 0
    for cid, recs in records.items():
        group.append(cid)
        size += len(recs)
        if size >= texts:
            yield group
            group, size = [], 0
    if group:
        yield group


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

    with _locked(settings, lock) as lock:
        # Under the lock: the corpus as it is now (an upload or removal by another
        # process is in it or not, never half), and the state committed now.
        files, skipped = list_corpus(corpus)
        if not files:
            raise CorpusError(
                f"corpus folder {corpus} has no documents to index (supported: {FORMAT_NAMES})"
            )
        report = IndexReport(skipped=skipped)
        store.begin_write(lock)
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
            if (
                entry
                and entry.mtime_ns  # 0: recorded too soon after a write to vouch for it
                and entry.size == st.st_size
                and entry.mtime_ns == st.st_mtime_ns
            ):
                report.unchanged.append(source)
                continue
            try:
                fp = fingerprint(path)
            except OSError as exc:
                report.skipped.append(Skipped(source, f"cannot read file ({exc})"))
                continue
            except LoadError as exc:  # kept changing while read: the next run takes it
                report.skipped.append(Skipped(source, str(exc)))
                continue
            if entry and entry.version == fp.sha256:
                new[source] = dataclasses.replace(entry, size=fp.size, mtime_ns=fp.mtime_ns)
                report.unchanged.append(source)
                continue
            todo.append((source, path, entry))

        # 2. load and chunk what changed; a file that fails keeps its old chunks
        count_tokens = token_counter(embedder)
        pending: list[tuple[str, list[TextNode], FileEntry, bool]] = []
        for i, (source, path, entry) in enumerate(todo):
            progress("loading", i, len(todo))
            try:
                doc = load_file(path, source, max_bytes, limits, root=corpus, read=read)
            except LoadError as exc:
                report.skipped.append(Skipped(source, str(exc)))
                continue
            nodes = _nodes_for(doc, settings, count_tokens)
            # size and mtime of the very bytes chunked (a stat taken now could belong to
            # a newer version of the file, which would then pass as indexed)
            fp = doc.fingerprint
            lang = nodes[0].metadata["lang"] if nodes else "de"
            pending.append(
                (
                    source,
                    nodes,
                    FileEntry(doc.sha256, fp.size, fp.mtime_ns, len(nodes), lang, doc.title),
                    entry is None,
                )
            )
        progress("loading", len(todo), len(todo))  # a piped log sees the stage end

        # 3. embed the chunks before writing anything (phase 1)
        all_nodes = [n for _, nodes, _, _ in pending for n in nodes]
        batch = max(1, settings.embed_batch_size)
        vectors = embed_texts(
            [n.text for n in all_nodes], embedder, target, count_tokens, batch, report,
            progress, "embedding",
        )  # fmt: skip
        for n in all_nodes:
            n.embedding = vectors[n.text]
            n.metadata["h"] = text_hash(n.text)

        # 4. write chunks (invisible until the manifest names their version), then commit
        if all_nodes:  # room for the sentence vectors of phase 2 too
            later = [t for n in all_nodes for _, t in sentence_records(_as_stored(n))]
            texts = sum(len(t.encode()) for t in [n.text for n in all_nodes] + later)
            target.check_room(len(all_nodes) + len(later), len(all_nodes[0].embedding), texts)
        try:
            target.collection(create=True, embed_id=embed_id)
            if pending and not rebuild:
                target.mark_dirty()  # if this run dies, the next one removes its chunks
            waiting = set() if rebuild else set(store.pending_sentences())
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
            if rebuild or report.changed or new != old or target.collection() is None:
                progress("committing", 0, 1)
                target.commit(
                    new, embed_id, dirty=not rebuild and (was_dirty or superseded),
                    pending=sorted(waiting),
                )  # fmt: skip
                if rebuild:
                    store.finish_rebuild(target)
        except AssistantError:
            raise
        except Exception as exc:  # a full disk, a vanished server: said, nothing committed
            error = store_error(exc, settings)
            if error is None:
                raise
            raise error from exc
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
    for skipped in report.skipped:
        logger.info("skipped %s: %s", skipped.source, skipped.reason)
    logger.info("%s", report.summary())
    return report


def finish(
    settings: Settings,
    embedder,
    store: ChunkStore,
    progress: Progress | None = None,
    report: IndexReport | None = None,
) -> IndexReport:
    """Phase 2 and the clean-up after it, under the write lock the caller holds: the
    sentence vectors still missing, then what no manifest names (superseded versions, and
    what killed runs left behind; after phase 2, which may reuse their vectors)."""
    report = complete_sentences(settings, embedder, store, progress, report)
    if store.dirty():
        try:
            report.leftovers_removed = store.garbage_collect(store.manifest())
            store.mark_dirty(False)
        except AssistantError as exc:
            report.notes.append(f"old chunks stay until the next run ({exc})")
    return report


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
