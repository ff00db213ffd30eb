"""Follow-up questions: what "he", "it" or "und wann?" refer to, and where to look for it.

A follow-up is answered from the documents the previous answer cited: "Und wann wurde er
gegründet?" after a question about one organisation must not quote the founding date of
another one from a different document. Pure functions plus a small bounded memory of
which sources each recent answer cited, so that plain-text histories (the browser, an
OpenAI-style message list) work too.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable

from assistant.answer.judge import anchors

_PRONOUN = re.compile(
    r"\b(er|sie|es|ihm|ihn|ihr|ihre[mnrs]?|sein[emnrs]?|dort|damals|dies[emnrs]?|dazu|davon|"
    r"daran|darüber|dabei|deren|dessen|he|she|it|they|him|her|his|its|their|them|there|this|"
    r"that|these|those)\b",
    re.I,
)
_CONTINUATION = re.compile(
    r"^\W*(und|and|also|auch|what about|und was|was ist mit|how about)\b", re.I
)


def previous_question(turns: list[dict]) -> str | None:
    for turn in reversed(turns):
        if turn["role"] == "user":
            return turn["content"]
    return None


def is_follow_up(question: str, turns: list[dict], anchored_elsewhere: bool = False) -> bool:
    """A question that leans on the conversation: it refers back ("er", "it", "und …?")
    or is too short to stand alone, and names nothing new that the earlier sources lack
    (``anchored_elsewhere``: its names occur in the corpus, but not in those sources)."""
    if previous_question(turns) is None or anchored_elsewhere:
        return False
    return bool(
        _PRONOUN.search(question) or _CONTINUATION.search(question) or len(question.split()) <= 3
    )


def new_anchors(question: str, sources_text: str, known: Callable[[str], bool]) -> bool:
    """Whether the question names something the corpus has but the earlier sources lack."""
    low = sources_text.lower()
    return any(known(a) and a not in low for a in anchors(question))


def _key(text: str) -> str:
    """Answer texts are matched on their words only: a UI may restyle markers and quotes."""
    words = re.findall(r"\w+", re.sub(r"<[^>]*>", " ", text).lower())[:60]
    return hashlib.sha1(" ".join(words).encode()).hexdigest()


class CitedSources:
    """Which files recent answers cited, by answer text; bounded, oldest dropped first."""

    def __init__(self, size: int = 512):
        self.size = size
        self._by_text: OrderedDict[str, list[str]] = OrderedDict()

    def remember(self, answer_text: str, sources: Iterable[str]) -> None:
        key = _key(answer_text)
        self._by_text[key] = list(dict.fromkeys(sources))
        self._by_text.move_to_end(key)
        while len(self._by_text) > self.size:
            self._by_text.popitem(last=False)

    def of(self, turns: list[dict]) -> list[str]:
        """Sources of the last assistant turn: its own "sources" key, else remembered."""
        for turn in reversed(turns):
            if turn["role"] != "assistant":
                continue
            given = turn.get("sources")
            if isinstance(given, list) and all(isinstance(s, str) for s in given):
                return given
            return self._by_text.get(_key(turn["content"]), [])
        return []
