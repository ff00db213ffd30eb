"""The generative answerer: any llama-index LLM writes the answer, by default an
OpenAI-compatible server through llama-index's ``OpenAILike``.

Documents are untrusted: the prompt fences them off as data the model must not take
orders from, and markers that point at no source are removed, also while streaming.
The server is untrusted too: whatever goes wrong (HTTP errors, a body that is not JSON,
a broken stream, nothing at all, no answer in time) becomes an :class:`LLMError` with
a message in English and German, within one deadline for the whole answer.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from difflib import SequenceMatcher
from typing import Any

from assistant.answer.citations import (
    Citation,
    MarkerStreamFilter,
    answer_sentences,
    answer_words,
    cited_numbers,
    strip_invalid_markers,
)
from assistant.answer.citer import make_citation, narrow_quote
from assistant.answer.phrases import DECLINE, UNCITED_NOTICE, WAITING
from assistant.answer.prompt import REWRITE_PROMPT, build_messages
from assistant.answer.types import Answer, Status
from assistant.errors import ConfigError, LLMError
from assistant.retrieve.lexical import tokenize
from assistant.retrieve.retriever import Hit
from assistant.settings import Settings

logger = logging.getLogger(__name__)

STATUS_EVERY = 2.0  # seconds between "still waiting" statuses before the first text
ANSWERED_CONFIDENCE = 0.6  # below: the answer is "hedged"


# -- what the model wrote -------------------------------------------------------------------


def is_decline(text: str) -> bool:
    """The model said the decline sentence (in either language), perhaps with a few
    words around it, or nothing at all."""
    words = answer_words(text)
    if not words:
        return True
    for sentence in DECLINE.values():
        expected = answer_words(sentence)
        if words[: len(expected)] == expected and len(words) <= len(expected) + 8:
            return True
        if SequenceMatcher(None, words, expected).ratio() >= 0.8:
            return True
    return False


def answer_confidence(text: str, citations: dict[int, Citation], stem) -> float:
    """0-1: the share of answer sentences that carry a valid citation, weighted by how
    many of those citations quote a passage sharing terms with the claim."""
    sentences = answer_sentences(text)
    if not sentences or not citations:
        return 0.0
    cited = pairs = supported = 0
    for sentence in sentences:
        numbers = [n for n in cited_numbers(sentence) if n in citations]
        if not numbers:
            continue
        cited += 1
        claim = set(stem(tokenize(strip_invalid_markers(sentence, set()))))
        for n in numbers:
            pairs += 1
            supported += bool(claim & set(stem(tokenize(citations[n].quote))))
    if not pairs:
        return 0.0
    return round(cited / len(sentences) * (0.5 + 0.5 * supported / pairs), 3)


# -- the LLM --------------------------------------------------------------------------------


def build_llm(settings: Settings):
    """The OpenAI-compatible LLM from the settings; retries and the deadline are ours."""
    from llama_index.core.callbacks import CallbackManager
    from llama_index.llms.openai_like import OpenAILike

    if not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError(
            "generative answers need a model: set OPENAI_BASE_URL to an OpenAI-compatible "
            "server (e.g. http://localhost:11434/v1 for Ollama) or OPENAI_API_KEY for OpenAI; "
            "nothing was sent anywhere"
        )
    try:
        return OpenAILike(
            model=settings.llm_model,
            api_base=settings.openai_base_url or "https://api.openai.com/v1",
            api_key=settings.openai_api_key or "not-needed",
            is_chat_model=True,
            temperature=0.0,
            max_retries=0,  # retried here, inside the deadline
            timeout=settings.llm_timeout,
            callback_manager=CallbackManager([]),
        )
    except ValueError as exc:
        raise ConfigError(f"cannot use model {settings.llm_model!r}: {exc}") from exc


def llm_name(llm: Any) -> str:
    try:
        return str(llm.metadata.model_name)
    except Exception:
        return type(llm).__name__


def _speaker(llm: Any) -> tuple[str, str]:
    """Who failed, in English and German: a server by its address, else the LLM class."""
    base = getattr(llm, "api_base", None)
    if isinstance(base, str) and base:
        return f"the LLM server at {base}", f"Der LLM-Server unter {base}"
    name = type(llm).__name__
    return f"the language model {name}", f"Das Sprachmodell {name}"


def describe_failure(exc: BaseException, llm: Any) -> LLMError:
    """Any exception from the LLM as an :class:`LLMError` a user can act on."""
    import httpx
    import openai
    import pydantic

    if isinstance(exc, LLMError):
        return exc
    en, de = _speaker(llm)
    if isinstance(exc, openai.AuthenticationError):
        return LLMError(
            f"{en} refused the API key (HTTP 401); check OPENAI_API_KEY",
            de=f"{de} hat den API-Schlüssel abgelehnt (HTTP 401); bitte OPENAI_API_KEY prüfen",
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return LLMError(
            f"{en} refused access (HTTP 403); check OPENAI_API_KEY and ASSISTANT_LLM_MODEL",
            de=f"{de} hat den Zugriff verweigert (HTTP 403); bitte OPENAI_API_KEY und "
            "ASSISTANT_LLM_MODEL prüfen",
        )
    if isinstance(exc, openai.RateLimitError):
        return LLMError(
            f"{en} is rate limiting (HTTP 429)",
            de=f"{de} begrenzt die Anfragen (HTTP 429)",
            transient=True,
        )
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        hint_en = hint_de = ""
        if code == 404:
            hint_en = "; check ASSISTANT_LLM_MODEL and OPENAI_BASE_URL"
            hint_de = "; bitte ASSISTANT_LLM_MODEL und OPENAI_BASE_URL prüfen"
        return LLMError(
            f"{en} answered HTTP {code}{hint_en}",
            de=f"{de} antwortete mit HTTP {code}{hint_de}",
            transient=code >= 500 or code in (408, 409),
        )
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)):
        return LLMError(
            f"{en} timed out", de=f"{de} hat nicht rechtzeitig geantwortet", transient=True
        )
    if isinstance(exc, (openai.APIConnectionError, httpx.ConnectError, ConnectionError)):
        return LLMError(f"{en} cannot be reached", de=f"{de} ist nicht erreichbar", transient=True)
    if isinstance(exc, httpx.TransportError):
        return LLMError(
            f"{en} broke off the answer", de=f"{de} hat die Antwort abgebrochen", transient=True
        )
    kind = type(exc).__name__
    if isinstance(
        exc,
        (
            json.JSONDecodeError,
            openai.APIResponseValidationError,
            pydantic.ValidationError,
            AttributeError,
            KeyError,
            IndexError,
            TypeError,
        ),
    ):
        return LLMError(
            f"{en} sent an invalid answer ({kind})",
            de=f"{de} hat eine ungültige Antwort geschickt ({kind})",
        )
    detail = " ".join(str(exc).split())[:200]
    return LLMError(
        f"{en} failed ({kind}: {detail})", de=f"{de} ist fehlgeschlagen ({kind}: {detail})"
    )


class _Clock:
    """The deadline for one answer; it starts with the first call to the model, so
    retrieval (and loading the embedding model) does not use up the model's time."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.began: float | None = None

    def start(self) -> None:
        if self.began is None:
            self.began = time.monotonic()

    @property
    def deadline(self) -> float:
        self.start()
        return self.began + self.seconds

    @property
    def elapsed(self) -> float:
        self.start()
        return time.monotonic() - self.began


def _chat_messages(messages: list[dict]):
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role=m["role"], content=m["content"]) for m in messages]


class GenerativeAnswerer:
    """Asks a llama-index LLM, streaming, with retries and one deadline for the answer."""

    mode = "generative"

    def __init__(self, settings: Settings, llm: Any, stem=None):
        self.settings = settings
        self.llm = llm
        self.stem = stem or (lambda words: words)

    # -- talking to the model ------------------------------------------------------------
    def _chat_text(self, messages: list[dict]) -> Iterator[str]:
        response = self.llm.chat(_chat_messages(messages))
        yield response.message.content or ""

    def _stream_text(self, messages: list[dict]) -> Iterator[str]:
        seen = ""
        for response in self.llm.stream_chat(_chat_messages(messages)):
            delta = response.delta
            if delta is None:  # LLMs that only send the text so far
                content = response.message.content or ""
                delta = content[len(seen) :] if content.startswith(seen) else content
            seen += delta
            if delta:
                yield delta

    def _pump(
        self, produce: Callable[[], Iterator[str]], clock: _Clock, lang: str
    ) -> Iterator[str | Status]:
        """Run one model call in a thread; yield its text, a status every few seconds
        while none has come, and give up at the deadline (the thread is abandoned)."""
        items: queue.Queue = queue.Queue()
        cancel = threading.Event()

        def run() -> None:
            try:
                for piece in produce():
                    if cancel.is_set():
                        return
                    items.put(("text", piece))
                items.put(("end", None))
            except BaseException as exc:  # handed to the consumer, never lost
                items.put(("error", exc))

        threading.Thread(target=run, name="llm-call", daemon=True).start()
        deadline = clock.deadline
        got_text = False
        next_status = time.monotonic() + STATUS_EVERY
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise self._too_late(got_text)
                wait = deadline - now if got_text else min(deadline, next_status) - now
                try:
                    kind, value = items.get(timeout=max(wait, 0.01))
                except queue.Empty:
                    if not got_text and time.monotonic() >= next_status:
                        next_status += STATUS_EVERY
                        yield self._waiting(lang, clock)
                    continue
                if kind == "text":
                    got_text = True
                    yield value
                elif kind == "end":
                    return
                else:
                    raise describe_failure(value, self.llm) from value
        finally:
            cancel.set()

    def _too_late(self, got_text: bool) -> LLMError:
        en, de = _speaker(self.llm)
        limit = f"{self.settings.llm_timeout:g} s"
        if got_text:
            return LLMError(
                f"{en} did not finish within {limit}",
                de=f"{de} ist nicht innerhalb von {limit} fertig geworden",
            )
        return LLMError(
            f"{en} did not answer within {limit}",
            de=f"{de} hat nicht innerhalb von {limit} geantwortet",
        )

    def _waiting(self, lang: str, clock: _Clock) -> Status:
        seconds = clock.elapsed
        name, limit = llm_name(self.llm), f"{self.settings.llm_timeout:g}"
        text = WAITING[lang].format(name=name, seconds=seconds, limit=limit)
        return Status("waiting", text, seconds)

    def _call(
        self, produce: Callable[[], Iterator[str]], clock: _Clock, lang: str
    ) -> Iterator[str | Status]:
        """One model call with retries of transient failures before any text arrived."""
        attempt = 0
        while True:
            got_text = False
            yield self._waiting(lang, clock)
            try:
                for item in self._pump(produce, clock, lang):
                    got_text = got_text or isinstance(item, str)
                    yield item
                return
            except LLMError as exc:
                pause = 0.5 * 2**attempt
                retry = (
                    exc.transient
                    and not got_text
                    and attempt < self.settings.llm_max_retries
                    and time.monotonic() + pause < clock.deadline
                )
                if not retry:
                    raise
                attempt += 1
                logger.info("%s; retry %d in %.1f s", exc, attempt, pause)
                of = self.settings.llm_max_retries + 1
                text = (
                    f"{exc.in_language('de')}; neuer Versuch ({attempt + 1} von {of})"
                    if lang == "de"
                    else f"{exc}; trying again (attempt {attempt + 1} of {of})"
                )
                yield Status("retrying", text, clock.elapsed)
                time.sleep(pause)

    # -- answering -----------------------------------------------------------------------
    def answer(
        self,
        question: str,
        lang: str,
        history: list[dict],
        retrieve: Callable[[str], list[Hit]],
    ) -> Iterator[str | Status | Answer]:
        """Rewrite a follow-up, retrieve, then yield statuses, text pieces and the final
        :class:`Answer`; an :class:`LLMError` when the model fails or runs out of time."""
        clock = _Clock(self.settings.llm_timeout)
        search = question
        if history:
            messages = [{"role": "system", "content": REWRITE_PROMPT}, *history]
            messages.append({"role": "user", "content": question})
            rewritten = ""
            for item in self._call(lambda: self._chat_text(messages), clock, lang):
                if isinstance(item, Status):
                    yield item
                else:
                    rewritten += item
            rewritten = rewritten.strip()
            if 0 < len(rewritten) <= 2 * len(question) + 400:
                search = rewritten
        hits = retrieve(search)
        if not hits:
            yield DECLINE[lang]
            yield Answer(DECLINE[lang], [], lang, self.mode, declined=True)
            return
        messages = build_messages(search, lang, hits)
        filt = MarkerStreamFilter(set(range(1, len(hits) + 1)))
        raw = ""
        for item in self._call(lambda: self._stream_text(messages), clock, lang):
            if isinstance(item, Status):
                yield item
                continue
            raw += item
            shown = filt.feed(item)
            if shown:
                yield shown
        if not raw.strip():
            en, de = _speaker(self.llm)
            raise LLMError(
                f"{en} sent an invalid answer (empty)",
                de=f"{de} hat eine ungültige Antwort geschickt (leer)",
            )
        tail = filt.flush()
        if tail:
            yield tail
        answer = self.finish(raw, lang, hits)
        answer.retrieved = hits
        yield answer

    def finish(self, raw: str, lang: str, hits: list[Hit]) -> Answer:
        """The Answer for the model's text: a decline, or citations narrowed to the
        sentence that backs each claim, with a confidence from how well they do."""
        text = strip_invalid_markers(raw.strip(), set(range(1, len(hits) + 1)))
        if is_decline(text):
            return Answer(
                text or DECLINE[lang], [], lang, self.mode, declined=True, outcome="declined"
            )
        citations = []
        for n in cited_numbers(text):
            hit = hits[n - 1]
            start, end = narrow_quote(text, n, hit, self.stem)
            citations.append(make_citation(n, hit, start, end, hit.dense))
        confidence = answer_confidence(text, {c.n: c for c in citations}, self.stem)
        hedged = confidence < ANSWERED_CONFIDENCE
        answer = Answer(
            text,
            citations,
            lang,
            self.mode,
            declined=hedged,
            confidence=confidence,
            outcome="hedged" if hedged else "answered",
        )
        if not citations:  # an answer nobody can check says so
            answer.notice = UNCITED_NOTICE[lang]
            answer.text = f"{answer.text}\n\n{UNCITED_NOTICE[lang]}"
        return answer
