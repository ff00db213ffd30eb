"""The public Python API: :class:`Assistant` composes the parts from one settings object.

The CLI, the Gradio UI and the llama-index engines use only this class, so every way in
behaves the same. It does none of the work itself: the answer pipeline
(``answer/pipeline.py``) answers, the corpus editor (``ingest/corpus.py``) uploads and
removes, indexing (``ingest/indexing.py``) indexes, the committed state
(``retrieve/state.py``) follows re-indexing done elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.generative import GenerativeAnswerer, build_llm, llm_name
from assistant.answer.pipeline import AnswerPipeline
from assistant.answer.types import Answer, AnswerStream, Status
from assistant.errors import UploadError
from assistant.feedback import FeedbackLog
from assistant.ingest.corpus import CorpusEditor
from assistant.ingest.indexing import IndexReport, Progress, complete_index, index_corpus
from assistant.ingest.uploads import UploadReport
from assistant.question.followup import FollowUpResolver
from assistant.question.history import normalise_history
from assistant.question.intake import validate_question
from assistant.retrieve.lexical import LanguageIndex
from assistant.retrieve.retriever import HybridRetriever, Snapshot, Translator
from assistant.retrieve.state import CommittedState
from assistant.retrieve.translation import DictionaryTranslator
from assistant.settings import Settings
from assistant.store.chunks import ChunkStore
from assistant.store.locking import WriteLock

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from assistant.engines import AssistantChatEngine, AssistantQueryEngine

__all__ = ["Assistant", "normalise_history", "validate_question"]

logger = logging.getLogger(__name__)


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
        self._index_lock = threading.RLock()
        self._finishing: threading.Thread | None = None  # see index(background=True)
        self.state = CommittedState(settings, lambda: self.store, self._embed_id)
        self.corpus = CorpusEditor(
            settings,
            self._index_lock,
            lambda: self.store,
            lambda progress, background, lock: self._index(progress, False, background, lock),
            self._embed_id,
            self.state.forget,
        )
        self._pipeline: AnswerPipeline | None = None

    # -- wiring --------------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from assistant.retrieve.embedding import build_embedder

            self._embedder = build_embedder(self.settings)
        return self._embedder

    def _embed_id(self) -> str:
        from assistant.retrieve.embedding import embedder_id

        return embedder_id(self.embedder)

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

    @property
    def pipeline(self) -> AnswerPipeline:
        """The answer's parts, composed once: retriever, follow-ups, readers."""
        if self._pipeline is None:
            generative = None
            if self.mode == "generative":
                generative = GenerativeAnswerer(self.settings, self.llm, stem=self._stem)
            self._pipeline = AnswerPipeline(
                self.settings,
                self.state,
                self.as_retriever(),
                self.extractive_answerer,
                self._resolver,
                generative,
            )
        return self._pipeline

    def _resolver(self, snapshot: Snapshot) -> FollowUpResolver:
        def source_text(sources: list[str]) -> str:
            return " ".join(c.text for c in self.store.iter_chunks(snapshot.manifest, sources))

        return FollowUpResolver(source_text, snapshot.lexicon.known)

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
            self.state.forget()
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

    def open(self) -> Snapshot:
        """Load the committed state (manifest and lexical index) now rather than on the
        first question; building the lexical index if the corpus changed since the last
        build. Raises :class:`IndexStateError` when there is no usable index."""
        return self.state.snapshot()

    def ensure_index(self, progress: Progress | None = None) -> IndexReport | None:
        """Index once if there is no index yet (first start); otherwise leave it alone,
        but finish in the background the sentence vectors a killed run left missing."""
        if self.store.exists() and self.store.manifest():
            if self.store.read_only:
                return None  # readers never write: the next writer finishes what is left
            manifest = self.store.manifest()
            if self.store.pending_sentences() or self.store.sources_without_sentences(manifest):
                self._complete_in_background()
            return None
        return self.index(progress)

    # -- llama-index ----------------------------------------------------------------------
    def as_retriever(self, top_k: int | None = None) -> HybridRetriever:
        """A llama-index ``BaseRetriever``: hybrid, language-aware chunk retrieval that
        follows re-indexing done elsewhere."""
        return HybridRetriever(
            self.settings, self.store, self.embedder, self.state.snapshot, top_k, self.translator
        )

    def as_query_engine(self, documents: list[str] | None = None) -> AssistantQueryEngine:
        """A llama-index query engine built from the pipeline's parts; source nodes are
        the cited passages; ``documents`` scopes it."""
        from assistant.engines import AssistantQueryEngine

        return AssistantQueryEngine.from_pipeline(self.pipeline, documents)

    def as_chat_engine(self, documents: list[str] | None = None) -> AssistantChatEngine:
        """A llama-index chat engine with follow-ups; streams sync and async."""
        from assistant.engines import AssistantChatEngine

        return AssistantChatEngine(self.pipeline, documents=documents)

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
        return self.state.snapshot().lexicon.for_language(lang)

    # -- the corpus ----------------------------------------------------------------------
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
        (``background``: as :meth:`index`). See :class:`~assistant.ingest.corpus.CorpusEditor`."""
        return self.corpus.add_documents(files, progress, replace, background)

    def add_document(
        self, name: str, data: bytes, progress: Progress | None = None, replace: bool = False
    ) -> UploadReport:
        """One upload; raises :class:`UploadError` if it is rejected."""
        report = self.add_documents([(name, data)], progress, replace=replace)
        if report.rejected:
            raise UploadError(report.rejected[0][1])
        return report

    def remove_document(self, source: str) -> None:
        """Take one indexed document out of the corpus folder and the index, in one step;
        unknown names raise :class:`CorpusError` and change nothing."""
        self.corpus.remove_document(source)

    # -- asking --------------------------------------------------------------------------
    def retrieve(
        self,
        question: str,
        lang: str | None = None,
        k: int | None = None,
        documents: list[str] | None = None,
    ):
        """Hybrid retrieval; returns (hits best first, question embedding)."""
        return self.pipeline.retrieve(question, lang, k, documents)

    def ask(self, question: str, history: Any = None, *, documents: Any = None) -> Answer:
        """Answer a question; the final result of :meth:`stream`."""
        return self.stream(question, history, documents=documents).answer

    def stream(
        self,
        question: str,
        history: Any = None,
        *,
        documents: Any = None,
        on_status: Callable[[Status], None] | None = None,
    ) -> AnswerStream:
        """The answer as it is produced: iterate for text pieces, then read ``.answer``.

        ``history``: earlier turns (each assistant turn may carry ``"sources"``, the files
        it cited, as ``Answer.to_message()`` gives them); ``documents``: names as
        :meth:`documents` lists them, retrieval stays inside them (None: all).
        ``on_status`` is called with a :class:`Status` while a model is waited for
        (generative mode): show it, it is not part of the answer. Nothing runs (and no
        error is raised) before the stream is read.
        """
        return AnswerStream(self.pipeline.events(question, history, documents), on_status)

    # -- feedback ------------------------------------------------------------------------
    def record_feedback(
        self,
        question: str,
        answer: dict | Answer,
        rating: int,
        comment: str = "",
        user: str = "",
    ) -> None:
        """Keep a user's rating (+1 or -1) of an answer in ``<index_dir>/feedback.jsonl``,
        so `assistant eval --feedback` can ask that question again. ``answer``: the
        :class:`Answer`, its ``to_dict()``, or a dict with answer, outcome, confidence and
        citations. A bad rating or answer is a :class:`FeedbackError`."""
        FeedbackLog.for_settings(self.settings).append(question, answer, rating, comment, user)

    # -- documents for the UI ------------------------------------------------------------
    def document_text(self, source: str) -> dict:
        """One indexed document's text as the index read it (``Citation.start/end`` point
        into it): ``{"source", "title", "text", "pages"}``, ``pages`` the offsets where
        each PDF page begins (empty otherwise); ``title`` the index's, else the opening
        words, never the file name. Unknown or removed: :class:`CorpusError`."""
        import re
        from pathlib import Path

        from assistant.errors import CorpusError
        from assistant.ingest.loaders import Limits, LoadError, load_bytes

        name = str(source).replace("\\", "/").strip()
        corpus = Path(self.settings.corpus_dir).resolve()
        entry = {d["source"]: d for d in self.documents()}.get(name)
        path = (corpus / name).resolve()
        if entry is None or not path.is_relative_to(corpus) or not path.is_file():
            raise CorpusError(f"{name!r} is not an indexed document (removed, or never indexed)")
        try:
            doc = load_bytes(name, path.read_bytes(), Limits.from_settings(self.settings))
        except (OSError, LoadError) as exc:
            raise CorpusError(f"cannot read {name!r}: {exc}") from exc
        title = " ".join(str(entry.get("title") or doc.title or "").split())
        if not title:  # no heading or metadata title: the opening words
            opening = " ".join(re.split(r"(?<=[.!?])\s", doc.text.strip(), maxsplit=1)[0].split())
            title = opening if len(opening) <= 70 else opening[:69].rsplit(" ", 1)[0] + " …"
        return {"source": name, "title": title, "text": doc.text, "pages": list(doc.page_starts)}
