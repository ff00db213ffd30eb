"""Upload results in the UI's language: the library's English reasons mapped to a kind,
each kind one sentence in German or English that says what to do (the file name is
shown once, API words such as ``replace=True`` never)."""

from __future__ import annotations

import re

from ui.text import t

# (kind, pattern on the library's reason with the "name: " prefix removed); first match wins
KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("exists", re.compile(r"a different file named .* already exists")),
    ("duplicate", re.compile(r"^same content as (?P<other>.+)$")),
    ("twice", re.compile(r"already uploaded in this batch")),
    ("too_large", re.compile(r"file too large")),
    ("unsupported", re.compile(r"unsupported file type|no file extension")),
    ("encrypted", re.compile(r"encrypted PDF")),
    ("broken_pdf", re.compile(r"broken PDF|not a PDF file")),
    ("broken_docx", re.compile(r"broken DOCX|not a DOCX file|python-docx")),
    ("too_many_pages", re.compile(r"too many pages")),
    ("text_too_long", re.compile(r"text too long")),
    ("no_text", re.compile(r"no text in file")),
    ("not_text", re.compile(r"binary content|text encoding|invalid \S+ text")),
    ("bad_name", re.compile(r"empty file name|no name before|invalid file name")),
]


def strip_name(name: str, reason: str) -> str:
    """The reason without the file name the library puts in front of it."""
    for prefix in (f"{name}: ", f"{name.rsplit('/', 1)[-1]}: "):
        if reason.startswith(prefix):
            return reason[len(prefix) :]
    head, sep, rest = reason.partition(": ")
    return rest if sep and " " not in head and "." in head else reason


def reason_kind(name: str, reason: str) -> tuple[str, dict[str, str]]:
    """The kind of a rejection and the values its sentence needs."""
    reason = strip_name(name, reason)
    for kind, pattern in KINDS:
        m = pattern.search(reason)
        if m:
            return kind, {k: v for k, v in m.groupdict().items() if v}
    return "other", {}


def reason_text(name: str, reason: str, lang: str, types: str, mb: str) -> str:
    """Why ``name`` was refused, in ``lang``."""
    kind, values = reason_kind(name, reason)
    return t(lang, f"reason_{kind}", **({"types": types, "mb": mb} | values))
