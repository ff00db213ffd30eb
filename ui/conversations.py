"""Conversations as the browser keeps them (local storage, JSON): most recent first,
bounded, with a title and a date; and the history a follow-up sends to the library."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from ui.text import t

MAX_SAVED = 50  # conversations kept in a browser; the oldest go first
TITLE_CHARS = 60


def new_conversation() -> dict:
    return {"id": uuid.uuid4().hex[:12], "title": "", "turns": [], "updated": 0.0}


def short_title(text: str, limit: int = TITLE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def save_conversation(saved: list[dict] | None, conv: dict) -> list[dict]:
    """``saved`` with ``conv`` first (most recent first), at most MAX_SAVED."""
    others = [c for c in saved or [] if isinstance(c, dict) and c.get("id") != conv["id"]]
    return ([conv] + others)[:MAX_SAVED] if conv["turns"] else others


def valid(saved: list | None) -> list[dict]:
    """The well-formed conversations of what the browser sent."""
    return [c for c in saved or [] if isinstance(c, dict) and c.get("id")]


def find(saved: list | None, conv_id: str | None) -> dict | None:
    return next((c for c in valid(saved) if c.get("id") == conv_id), None)


def when(updated: float, lang: str, now: float | None = None) -> str:
    """A short date: "today 14:03", else "07.12.2026" (de) or "2026-12-07" (en)."""
    if not updated:
        return ""
    stamp = datetime.fromtimestamp(float(updated))
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    if stamp.date() == today:
        return t(lang, "today", time=stamp.strftime("%H:%M"))
    return stamp.strftime("%d.%m.%Y" if lang == "de" else "%Y-%m-%d")


def matches(conv: dict, query: str) -> bool:
    """Whether ``query`` occurs in the conversation's title, questions or answers."""
    query = " ".join(str(query or "").split()).casefold()
    if not query:
        return True
    texts = [conv.get("title") or ""]
    texts += [f"{turn.get('q', '')} {turn.get('answer', '')}" for turn in conv.get("turns", [])]
    return any(query in " ".join(text.split()).casefold() for text in texts)


def conversation_choices(
    saved: list[dict] | None, lang: str = "en", query: str = ""
) -> list[tuple[str, str]]:
    """(label, id) per saved conversation (those matching ``query``): its title and when
    it was last used."""
    choices = []
    for c in valid(saved):
        if not matches(c, query):
            continue
        date = when(c.get("updated") or 0, lang)
        label = c.get("title") or "…"
        choices.append((f"{label} · {date}" if date else label, c["id"]))
    return choices


def renamed(saved: list | None, conv: dict, title: str) -> tuple[dict, list[dict]]:
    """``conv`` under a new title (kept in its place in the list)."""
    title = short_title(title, 80)
    if not title:
        return conv, valid(saved)
    conv = {**conv, "title": title}
    return conv, [conv if c.get("id") == conv["id"] else c for c in valid(saved)]


def follow_up_history(turns: list[dict]) -> list[dict]:
    """The conversation for follow-ups: plain questions and answers, each answer with the
    source names it cited (as ``Answer.to_message()`` gives them), so the library can
    stay in those documents also after a server restart."""
    history: list[dict] = []
    for turn in turns:
        sources = turn.get("sources")
        if not isinstance(sources, list):
            sources = list(dict.fromkeys(c["source"] for c in turn.get("citations", [])))
        history += [
            {"role": "user", "content": turn["q"]},
            {"role": "assistant", "content": turn["answer"], "sources": sources},
        ]
    return history
