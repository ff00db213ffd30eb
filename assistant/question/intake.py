"""The question as it arrives: checked text, and whether there is anything to ask.

The first stage of every answer (API, CLI, UI, engines): a clear error for what is not a
question at all, a plain reply for small talk or code, before anything is retrieved.
"""

from __future__ import annotations

from typing import Any

from assistant.errors import QuestionError
from assistant.question.language import (
    QUESTION_WORDS,
    detect_language,
    has_words,
    looks_like_code,
    question_language,
)

__all__ = ["not_askable", "validate_question"]


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


def not_askable(question: str, conversation: bool) -> tuple[str, str] | None:
    """Why a checked question gets a fixed reply instead of an answer, as (kind, language):
    ``("language", "other")`` for a question in neither German nor English, ``("no
    question", lang)`` for small talk or code. With a ``conversation`` to refer back to, a
    short question ("Wer ist sie?", "Und wann?") is a follow-up, not small talk."""
    lang = question_language(question)
    if lang == "other":
        return "language", "other"
    if looks_like_code(question):
        return "no question", detect_language(question)
    if not has_words(question) and not (conversation and _asks(question)):
        return "no question", detect_language(question)
    return None


def _asks(text: str) -> bool:
    """A question mark, a question word or a continuation ("und?", "and him")."""
    words = [w.lower() for w in text.replace("?", " ? ").split()]
    return "?" in words or any(w.strip(".,!") in QUESTION_WORDS | {"und", "and"} for w in words)
