"""What every answerer returns: an :class:`Answer` whose citations quote the exact
passage, and the shared wording of a decline.

The answerers themselves live in ``extractive.py`` (offline default) and
``generative.py`` (any OpenAI-compatible server).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .citations import Citation
from .retrieval import Hit

DECLINE = {
    "de": "Dazu steht nichts in den Dokumenten, daher kann ich die Frage nicht beantworten.",
    "en": "The documents do not say, so I cannot answer that question.",
}
LANG_NAME = {"de": "German", "en": "English"}
UNCITED_NOTICE = {
    "de": "Hinweis: Das Modell hat keine Quelle angegeben; diese Antwort ist nicht belegt.",
    "en": "Note: the model cited no source; this answer is not backed by the documents.",
}


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
            "citations": [c.to_dict() for c in self.citations],
        }


@dataclass
class Status:
    """A sign of life while an answer is being waited for (opt-in: ``stream(status=True)``).

    ``kind`` is "waiting" (no text from the model yet) or "retrying"; ``text`` is in the
    question's language; ``seconds`` since the answer began.
    """

    kind: str
    text: str
    seconds: float = 0.0


def make_citation(n: int, hit: Hit, start: int, end: int, score: float) -> Citation:
    c = hit.chunk
    return Citation(
        n=n,
        source=c.source,
        start=start,
        end=end,
        quote=c.text[start - c.start : end - c.start],
        score=float(score),
        page=c.page_at(start),  # the quote's page, not the chunk's first
        context=c.text,
        context_start=c.start,
    )


def timed(answer: Answer, began: float) -> Answer:
    answer.seconds = time.perf_counter() - began
    return answer
