"""What every answerer returns: an :class:`Answer` whose citations quote the exact
passage, and the :class:`AnswerStream` that delivers it piece by piece.

The answerers themselves live in ``extractive.py`` (offline default) and
``generative.py`` (any OpenAI-compatible server).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from assistant.answer.citations import Citation
from assistant.retrieve.retriever import Hit


@dataclass
class Answer:
    """An answer with its numbered citations; ``to_dict`` is the CLI's --json object."""

    text: str
    citations: list[Citation]
    language: str
    mode: str  # "extractive" | "generative"
    declined: bool = False  # true for a hedge and for a plain decline
    notice: str = ""  # e.g. why the generative path fell back to extractive
    seconds: float = 0.0
    retrieved: list[Hit] = field(default_factory=list, repr=False)
    confidence: float = 0.0  # 0-1: how sure the answerer is that the citations answer
    # "answered": the citations answer the question; "hedged": not answered directly, the
    # closest passage is shown as a hint; "declined": nothing relevant was found
    outcome: str = "answered"
    # the best passage found and the answerer's belief in it, also when it was not quoted
    # (what `assistant eval` needs to draw the curve of other decision points)
    probability: float = field(default=0.0, repr=False)
    closest: Citation | None = field(default=None, repr=False)
    scope: list[str] = field(default_factory=list)  # the documents asked about ([]: all)

    def __post_init__(self) -> None:
        if self.declined and self.outcome == "answered":
            self.outcome = "declined"

    def to_message(self) -> dict:
        """This answer as a chat-history entry that remembers what it cited."""
        return {
            "role": "assistant",
            "content": self.text,
            "sources": list(dict.fromkeys(c.source for c in self.citations)),
        }

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "language": self.language,
            "mode": self.mode,
            "outcome": self.outcome,
            "declined": self.declined,
            "confidence": round(float(self.confidence), 3),
            "notice": self.notice,
            "scope": list(self.scope),
            "citations": [c.to_dict() for c in self.citations],
        }


@dataclass
class Status:
    """A sign of life while an answer is being waited for (``stream(on_status=…)``).

    ``kind`` is "waiting" (no text from the model yet) or "retrying"; ``text`` is in the
    question's language; ``seconds`` since the answer began.
    """

    kind: str
    text: str
    seconds: float = 0.0


class AnswerStream:
    """An answer as it is produced: iterate for the text pieces, then read :attr:`answer`.

    The one typed result of ``Assistant.stream``, shaped like llama-index's
    ``StreamingResponse`` (``response_gen``, then the whole response), so no caller has to
    tell text from the final answer. Reading :attr:`answer` first consumes the rest.
    Waiting notes (:class:`Status`) go to ``on_status`` and never into the text.
    """

    def __init__(
        self,
        events: Iterator[str | Status | Answer],
        on_status: Callable[[Status], None] | None = None,
    ):
        self._events = events
        self._on_status = on_status
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while True:
            event = next(self._events)  # StopIteration ends the text
            if isinstance(event, str):
                return event
            if isinstance(event, Status):
                if self._on_status is not None:
                    self._on_status(event)
            else:
                self._answer = event

    def close(self) -> None:
        """Stop early (a client went away): the answerer's work is wound up now."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> AnswerStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def response_gen(self) -> Iterator[str]:
        """The text pieces (llama-index's name for them)."""
        return self

    @property
    def answer(self) -> Answer:
        """The final answer with its citations, once the text is through."""
        for _ in self:
            pass
        if self._answer is None:  # every answerer ends with its Answer
            raise RuntimeError("the answer stream ended without an answer")
        return self._answer


def timed(answer: Answer, began: float) -> Answer:
    answer.seconds = time.perf_counter() - began
    return answer
