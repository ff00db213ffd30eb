"""Every citation is built here: from a sentence span to the quote's boundaries, from
an answer's claims to the source sentence it rests on, then the quote's page and the
:class:`Citation` itself.

A quote is never a dangling fragment: a heading in front of a sentence is dropped, a list
item is quoted with the clause that introduces it, and an item that breaks off mid-
sentence with the sub-items that finish it. The page is the chunk's ``page_at`` of the
quote's start (the quote's page, not the chunk's first).
"""

from __future__ import annotations

import re

from assistant.answer.citations import Citation, answer_sentences, cited_numbers
from assistant.ingest.chunking import Span, split_sentences
from assistant.retrieve.lexical import tokenize
from assistant.retrieve.retriever import Hit

# -- quote boundaries -------------------------------------------------------------------------

# A heading is context, not an answer: a markdown heading, or a question (a FAQ entry's
# title restates the question it answers).
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,3}[.)]|[a-z][.)]|[-*•])\s+")


def is_heading(text: str) -> bool:
    stripped = text.strip()
    return bool(_HEADING.match(stripped)) or stripped.endswith("?")


def is_title_line(text: str, following: str) -> bool:
    """A short line without closing punctuation that ends its paragraph: a title."""
    stripped = text.strip()
    return (
        len(stripped.split()) <= 8
        and not re.search(r"[.!:;\"”“»«)\]]$", stripped)
        and (following.startswith("\n") or not following)
    )


LEAD_IN_REACH = 12  # list items a quote may reach back over to the clause introducing them
QUOTE_MAX = 800  # characters: a list item is joined with its lead-in only within this
# ends in a word that is no conjunction: the sentence goes on below ("2. einem Wirbeltier")
_UNFINISHED = re.compile(r"(?<![\w])(?!(?:und|oder|sowie|bzw|and|or)$)[\w\-–]+$", re.I)
_SUB_ITEM = re.compile(r"^\s*(?:[a-z]{1,2}\)|[-*•])\s+")


def quote_span(text: str, spans: list[Span], j: int) -> tuple[int, int] | None:
    """Where the quote of sentence ``j`` of a chunk starts and ends, or None for a heading.

    A heading line in front of a sentence is dropped. A list item is quoted together with
    the clause that introduces it ("Mit Freiheitsstrafe wird bestraft, wer: 1. …", also
    without the colon), and an item that breaks off in mid-sentence ("2. einem Wirbeltier")
    with the sub-items that finish it: a quote is never a dangling fragment.
    """
    span = spans[j]
    start = _after_heading_line(text, span)
    body = text[start : span.end]
    item = bool(_LIST_ITEM.match(body))
    if is_heading(body) or (not item and is_title_line(body, text[span.end : span.end + 2])):
        return None
    if item:
        start = _lead_in_start(spans, j, start)
    return start, _finishing_end(text, spans, j, start, item)


def _after_heading_line(text: str, span: Span) -> int:
    """Where a sentence starts once a heading or title line in front of it is dropped."""
    start = span.start
    first_line, _, rest = span.text.partition("\n")
    if rest.strip() and (_HEADING.match(first_line) or is_title_line(first_line, "\n")):
        start = span.start + len(first_line) + 1
        while start < span.end and text[start].isspace():
            start += 1
    return start


def _lead_in_start(spans: list[Span], j: int, start: int) -> int:
    """The start of the clause introducing list item ``j`` (within reach), else ``start``."""
    k = j - 1
    while k >= 0 and j - k <= LEAD_IN_REACH and _LIST_ITEM.match(spans[k].text):
        k -= 1
    if k >= 0 and spans[j].end - spans[k].start <= QUOTE_MAX:
        lead = spans[k].text.rstrip()
        if lead.endswith(":") or _UNFINISHED.search(lead):
            return spans[k].start
    return start


def _finishing_end(text: str, spans: list[Span], j: int, start: int, item: bool) -> int:
    """The end of sentence ``j``, or of the items that finish it when it breaks off: a
    lead-in takes the items that finish it, an item only its own sub-items."""
    end = spans[j].end
    if not _UNFINISHED.search(text[start:end].rstrip()):
        return end
    goes_on = _SUB_ITEM if item else _LIST_ITEM
    n = j + 1
    while n < len(spans) and n - j <= LEAD_IN_REACH and goes_on.match(spans[n].text):
        if spans[n].end - start > QUOTE_MAX:
            break
        end = spans[n].end
        n += 1
    return end


# -- narrowing a generated answer's source to a sentence ----------------------------------------


def narrow_quote(answer_text: str, n: int, hit: Hit, stem) -> tuple[int, int]:
    """The sentence of source n that best matches the answer sentences citing [n]."""
    claims = [s for s in answer_sentences(answer_text) if n in cited_numbers(s)]
    claim = set(stem(tokenize(" ".join(claims))))
    best, best_overlap = None, 0
    for s in split_sentences(hit.chunk.text):
        overlap = len(claim & set(stem(tokenize(s.text))))
        if overlap > best_overlap:
            best, best_overlap = s, overlap
    c = hit.chunk
    if best is None:
        return c.start, c.end
    return c.start + best.start, c.start + best.end


# -- the citation -----------------------------------------------------------------------------


def make_citation(n: int, hit: Hit, start: int, end: int, score: float) -> Citation:
    """Citation ``n`` of ``hit``'s chunk at corpus offsets ``start..end``: the quote,
    its page and the chunk around it."""
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
