"""The public Python API: :class:`Assistant` wires settings, store, retrieval and answering.

The CLI and the Gradio UI use only this class, so every way in behaves the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.answer import phrases
from assistant.answer.extractive import CLOSEST_PASSAGES, ExtractiveAnswerer
from assistant.answer.generative import GenerativeAnswerer, build_llm, llm_name
from assistant.answer.phrases import FALLBACK_NOTICE, NOT_A_QUESTION, UNSUPPORTED_LANGUAGE
from assistant.answer.types import Answer, AnswerStream, Status, timed
from assistant.errors import (
    CorpusError,
    HistoryError,
    IndexStateError,
    LLMError,
    QuestionError,
    UploadError,
)
from assistant.ingest.indexing import IndexReport, Progress, complete_index, index_corpus
from assistant.ingest.loaders import Limits, LoadError, load_bytes
from assistant.ingest.uploads import UploadPlanner, UploadReport, safe_upload_name
from assistant.question.followup import CitedSources, is_follow_up, new_anchors, previous_question
from assistant.question.language import (
    detect_language,
    has_words,
    looks_like_code,
    question_language,
)
from assistant.retrieve.lexical import LanguageIndex, LexiconCache
from assistant.retrieve.retriever import HybridRetriever, Snapshot, Translator
from assistant.retrieve.translation import DictionaryTranslator
from assistant.settings import Settings
from assistant.store.chunks import ChunkStore
from assistant.store.locking import WriteLock, write_lock

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

logger = logging.getLogger(__name__)


_AHEAD: ThreadPoolExecutor | None = None
_AHEAD_LOCK = threading.Lock()


def _ahead_pool() -> ThreadPoolExecutor:
    """Workers for embeddings started ahead of need (one per core, shared by sessions)."""
    global _AHEAD
    with _AHEAD_LOCK:
        if _AHEAD is None:
            from assistant.retrieve.embedding import cores

            _AHEAD = ThreadPoolExecutor(cores(), thread_name_prefix="ahead")
        return _AHEAD


def validate_question(question: Any, max_chars: int) -> str:
    """The question, stripped; a clear error when it is empty, too long or not text."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        # lone surrogates: bytes that were not UTF-8 on the command line, or a broken client
        raise QuestionError(
            "the question is not valid text (it contains bytes that are not UTF-8); "
            "retype it or check the terminal's encoding"
        ) from exc
    text = question.strip()
    if not text:
        raise QuestionError("the question is empty; type a question about the documents")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is too long ({len(text)} characters; at most {max_chars} allowed)"
        )
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")
HISTORY_SHAPES = (
    "history must be a list of messages like {'role': 'user' or 'assistant', 'content': "
    "text}, or a list of (question, answer) pairs, or None"
)


def _turn_text(content: Any) -> str:
    """The text of one turn; gradio 6 sends a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, list):
        content = " ".join(
            p.get("text", "") if isinstance(p, dict) else str(p)
            for p in content
            if isinstance(p, (dict, str))
        )
    elif isinstance(content, dict):  # a file or component message: no text to carry
        return ""
    # lone surrogates from a broken client would break every later encode
    return _SURROGATE.sub("\ufffd", str(content))


def normalise_history(
    history: Any,
    max_turns: int = 6,
    max_chars: int = 1000,
    max_question_chars: int = 2000,
    max_user_chars: int = 300,
) -> list[dict]:
    """The conversation as user/assistant messages, bounded so a follow-up costs what a
    question costs: the last ``max_turns`` turns, each cut to ``max_chars``, earlier
    questions (a follow-up borrows them and embeds them again) to ``max_user_chars``.

    Accepts OpenAI/Gradio message dicts or (user, assistant) pairs; anything else is a
    :class:`HistoryError`. A user turn longer than ``max_question_chars`` was refused
    when it was asked, so it and the reply to it (the error) are left out.
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes, dict)) or not isinstance(history, (list, tuple)):
        raise HistoryError(f"{HISTORY_SHAPES}; got {type(history).__name__}")
    out: list[dict] = []
    for item in history:
        if isinstance(item, dict) and ("role" in item or "content" in item):
            if item.get("role") in ("user", "assistant"):
                turn = {"role": item["role"], "content": _turn_text(item.get("content"))}
                sources = item.get("sources")  # which files an answer cited, if the caller knows
                if isinstance(sources, list) and all(isinstance(x, str) for x in sources):
                    turn["sources"] = sources
                out.append(turn)
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append({"role": "user", "content": _turn_text(item[0])})
            out.append({"role": "assistant", "content": _turn_text(item[1])})
        else:
            raise HistoryError(f"{HISTORY_SHAPES}; got an item of type {type(item).__name__}")
    kept: list[dict] = []
    refused = False
    for turn in out:
        if turn["role"] == "user":
            refused = len(turn["content"].strip()) > max_question_chars
        if not refused and turn["content"].strip():
            kept.append(turn)
    turns = kept[-max_turns:] if max_turns > 0 else []
    out = []
    for t in turns:
        limit = min(max_chars, max_user_chars) if t["role"] == "user" else max_chars
        out.append(t | {"content": t["content"][:limit] + "…"} if len(t["content"]) > limit else t)
    return out


def _backup(target: Path) -> str | None:
    """A hard link to the file an upload is about to replace (None if there is none)."""
    if not target.exists():
        return None
    backup = target.with_name(f".upload-backup-{os.getpid()}-{target.name}")
    if backup.exists():
        backup.unlink()
    try:
        os.link(target, backup)
    except OSError:  # a file system without hard links
        shutil.copy2(target, backup)
    return str(backup)


def _umask() -> int:
    """This process's umask (read without changing it where /proc says it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_file(corpus: Path, target: Path, data: bytes) -> None:
    """Write an upload into the corpus folder atomically (readers never see half a file),
    with the permissions a file saved there normally gets (the umask's; a replaced file
    keeps its own), not the private 0600 of a temporary file."""
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=corpus, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Assistant:
    """Index a folder of documents and answer questions about it with citations.

    >>> bot = Assistant()            # settings from the environment and .env
    >>> bot.index()                  # incremental
    >>> bot.ask("Wer ist der CEO des Pakistan Crypto Council?").citations
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: LLM | None = None,
        store: ChunkStore | None = None,
        embedder: Any = None,
        translator: Translator | None = None,
        file_reader: Callable[[Any], bytes] | None = None,
        **overrides: Any,
    ):
        """``llm``: any llama-index LLM for generative answers (default: the
        OpenAI-compatible server from the settings, if one is configured);
        ``translator``: puts questions into the documents' language for lexical evidence
        (default: the German-English dictionary, see ``ASSISTANT_DICTIONARY``);
        ``file_reader``: how indexing reads a corpus file's bytes from the open file
        (default: all at once; see ``loaders.read_stable``)."""
        if settings is None:
            settings = Settings.load(**overrides)
        elif overrides:
            settings = settings.updated(**overrides)
        self.settings = settings
        self._llm = llm
        if llm is None and settings.answer_mode == "generative":
            self._llm = build_llm(settings)  # a ConfigError now if nothing is configured
        self._embedder = embedder
        self.translator: Translator = translator or DictionaryTranslator(settings.dictionary)
        self._file_reader = file_reader
        self._store: ChunkStore | None = store
        self._snapshot: Snapshot | None = None
        self._snapshot_key: tuple[str, str] | None = None  # the store's state it was read from
        self._index_lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._pinned = threading.local()  # the state one answer in this thread reads
        self._cited = CitedSources()
        self._finishing: threading.Thread | None = None  # see index(background=True)

    # -- wiring --------------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from assistant.retrieve.embedding import build_embedder

            self._embedder = build_embedder(self.settings)
        return self._embedder

    @property
    def store(self) -> ChunkStore:
        if self._store is None:
            self._store = ChunkStore(self.settings)
        return self._store

    @property
    def mode(self) -> str:
        if self.settings.answer_mode == "extractive":
            return "extractive"
        return "generative" if self._llm is not None or self.settings.generative else "extractive"

    @property
    def llm(self) -> LLM:
        """The llama-index LLM that writes generative answers."""
        if self._llm is None:
            self._llm = build_llm(self.settings)
        return self._llm

    def describe_mode(self) -> str:
        """Human-readable answering mode, for the UI and `assistant ask`."""
        if self.mode == "generative":
            if self._llm is not None and getattr(self._llm, "api_base", None) is None:
                return f"generative: {llm_name(self._llm)} ({type(self._llm).__name__})"
            where = self.settings.openai_base_url or "OpenAI"
            return f"generative: {self.settings.llm_model} at {where}"
        mode = "offline extractive: quotes the best-matching sentences (no LLM)"
        missing = getattr(self.translator, "message", "")
        return (
            f"{mode}; English questions over German documents without a dictionary ({missing})"
            if missing
            else mode
        )

    def _stem(self, words: list[str]) -> list[str]:
        return self.lexicon().stem(words)

    # -- indexing ------------------------------------------------------------------------
    def index(
        self, progress: Progress | None = None, rebuild: bool = False, background: bool = False
    ) -> IndexReport:
        """(Re)index the corpus folder: new and changed files in, deleted files out.

        ``background``: return as soon as the new files are answerable (their chunks
        committed) and add their sentence vectors in a thread (the server does this for
        uploads); :meth:`wait_for_index` waits for it. Otherwise both phases run here.
        """
        return self._index(progress, rebuild, background)

    def _index(
        self,
        progress: Progress | None,
        rebuild: bool,
        background: bool,
        lock: WriteLock | None = None,
    ) -> IndexReport:
        """:meth:`index`; ``lock``: the write lock the caller holds already."""
        began = time.perf_counter()
        with self._index_lock:
            # phase 1 (the chunks), then the lexical index: from here on answerable
            report = index_corpus(
                self.settings, self.embedder, self.store, progress, rebuild,
                defer_sentences=True, lock=lock, read=self._file_reader,
            )  # fmt: skip
            self._refresh()
            if self.store.manifest():
                self.open()  # build the lexical index now, not on the first question
            report.answerable_after_s = time.perf_counter() - began
            if not background:  # phase 2 and the clean-up of old versions, here
                complete_index(self.settings, self.embedder, self.store, progress, report, lock)
                report.sentences_pending = False
                report.seconds = time.perf_counter() - began
        if background and (report.sentences_pending or self.store.dirty()):
            self._complete_in_background()
        return report

    def _complete_in_background(self) -> None:
        """Add the missing sentence vectors in a daemon thread, one at a time."""

        def run() -> None:
            with self._index_lock:
                try:
                    complete_index(self.settings, self.embedder, self.store)
                except Exception:  # the next run or start finishes; answers are unaffected
                    logger.warning("adding sentence vectors failed", exc_info=True)

        thread = threading.Thread(target=run, name="sentence-vectors", daemon=True)
        self._finishing = thread
        thread.start()

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for background sentence vectors (see :meth:`index`); True when none are
        being added any more."""
        thread = self._finishing
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _refresh(self) -> None:
        with self._read_lock:
            self._snapshot = None

    def open(self) -> Snapshot:
        """Load the committed state (manifest and lexical index) now rather than on the
        first question; building the lexical index if the corpus changed since the last
        build. Raises :class:`IndexStateError` when there is no usable index."""
        return self._state()

    def _state(self) -> Snapshot:
        pinned = getattr(self._pinned, "snapshot", None)
        if pinned is not None:
            return pinned
        with self._read_lock:
            # Another process (`assistant index`, a second server) may have committed,
            # rebuilt or deleted the index: one cheap check per question, reload if so.
            # The store may also have been reopened elsewhere (documents(), a writer that
            # found another process's commit): the snapshot follows the store's state key.
            if self.store.refresh() or self.store.state_key != self._snapshot_key:
                self._snapshot = None
            if self._snapshot is None:
                from assistant.retrieve.embedding import embedder_id

                if not self.store.exists():
                    raise IndexStateError(
                        "there is no index yet; run `assistant index` (or Assistant().index())"
                    )
                self.store.check_model(embedder_id(self.embedder))
                manifest = self.store.manifest()
                files: dict[str, list[tuple[str, str]]] = {}
                for source, entry in manifest.items():
                    files.setdefault(entry.lang, []).append((source, entry.version))

                def read_chunks(sources: list[str]):
                    for chunk in self.store.iter_chunks(manifest, sources):
                        yield chunk.id, chunk.text

                lexicon = LexiconCache(
                    Path(self.settings.index_dir) / "lexical", writable=not self.store.read_only
                ).open(files, read_chunks)
                self._snapshot = Snapshot(manifest, lexicon)
                self._snapshot_key = self.store.state_key
            return self._snapshot

    @contextlib.contextmanager
    def _pinned_to(self, snapshot: Snapshot) -> Iterator[None]:
        """Within the block this thread reads ``snapshot``: an answer checks the committed
        state once (not at each of its four steps) and never mixes two of them."""
        before = getattr(self._pinned, "snapshot", None)
        self._pinned.snapshot = snapshot
        try:
            yield
        finally:
            self._pinned.snapshot = before

    # -- llama-index ----------------------------------------------------------------------
    def as_retriever(self, top_k: int | None = None) -> HybridRetriever:
        """A llama-index ``BaseRetriever``: hybrid, language-aware chunk retrieval that
        follows re-indexing done elsewhere."""
        return HybridRetriever(
            self.settings, self.store, self.embedder, self._state, top_k, self.translator
        )

    def as_query_engine(self):
        """A llama-index ``BaseQueryEngine``; source nodes are the cited passages."""
        from assistant.engines import AssistantQueryEngine

        return AssistantQueryEngine(self)

    def as_chat_engine(self):
        """A llama-index ``BaseChatEngine`` with follow-ups; ``stream_chat`` streams."""
        from assistant.engines import AssistantChatEngine

        return AssistantChatEngine(self)

    def extractive_answerer(self, lang: str | None = None) -> ExtractiveAnswerer:
        """The offline answerer over the committed state (also what the benchmarks use);
        its evidence is read in ``lang``'s terms (the documents' main language if None)."""
        return ExtractiveAnswerer(
            self.settings,
            self.embedder,
            lexicon=self.lexicon(lang),
            sentence_vectors=self.store.sentence_vectors,
            translator=self.translator,
        )

    def lexicon(self, lang: str | None = None) -> LanguageIndex:
        """The lexical index of ``lang``'s documents (terms, rarity; ``known`` spans the
        whole corpus); the documents' main language if None or absent."""
        return self._state().lexicon.for_language(lang)

    def ensure_index(self, progress: Progress | None = None) -> IndexReport | None:
        """Index once if there is no index yet (first start); otherwise leave it alone,
        but finish in the background the sentence vectors a killed run left missing."""
        if self.store.exists() and self.store.manifest():
            if self.store.read_only:
                return None  # readers never write: the next writer finishes what is left
            if self.store.pending_sentences():
                self._complete_in_background()
            return None
        return self.index(progress)

    def documents(self) -> list[dict]:
        """Indexed files with their chunk counts, for listings."""
        self.store.refresh()
        if not self.store.exists():
            return []
        manifest = self.store.manifest()
        return [
            {"source": s, "title": e.title, "chunks": e.chunks, "language": e.lang, "bytes": e.size}
            for s, e in sorted(manifest.items())
        ]

    def add_documents(
        self,
        files: list[tuple[str, bytes]],
        progress: Progress | None = None,
        replace: bool = False,
        background: bool = False,
    ) -> UploadReport:
        """Validate uploads, write the good ones into the corpus folder, index once
        (``background``: as :meth:`index`).

        A file with the name of a different existing file is refused unless ``replace``;
        the same bytes under a new name are refused as a duplicate; the same file again
        is reported unchanged. A rejected file never touches the corpus folder.
        """
        corpus = Path(self.settings.corpus_dir).resolve()
        report = UploadReport()
        checked: list[tuple[str, Path, bytes]] = []
        for name, data in files:
            try:
                checked.append((str(name), self._check_upload(corpus, name, data), data))
            except UploadError as exc:
                report.rejected.append((str(name), str(exc)))
        if not checked:
            return report
        corpus.mkdir(parents=True, exist_ok=True)
        # One writer's step: under the write lock the corpus is compared with as it is now
        # (another process may have uploaded or removed since), written, indexed, and if
        # indexing fails put back as it was: an upload is either in the corpus and
        # answerable, or in neither.
        with self._index_lock, write_lock(self.settings) as lock:
            planner = UploadPlanner(corpus)
            accepted: list[tuple[Path, bytes]] = []
            for name, target, data in checked:
                try:
                    status = planner.classify(target.name, data, replace)
                except UploadError as exc:
                    report.rejected.append((name, str(exc)))
                    continue
                getattr(report, status).append(target.name)
                if status != "unchanged":
                    accepted.append((target, data))
            if not (report.added or report.replaced or report.unchanged):
                return report
            if accepted and not os.access(corpus, os.W_OK):
                raise UploadError(
                    f"the corpus folder {corpus} is read-only: uploads cannot be stored there"
                )
            undo: list[tuple[Path, str | None]] = []  # (target, backup of the file replaced)
            try:
                for target, data in accepted:
                    undo.append((target, _backup(target)))
                    _write_file(corpus, target, data)
                report.index = self._index(progress, False, background, lock)
            except BaseException:
                for target, backup in reversed(undo):
                    if backup is not None:
                        os.replace(backup, target)  # the previous file, same bytes and mtime
                    elif target.exists():
                        target.unlink()
                raise
            for _, backup in undo:
                if backup is not None:
                    os.unlink(backup)
        return report

    def add_document(
        self, name: str, data: bytes, progress: Progress | None = None, replace: bool = False
    ) -> UploadReport:
        """One upload; raises :class:`UploadError` if it is rejected."""
        report = self.add_documents([(name, data)], progress, replace=replace)
        if report.rejected:
            raise UploadError(report.rejected[0][1])
        return report

    def _check_upload(self, corpus: Path, name: str, data: bytes) -> Path:
        filename = safe_upload_name(name)
        if not isinstance(data, (bytes, bytearray)):
            raise UploadError(f"{filename}: the upload must be bytes")
        if len(data) > self.settings.max_upload_mb * 1e6:
            raise UploadError(
                f"{filename}: file too large ({len(data) / 1e6:.1f} MB; at most "
                f"{self.settings.max_upload_mb:g} MB)"
            )
        try:
            # unreadable files and decompression bombs are refused before they land
            load_bytes(filename, bytes(data), Limits.from_settings(self.settings))
        except LoadError as exc:
            raise UploadError(f"{filename}: {exc}") from exc
        target = (corpus / filename).resolve()
        if target.parent != corpus:
            raise UploadError(f"invalid file name {name!r}")
        return target

    def remove_document(self, source: str) -> None:
        """Take one indexed document out of the corpus folder and the index, in one step.

        ``source`` is a name as :meth:`documents` lists it. Unknown names and names that
        would point outside the corpus folder raise :class:`CorpusError`; nothing changes.
        """
        from assistant.retrieve.embedding import embedder_id

        corpus = Path(self.settings.corpus_dir).resolve()
        name = str(source).replace("\\", "/").strip()
        with self._index_lock, write_lock(self.settings) as lock:
            # the manifest as committed now, not as this process last read it: another
            # process may have indexed since, and its files must stay
            self.store.begin_write(lock)
            manifest = self.store.manifest() if self.store.exists() else {}
            path = (corpus / name).resolve()
            if name not in manifest or not path.is_relative_to(corpus) or path == corpus:
                known = ", ".join(sorted(manifest)[:10]) or "none"
                raise CorpusError(
                    f"{name!r} is not an indexed document in {corpus} (indexed: {known})"
                )
            if path.exists() and not os.access(path.parent, os.W_OK):
                raise CorpusError(
                    f"cannot remove {name!r}: the corpus folder {path.parent} is read-only; "
                    "nothing was changed"
                )
            remaining = {s: e for s, e in manifest.items() if s != name}
            # the index first: from this commit on no answer can cite the file any more
            embed_id = self.store.embed_model() or embedder_id(self.embedder)
            self.store.commit(remaining, embed_id, dirty=True)
            path.unlink(missing_ok=True)
            try:
                self.store.garbage_collect(remaining)
                self.store.mark_dirty(False)
            except IndexStateError as exc:  # committed already: the next run cleans up
                logger.warning("the removed file's chunks stay until the next run: %s", exc)
        self._refresh()

    # -- asking --------------------------------------------------------------------------
    def retrieve(self, question: str, lang: str | None = None, k: int | None = None):
        """Hybrid retrieval; returns (hits best first, question embedding)."""
        return self.as_retriever().search(question, lang, k)

    def ask(self, question: str, history: Any = None) -> Answer:
        """Answer a question; the final result of :meth:`stream`."""
        return self.stream(question, history).answer

    def stream(
        self,
        question: str,
        history: Any = None,
        *,
        on_status: Callable[[Status], None] | None = None,
    ) -> AnswerStream:
        """The answer as it is produced: iterate for text pieces, then read ``.answer``.

        ``on_status`` is called with a :class:`Status` while a model is waited for
        (generative mode): show it, it is not part of the answer. Nothing runs (and no
        error is raised) before the stream is read.
        """
        return AnswerStream(self._answer_events(question, history), on_status)

    def _answer_events(self, question: Any, history: Any) -> Iterator[str | Status | Answer]:
        """Text pieces, waiting notes, then the Answer: what :class:`AnswerStream` sorts."""
        began = time.perf_counter()
        q = validate_question(question, self.settings.max_question_chars)
        turns = normalise_history(
            history,
            self.settings.history_turns,
            self.settings.history_turn_chars,
            self.settings.max_question_chars,
            self.settings.history_question_chars,
        )
        snapshot = self._state()  # no index, a corrupt one, another model: say so first
        answer = self._not_askable(q)
        if answer is not None:
            yield answer.text
            yield timed(answer, began)
            return
        lang = detect_language(q)
        streamed = False
        notice = ""
        if self.mode == "generative":
            generative = GenerativeAnswerer(self.settings, self.llm, stem=self._stem)
            try:
                pieces = generative.answer(q, lang, turns, lambda t: self.retrieve(t, lang)[0])
                for piece in pieces:
                    if isinstance(piece, Status):
                        yield piece
                    elif isinstance(piece, Answer):
                        if piece.outcome == "declined":
                            said = piece.text
                            piece = self._verify_decline(q, lang, piece)
                            if piece.text != said:  # the passages the model passed over
                                yield piece.text[len(said) :]
                        self._remember(piece)
                        yield timed(piece, began)
                        return
                    else:
                        streamed = True
                        yield piece
                return
            except LLMError as exc:
                if not self.settings.llm_fallback:
                    raise
                logger.warning("generative answer failed, answering offline: %s", exc)
                notice = FALLBACK_NOTICE[lang].format(why=exc.in_language(lang))
                if streamed:
                    yield "\n\n"  # set the fallback apart from what the model had sent
        with self._pinned_to(snapshot):
            ahead = self._embed_ahead(q)
            try:
                hits, q_vec = self._extractive_hits(q, lang, turns)
                # evidence in the terms of the documents the question is most likely about
                doc_lang = hits[0].chunk.lang if hits else None
                answer = self.extractive_answerer(doc_lang).answer(q, lang, hits, q_vec, ahead)
            finally:
                if ahead is not None:
                    ahead.cancel()  # not started yet (no hits, an error): leave it undone
        logger.debug(
            "%s (confidence %.2f) in %.0f ms: %r",
            answer.outcome,
            answer.confidence,
            1000 * (time.perf_counter() - began),
            q[:80],
        )
        self._remember(answer)
        if notice:
            answer.notice = notice
            answer.text = f"{notice}\n\n{answer.text}"
        yield from re.findall(r"\S+\s*", answer.text)
        yield timed(answer, began)

    def _verify_decline(self, q: str, lang: str, declined: Answer) -> Answer:
        """A model's "the documents do not say" is a claim about the whole corpus: where
        the topic judge finds the subject in the documents, the answer becomes a hedge
        that shows the closest passages (the model's words first)."""
        hits, q_vec = self.retrieve(q, lang)
        doc_lang = hits[0].chunk.lang if hits else None
        offline = self.extractive_answerer(doc_lang).answer(q, lang, hits, q_vec)
        if offline.outcome == "declined" or not offline.citations:
            return declined
        shown = offline.citations[:CLOSEST_PASSAGES]
        by_source = {h.chunk.source: h.chunk.lang for h in hits}
        passages = [(c.quote, by_source.get(c.source, lang)) for c in shown]
        text = phrases.hedge(lang, passages, lead=phrases.MODEL_HEDGE[lang])
        return Answer(
            f"{declined.text}\n\n{text}",
            shown,
            lang,
            self.mode,
            declined=True,
            retrieved=hits,
            confidence=offline.confidence,
            outcome="hedged",
            probability=offline.probability,
            closest=offline.closest,
        )

    def _embed_ahead(self, q: str):
        """The ablation texts of the documents' main language, embedded on a second core
        while this thread embeds the question and retrieves (about a third of an answer's
        time when done one after the other); None on one core."""
        from assistant.retrieve.embedding import cores

        if cores() < 2 or self.settings.query_threads != 1:
            return None  # a multi-threaded embedding takes every core: nothing to overlap
        return self.extractive_answerer().embed_ahead(q, _ahead_pool())

    def _not_askable(self, q: str) -> Answer | None:
        """A plain decline for what is no question or not in German or English."""
        lang = question_language(q)
        if lang == "other":
            return Answer(
                UNSUPPORTED_LANGUAGE, [], "other", self.mode, declined=True, confidence=1.0
            )
        if not has_words(q) or looks_like_code(q):
            lang = detect_language(q)
            return Answer(NOT_A_QUESTION[lang], [], lang, self.mode, declined=True, confidence=1.0)
        return None

    def _remember(self, answer: Answer) -> None:
        self._cited.remember(answer.text, [c.source for c in answer.citations])

    def _extractive_hits(self, q: str, lang: str, turns: list[dict]):
        """Passages for the extractive answer; a follow-up stays in the documents the
        previous answer cited and is found with the previous question's words."""
        hits, q_vec = self.retrieve(q, lang)
        previous = previous_question(turns)
        if previous is None:
            return hits, q_vec
        sources = self._cited.of(turns)
        snap = self._state()
        sources_text = (
            " ".join(c.text for c in self.store.iter_chunks(snap.manifest, sorted(sources)))
            if sources
            else ""
        )
        elsewhere = bool(sources) and new_anchors(q, sources_text, snap.lexicon.known)
        if not is_follow_up(q, turns, anchored_elsewhere=elsewhere):
            return hits, q_vec
        context_hits, _ = self.retrieve(f"{previous} {q}", lang, k=self.settings.candidates)
        if sources:
            context_hits = [h for h in context_hits if h.chunk.source in sources]
        known = {h.chunk.id for h in context_hits}
        extra = [
            h
            for h in hits
            if h.chunk.id not in known and (not sources or h.chunk.source in sources)
        ]
        return (context_hits + extra)[: self.settings.top_k], q_vec
