"""Citations and their [n] markers: pure functions, unit-tested on their own.

A citation is only worth something if a reader can check it, so each one carries the
file, the exact character span and the quoted text, and ``verify`` proves the quote is
really at that span.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_SPACED_MARKER = re.compile(r"([ \t]*)\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?!\[\d)")  # a marker after "." stays with it


@dataclass
class Citation:
    """One numbered source of an answer: ``source_text[start:end] == quote``."""

    n: int
    source: str
    start: int
    end: int
    quote: str
    score: float
    page: int | None = None
    # the chunk around the quote, for showing the passage in context (not in JSON)
    context: str = ""
    context_start: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("context")
        data.pop("context_start")
        data["score"] = round(float(self.score), 4)
        return data

    @property
    def quote_in_context(self) -> tuple[str, str, str]:
        """(before, quote, after) inside the surrounding chunk, for highlighting."""
        i = self.start - self.context_start
        j = self.end - self.context_start
        if not self.context or i < 0 or j > len(self.context):
            return "", self.quote, ""
        return self.context[:i], self.context[i:j], self.context[j:]


def cited_numbers(text: str) -> list[int]:
    """Marker numbers in order of first appearance; "[1, 3]" counts as 1 and 3."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def strip_invalid_markers(text: str, valid: set[int]) -> str:
    """Drop markers that point at no source; "[1, 9]" with 9 invalid becomes "[1]"."""

    def keep(match: re.Match) -> str:
        nums = [p.strip() for p in match.group(2).split(",") if int(p) in valid]
        return match.group(1) + "".join(f"[{n}]" for n in nums) if nums else ""

    return _SPACED_MARKER.sub(keep, text)


class MarkerStreamFilter:
    """Streams text while removing invalid [n] markers that may arrive split in pieces."""

    def __init__(self, valid: set[int]):
        self.valid = valid
        self._buf = ""

    def feed(self, piece: str) -> str:
        self._buf += piece
        cut = self._buf.rfind("[")
        if cut != -1 and re.fullmatch(r"\[[\d,\s]{0,12}", self._buf[cut:]):
            ready, self._buf = self._buf[:cut], self._buf[cut:]
        else:
            ready, self._buf = self._buf, ""
        return strip_invalid_markers(ready, self.valid) if ready else ""

    def flush(self) -> str:
        rest, self._buf = self._buf, ""
        return strip_invalid_markers(rest, self.valid)


def verify(source_text: str, citation: Citation) -> bool:
    """The quote stands at exactly the cited span of the source text."""
    return source_text[citation.start : citation.end] == citation.quote


def answer_sentences(text: str) -> list[str]:
    """Sentences of a model answer that say something (not just a marker)."""
    return [s for s in _SENTENCE_END.split(text) if answer_words(s)]


def answer_words(text: str) -> list[str]:
    """The words of a piece of an answer, markers left out, case-folded."""
    return re.findall(r"\w+", strip_invalid_markers(text, set()).casefold())
