"""Ratings of answers, kept beside the index and turned into questions for `assistant eval`.

``<index_dir>/feedback.jsonl`` holds one JSON object per rating, only ever appended::

    {"time": "2026-12-07T01:02:03Z", "user": "alice", "rating": 1, "comment": "",
     "question": "...", "language": "de", "answer": "...", "outcome": "answered",
     "confidence": 0.91, "citations": [{"source", "start", "end", "quote", "page"}]}

Each line is written with one ``os.write`` on a file opened with ``O_APPEND`` (under an
advisory lock where the system has one), so ratings from several processes never
interleave; every text is cut to a bound, so one line stays small.

:func:`eval_rows` turns the ratings into the question format `assistant eval` reads (see
``evaluation.py``). The latest rating of each (question, answer) pair counts:

- thumbs up on an answer: an answerable question whose expected answers are the cited
  quotes (the answer's text when it cites nothing), from the first cited document;
- thumbs up on "not in the documents": a question that must be declined
  (``"answerable": false``);
- thumbs down: ``{"rejected": [quotes], "rejected_outcome": outcome}``, a question that
  must not get that answer again. It is counted apart from the other questions:
  ``rejected_repeated`` is the share of them answered with a rejected quote again (or
  declined again, when the decline was what was rejected).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.errors import FeedbackError

FEEDBACK_FILE = "feedback.jsonl"
RATINGS = (1, -1)
MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 4000
MAX_QUOTE_CHARS = 1000
MAX_COMMENT_CHARS = 1000
MAX_USER_CHARS = 100
MAX_CITATIONS = 10
OUTCOMES = ("answered", "hedged", "declined")


def feedback_path(settings: Any) -> Path:
    return Path(settings.index_dir) / FEEDBACK_FILE


def _cut(value: Any, limit: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _citation(c: Any) -> dict:
    page = _field(c, "page")
    return {
        "source": _cut(_field(c, "source", ""), 500),
        "start": int(_field(c, "start", 0) or 0),
        "end": int(_field(c, "end", 0) or 0),
        "quote": _cut(_field(c, "quote", ""), MAX_QUOTE_CHARS),
        "page": int(page) if page is not None else None,
    }


def answer_record(answer: Any) -> dict:
    """What is kept of a rated answer: an ``Answer``, its ``to_dict()``, or any dict
    with the keys answer, outcome, confidence and citations."""
    if isinstance(answer, dict):
        text = answer.get("answer", answer.get("text"))
    else:
        text = getattr(answer, "text", None)
    if not isinstance(text, str):
        raise FeedbackError(
            "the rated answer must be an Answer or a dict with the keys answer, outcome, "
            f"confidence and citations; got {type(answer).__name__}"
        )
    citations = _field(answer, "citations") or []
    if not isinstance(citations, (list, tuple)):
        raise FeedbackError("the rated answer's citations must be a list")
    outcome = str(_field(answer, "outcome") or "answered")
    if outcome not in OUTCOMES:
        raise FeedbackError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    try:
        confidence = round(float(_field(answer, "confidence") or 0.0), 3)
        cited = [_citation(c) for c in citations[:MAX_CITATIONS]]
    except (TypeError, ValueError) as exc:
        raise FeedbackError(f"the rated answer has a malformed field ({exc})") from exc
    return {
        "answer": _cut(text, MAX_ANSWER_CHARS),
        "outcome": outcome,
        "confidence": confidence,
        "citations": cited,
        "language": _cut(_field(answer, "language", ""), 10),
    }


def check_rating(rating: Any) -> int:
    if isinstance(rating, bool) or rating not in RATINGS:
        raise FeedbackError(f"a rating is +1 (helpful) or -1 (not helpful); got {rating!r}")
    return int(rating)


class FeedbackLog:
    """The ratings in ``path`` (``<index_dir>/feedback.jsonl``)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def for_settings(cls, settings: Any) -> FeedbackLog:
        return cls(feedback_path(settings))

    def append(
        self, question: str, answer: Any, rating: int, comment: str = "", user: str = ""
    ) -> dict:
        """Record one rating and return the entry written."""
        rating = check_rating(rating)
        if not isinstance(question, str) or not question.strip():
            raise FeedbackError("the rated question must be non-empty text")
        record = answer_record(answer)
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "user": _cut(user or "-", MAX_USER_CHARS),
            "rating": rating,
            "comment": _cut(comment, MAX_COMMENT_CHARS),
            "question": _cut(question.strip(), MAX_QUESTION_CHARS),
            "language": record.pop("language") or None,
            **record,
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                with _locked(fd):
                    os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise FeedbackError(
                f"cannot record feedback in {self.path} ({exc.strerror or exc})"
            ) from exc
        return entry

    def entries(self) -> list[dict]:
        """The ratings, oldest first; broken lines (a crash mid-write) are left out."""
        try:
            fh = self.path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out = []
        with fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and entry.get("rating") in RATINGS:
                        out.append(entry)
        return out


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """An advisory lock on the open file where the system has one (O_APPEND alone keeps
    a small write whole on a local file system; the lock covers the rest)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def eval_rows(entries: list[dict]) -> list[dict]:
    """The ratings as `assistant eval` questions (see the module docstring); the latest
    rating of a question and answer counts."""
    latest: dict[tuple[str, str], tuple[int, dict]] = {}
    for n, entry in enumerate(entries):
        latest[(_norm(entry.get("question", "")), _norm(entry.get("answer", "")))] = (n, entry)
    rows = []
    for n, entry in sorted(latest.values(), key=lambda pair: pair[0]):
        question = entry.get("question", "")
        if not question.strip():
            continue
        quotes = [c["quote"] for c in entry.get("citations", []) if c.get("quote", "").strip()]
        row: dict[str, Any] = {"id": f"feedback-{n + 1}", "question": question}
        if entry.get("language"):
            row["language"] = entry["language"]
        row |= {"corpus": "feedback", "rating": entry["rating"]}
        if entry["rating"] < 0:
            row |= {"rejected": quotes, "rejected_outcome": entry.get("outcome", "answered")}
        elif entry.get("outcome") == "declined":
            row |= {"answerable": False, "pattern": "feedback"}
        else:
            row |= {"answerable": True, "answers": quotes or [entry.get("answer", "")]}
            sources = [c["source"] for c in entry.get("citations", []) if c.get("source")]
            if sources:
                row["source"] = sources[0]
        if entry.get("comment"):
            row["comment"] = entry["comment"]
        rows.append(row)
    return rows


def export(log: FeedbackLog, out: Path) -> int:
    """Write the ratings as eval questions to ``out`` (JSON lines); returns how many."""
    rows = eval_rows(log.entries())
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out.write_text(text, encoding="utf-8")
    return len(rows)


def against_ratings(items: list[Any], outcomes: list[Any]) -> str:
    """Markdown: the rated questions (``corpus == "feedback"``) whose answer now goes
    against the rating: a liked answer no longer quoted, a liked decline now answered,
    a rejected answer given again. "" when there are no rated questions."""
    rated = [(i, o) for i, o in zip(items, outcomes, strict=True) if i.corpus == "feedback"]
    if not rated:
        return ""
    lines = []
    for item, out in rated:
        if item.kind == "rejected":
            why = "the rejected answer again" if out.repeated else ""
        elif item.answerable:
            why = "" if out.correct else f"liked quote not given ({out.outcome})"
        else:
            why = "" if out.declined else f"liked decline now {out.outcome}"
        if why:
            lines.append(f"| {item.id} | {' '.join(item.question.split())[:120]} | {why} |")
    head = f"\n## Rated questions: {len(lines)} of {len(rated)} against their rating\n"
    if not lines:
        return head
    return head + "\n| id | question | now |\n|---|---|---|\n" + "\n".join(lines) + "\n"
