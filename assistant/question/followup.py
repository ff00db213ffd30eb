"""Follow-up questions: what "he", "it" or "und wann?" refer to, and where to look for it.

A follow-up is answered from the documents the previous answer cited: "Und wann wurde er
gegründet?" after a question about one organisation must not quote the founding date of
another one from a different document. The cited documents travel with the history
(each assistant turn's ``"sources"``), so a follow-up works the same after a server
restart and from a conversation restored in the browser. Rules, no model: a pronoun
becomes the conversation's focus (the name the last answer gave), a bare question word
takes over the previous question ("Und wann?" after "Mit wem sprach X?" asks "Wann
sprach X?").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.answer.judge import anchors
from assistant.answer.kinds import name_part
from assistant.question.language import QUESTION_WORDS

__all__ = ["FollowUp", "FollowUpResolver", "is_follow_up", "previous_question"]

_PRONOUN = re.compile(
    r"\b(er|sie|es|ihm|ihn|ihr|ihre[mnrs]?|sein[emnrs]?|dort|damals|dies[emnrs]?|dazu|davon|"
    r"daran|darüber|dabei|deren|dessen|he|she|it|they|him|her|his|its|their|them|there|this|"
    r"that|these|those)\b",
    re.I,
)
# the pronouns that stand for the focus itself (not "dort", "damals", "this")
_PERSONAL = re.compile(r"\b(er|sie|es|ihn|ihm|he|she|it|him|they|them)\b", re.I)
_CONTINUATION = re.compile(
    r"^\W*(und|and|also|auch|what about|und was|was ist mit|how about)\b", re.I
)
_BOLD = re.compile(r"\*\*([^*]{2,80})\*\*")
_CAPITAL_RUN = re.compile(
    r"\b[A-ZÄÖÜ][\w-]+(?:\s+(?:(?:bin|von|van|de|der|al|da)\s+)?[A-ZÄÖÜ][\w-]+)+"
)
_WH = sorted(QUESTION_WORDS, key=len, reverse=True)
_WH_LEAD = re.compile(
    r"^\W*(?:und|and)?\s*(?:(?:mit|von|für|an|auf|in|zu|bei|seit|bis|with|for|to|from|since|"
    r"until|of)\s+)?(?:" + "|".join(_WH) + r")\b(?:\s+(?:viele|lange|oft|many|much|long|often))?",
    re.I,
)


@dataclass(frozen=True)
class FollowUp:
    """A follow-up made to stand alone: ``question`` is what the answerer reads, ``search``
    what retrieval reads, ``sources`` the documents the previous answer cited."""

    question: str
    search: str
    sources: list[str] = field(default_factory=list)


def previous_question(turns: list[dict]) -> str | None:
    for turn in reversed(turns):
        if turn["role"] == "user":
            return turn["content"]
    return None


def previous_answer(turns: list[dict]) -> dict | None:
    for turn in reversed(turns):
        if turn["role"] == "assistant":
            return turn
    return None


def cited_sources(turns: list[dict]) -> list[str]:
    """The documents the last answer cited, as its turn carries them ([] if none)."""
    turn = previous_answer(turns)
    given = turn.get("sources") if turn else None
    if isinstance(given, list) and all(isinstance(s, str) for s in given):
        return list(given)
    return []


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


def focus(turns: list[dict]) -> str:
    """What the conversation is about: the short answer the last answer gave in bold, else
    the first name in it the question did not already name, else the question's name."""
    answer = previous_answer(turns)
    asked = (previous_question(turns) or "").lower()
    text = answer["content"] if answer else ""
    for bold in _BOLD.findall(text):
        if bold.lower() not in asked:
            return bold.strip()
    for run in _CAPITAL_RUN.findall(re.sub(r"\[\d+\]", " ", text)):
        name = name_part(run)
        if name and name.lower() not in asked:
            return name
    for run in _CAPITAL_RUN.findall(previous_question(turns) or ""):
        name = name_part(run)
        if name:
            return name
    return ""


def standalone(question: str, turns: list[dict]) -> str:
    """The follow-up as a question of its own: a personal pronoun replaced by the focus
    ("Wer ist sie?" -> "Wer ist Natalie Baker?"); a question word alone ("Und wann?")
    put in place of the previous question's ("Mit wem sprach X?" -> "Wann sprach X?")."""
    subject = focus(turns)
    if subject and _PERSONAL.search(question):
        return _PERSONAL.sub(subject, question, count=1)
    previous = previous_question(turns) or ""
    wh = _WH_LEAD.match(question)
    rest = question[wh.end() :].strip(" ?.!") if wh else question
    if wh and not rest:
        old = _WH_LEAD.match(previous)
        if old and previous[old.end() :].strip(" ?"):
            word = re.sub(r"^\W*(und|and)\s+", "", wh.group(0).strip(), flags=re.I)
            return f"{word[0].upper()}{word[1:]} {previous[old.end() :].strip()}"
    return question


class FollowUpResolver:
    """Turns a follow-up into a standalone question and the documents to favour.

    ``source_text`` reads the text of the cited documents (to tell whether the question
    names something new), ``known`` whether a word occurs anywhere in the corpus."""

    def __init__(
        self, source_text: Callable[[list[str]], str], known: Callable[[str], bool]
    ) -> None:
        self.source_text = source_text
        self.known = known

    def resolve(self, question: str, turns: list[dict]) -> FollowUp | None:
        """None when the question stands on its own."""
        previous = previous_question(turns)
        if previous is None:
            return None
        sources = cited_sources(turns)
        elsewhere = bool(sources) and new_anchors(
            question, self.source_text(sorted(sources)), self.known
        )
        if not is_follow_up(question, turns, anchored_elsewhere=elsewhere):
            return None
        alone = standalone(question, turns)
        search = alone if alone != question else f"{previous} {question}"
        return FollowUp(alone, search, sources)
