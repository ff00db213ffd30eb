"""The conversation a follow-up leans on, in one bounded shape.

Callers send OpenAI/Gradio message dicts or (question, answer) pairs; every assistant
turn may carry ``"sources"``, the files that answer cited (``Answer.to_message()`` puts
them there), so a follow-up stays in those documents with no memory on the server.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.errors import HistoryError

__all__ = ["HISTORY_SHAPES", "normalise_history"]


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
