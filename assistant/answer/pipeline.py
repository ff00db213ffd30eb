"""One answer, stage by stage: question -> follow-up -> retrieval -> reader -> outcome.

Every way in (the Python API, the CLI, the UI, the llama-index engines) runs this, so they
behave the same. The stages are parts passed in: the retriever (a llama-index
``BaseRetriever``, called through ``retrieve()`` so instrumentation sees real traffic), the
follow-up resolver, the offline reader and, when configured, the generative one. The
outcome (answered / hedged / not in the documents) is each reader's own fitted decision;
a model's "the documents do not say" is checked against the offline judge here.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from assistant.answer import phrases
from assistant.answer.extractive import CLOSEST_PASSAGES, ExtractiveAnswerer
from assistant.answer.generative import GenerativeAnswerer
from assistant.answer.phrases import FALLBACK_NOTICE, NOT_A_QUESTION, UNSUPPORTED_LANGUAGE
from assistant.answer.types import Answer, Status, timed
from assistant.errors import LLMError, QuestionError
from assistant.question.followup import FollowUp, FollowUpResolver
from assistant.question.history import normalise_history
from assistant.question.intake import not_askable, validate_question
from assistant.question.language import detect_language
from assistant.retrieve.retriever import Hit, HybridRetriever, Search, Snapshot, hit_of
from assistant.settings import Settings

__all__ = ["AnswerPipeline", "State"]

logger = logging.getLogger(__name__)

Event = str | Status | Answer

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


class State(Protocol):
    """The committed state (``retrieve.state.CommittedState``)."""

    def snapshot(self) -> Snapshot: ...

    def pinned(self, snapshot: Snapshot): ...


def check_scope(documents: object, snapshot: Snapshot) -> list[str]:
    """The documents a question is scoped to ([] for all); a clear error for names the
    index does not list."""
    if documents is None:
        return []
    if isinstance(documents, str) or not isinstance(documents, (list, tuple, set)):
        raise QuestionError("documents must be a list of document names, or None for all")
    names = [str(d) for d in documents]
    unknown = [n for n in names if n not in snapshot.manifest]
    if unknown:
        known = ", ".join(sorted(snapshot.manifest)[:10]) or "none"
        raise QuestionError(f"not an indexed document: {', '.join(unknown)} (indexed: {known})")
    return list(dict.fromkeys(names))


_RANK = {"answered": 2, "hedged": 1, "declined": 0}


def _stronger(a: Answer, b: Answer) -> bool:
    """Whether answer ``a`` has more evidence than ``b``: a better outcome, else a higher
    probability that its passage answers."""
    return (_RANK.get(a.outcome, 0), a.probability) > (_RANK.get(b.outcome, 0), b.probability)


class AnswerPipeline:
    """The parts of an answer, composed; :meth:`events` runs them for one question.

    ``reader(lang)`` is the offline answerer reading evidence in ``lang``'s terms (the
    documents' main language if None); ``generative`` the model answerer (None offline);
    ``resolver(snapshot)`` the follow-up resolver over that state.
    """

    def __init__(
        self,
        settings: Settings,
        state: State,
        retriever: HybridRetriever,
        reader: Callable[[str | None], ExtractiveAnswerer],
        resolver: Callable[[Snapshot], FollowUpResolver],
        generative: GenerativeAnswerer | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.retriever = retriever
        self.reader = reader
        self.resolver = resolver
        self.generative = generative

    @property
    def mode(self) -> str:
        return "generative" if self.generative is not None else "extractive"

    def retrieve(
        self,
        question: str,
        lang: str | None = None,
        k: int | None = None,
        sources: list[str] | None = None,
        q_vec: list[float] | None = None,
    ) -> tuple[list[Hit], list[float]]:
        """Hits best first and the question's embedding, through ``retrieve()``."""
        q_vec = q_vec if q_vec is not None else self.retriever.embed(question)
        query = Search(question, embedding=q_vec, lang=lang, k=k, sources=sources)
        return [hit_of(n) for n in self.retriever.retrieve(query)], q_vec

    def events(
        self, question: object, history: object, documents: object = None
    ) -> Iterator[Event]:
        """Text pieces, waiting notes, then the Answer (what ``AnswerStream`` sorts)."""
        began = time.perf_counter()
        q = validate_question(question, self.settings.max_question_chars)
        s = self.settings
        turns = normalise_history(
            history,
            s.history_turns,
            s.history_turn_chars,
            s.max_question_chars,
            s.history_question_chars,
        )
        snapshot = self.state.snapshot()  # no index, a corrupt one, another model: say so
        scope = check_scope(documents, snapshot)
        fixed = self._fixed_reply(q, bool(turns))
        if fixed is not None:
            yield fixed.text
            yield timed(fixed, began)
            return
        lang = detect_language(q)
        # pinned only around work that does not yield: a generator may be resumed on
        # another thread (a web server's pool), and the pin is per thread
        with self.state.pinned(snapshot):
            follow = self.resolver(snapshot).resolve(q, turns)
        answer = yield from self._answer(q, lang, turns, scope, follow, snapshot)
        answer.scope = scope
        logger.debug(
            "%s (confidence %.2f) in %.0f ms: %r",
            answer.outcome,
            answer.confidence,
            1000 * (time.perf_counter() - began),
            q[:80],
        )
        yield timed(answer, began)

    def _answer(
        self,
        q: str,
        lang: str,
        turns: list[dict],
        scope: list[str],
        follow: FollowUp | None,
        snapshot: Snapshot,
    ) -> Iterator[Event]:
        """Yields the text; returns the Answer (generative first, offline on failure)."""
        notice = ""
        if self.generative is not None:
            streamed = False
            pieces = self._generative(q, lang, turns, scope)
            try:
                while True:
                    piece = next(pieces)
                    streamed = streamed or isinstance(piece, str)
                    yield piece
            except StopIteration as done:
                return done.value
            except LLMError as exc:
                if not self.settings.llm_fallback:
                    raise
                logger.warning("generative answer failed, answering offline: %s", exc)
                notice = FALLBACK_NOTICE[lang].format(why=exc.in_language(lang))
                if streamed:
                    yield "\n\n"  # set the fallback apart from what the model had sent
        with self.state.pinned(snapshot):  # one committed state for the whole answer
            answer = self._extractive(q, lang, scope, follow)
        if notice:
            answer.notice = notice
            answer.text = f"{notice}\n\n{answer.text}"
        yield from re.findall(r"\S+\s*", answer.text)
        return answer

    def _generative(
        self, q: str, lang: str, turns: list[dict], scope: list[str]
    ) -> Iterator[Event]:
        assert self.generative is not None
        within = scope or None
        pieces = self.generative.answer(
            q, lang, turns, lambda text: self.retrieve(text, lang, sources=within)[0]
        )
        for piece in pieces:
            if isinstance(piece, Answer):
                if piece.outcome == "declined":
                    said = piece.text
                    piece = self._verify_decline(q, lang, piece, scope)
                    if piece.text != said:  # the passages the model passed over
                        yield piece.text[len(said) :]
                return piece
            yield piece
        raise LLMError("the model's answer ended without a result")

    def _extractive(self, q: str, lang: str, scope: list[str], follow: FollowUp | None) -> Answer:
        """The offline answer; a follow-up is found in the documents the previous answer
        cited, and read both as asked and as its standalone question: the reading with
        the stronger evidence answers ("Wer ist sie?" needs the name; "Mit wem sprach
        er?" is answered by a sentence that does not repeat it)."""
        asked = follow.question if follow else q
        ahead = self._embed_ahead(asked)
        try:
            hits, q_vec = self._hits(asked, lang, scope, follow)
            # evidence in the terms of the documents the question is most likely about
            doc_lang = hits[0].chunk.lang if hits else None
            reader = self.reader(doc_lang)
            answer = reader.answer(asked, lang, hits, q_vec, ahead)
            if asked != q:
                as_asked = reader.answer(q, lang, hits, self.retriever.embed(q))
                if _stronger(as_asked, answer):
                    answer = as_asked
            return answer
        finally:
            if ahead is not None:
                ahead.cancel()  # not started yet (no hits, an error): leave it undone

    def _hits(
        self, q: str, lang: str, scope: list[str], follow: FollowUp | None
    ) -> tuple[list[Hit], list[float]]:
        within = scope or None
        if follow is None:
            return self.retrieve(q, lang, sources=within)
        cited = [s for s in follow.sources if not scope or s in scope] or within
        q_vec = self.retriever.embed(q)
        if follow.search == q:
            return self.retrieve(q, lang, sources=cited, q_vec=q_vec)
        hits, _ = self.retrieve(follow.search, lang, sources=cited)
        return hits, q_vec

    def _verify_decline(self, q: str, lang: str, declined: Answer, scope: list[str]) -> Answer:
        """A model's "the documents do not say" is a claim about the whole corpus: where
        the offline judge finds the subject in the documents, the answer becomes a hedge
        that shows the closest passages (the model's words first)."""
        hits, q_vec = self.retrieve(q, lang, sources=scope or None)
        doc_lang = hits[0].chunk.lang if hits else None
        offline = self.reader(doc_lang).answer(q, lang, hits, q_vec)
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

    def _embed_ahead(self, q: str) -> Future | None:
        """The ablation texts of the documents' main language, embedded on a second core
        while this thread embeds the question and retrieves (about a third of an answer's
        time when done one after the other); None on one core."""
        from assistant.retrieve.embedding import cores

        if cores() < 2 or self.settings.query_threads != 1:
            return None  # a multi-threaded embedding takes every core: nothing to overlap
        return self.reader(None).embed_ahead(q, _ahead_pool())

    def _fixed_reply(self, q: str, conversation: bool) -> Answer | None:
        """A plain decline for what is no question or not in German or English."""
        why = not_askable(q, conversation)
        if why is None:
            return None
        kind, lang = why
        text = UNSUPPORTED_LANGUAGE if kind == "language" else NOT_A_QUESTION[lang]
        return Answer(text, [], lang, self.mode, declined=True, confidence=1.0)
