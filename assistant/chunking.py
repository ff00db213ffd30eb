"""German-aware sentence splitting and sentence-aligned chunks, all with source offsets.

Pure functions: text in, spans out. Every span satisfies ``text[start:end] == span.text``,
which is what lets a citation quote the exact passage. We split ourselves because nltk's
default splitter cuts "am 1. Januar" and "Dr. Müller" in two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# Lower-cased, without the final period. Covers common German and English abbreviations.
ABBREVIATIONS = frozenset(
    """
    dr prof dipl ing med phil rer nat jur hr fr frl hrn st nr bzw vgl ca etc usw ggf inkl
    evtl bspw zb z.b d.h u.a o.ä s.o s.u u.s.w z.t i.d.r d.i u.u v.a a.d o.g jh jhd jhdt
    mio mrd tsd abs art bd hg hrsg aufl min max sek std tel fa gmbh co kg ag e.v bzw
    mr mrs ms jr sr vs no vol fig approx dept est inc ltd corp gen gov col lt sgt capt
    jan feb febr mär apr jun jul aug sep sept okt oct nov dez dec u.s u.k e.g i.e a.m p.m
    """.split()
)
_MONTHS = [
    "januar",
    "februar",
    "märz",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "dezember",
    "jänner",
]

_BOUNDARY = re.compile(r"([.!?…]+[\"'»«“”‘’)\]]*)(\s+)")
_PARA = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Span:
    """A piece of source text and where it sits: ``text == source[start:end]``."""

    start: int
    end: int
    text: str


def _last_token(text: str) -> str:
    match = re.search(r"(\S+)$", text)
    return match.group(1) if match else ""


def _is_false_boundary(before: str, punct: str, after: str) -> bool:
    """True when a period ends an abbreviation, an ordinal, an initial, not a sentence."""
    nxt = after.lstrip()
    if not nxt:
        return False
    if nxt[:1].islower() or nxt[:1] in ",;:":  # sentences do not start lower-case
        return True
    if punct != ".":  # "?", "!", "..." and closing quotes end a sentence
        return False
    token = _last_token(before).lstrip("(\"'„“»«[")
    low = token.lower()
    if low in ABBREVIATIONS or (len(low) > 1 and "." in low and low.replace(".", "").isalpha()):
        return True
    if re.fullmatch(r"[^\W\d_]", token):  # initial or "z. B.": "J. R. Tolkien"
        return True
    if re.fullmatch(r"\d{1,2}", token):  # ordinal: "1. Januar", "19. Jahrhundert"
        return True
    if re.fullmatch(r"[IVXLC]{1,6}", token):  # "Ludwig XIV. war": only before a month
        return nxt.split()[0].lower().strip(",.") in _MONTHS
    return False


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Split ``text[start:end]`` into sentence spans; paragraph breaks always split."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    para_start = start
    for para_break in list(_PARA.finditer(text, start, end)) + [None]:
        para_end = para_break.start() if para_break else end
        _split_paragraph(text, para_start, para_end, spans)
        if para_break:
            para_start = para_break.end()
    return spans


def _split_paragraph(text: str, start: int, end: int, out: list[Span]) -> None:
    segment = text[start:end]
    cursor = 0
    for match in _BOUNDARY.finditer(segment):
        punct = match.group(1)
        cut = match.end(1)
        before = segment[cursor : match.start(1)]
        after = segment[match.end() : match.end() + 40]
        if _is_false_boundary(before, punct, after):
            continue
        _emit(text, start + cursor, start + cut, out)
        cursor = match.end()
    _emit(text, start + cursor, end, out)


def _emit(text: str, start: int, end: int, out: list[Span]) -> None:
    """Append the span with surrounding whitespace trimmed (offsets stay exact)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        # A single line break inside a sentence is fine; several lines of a list are not.
        out.append(Span(start, end, text[start:end]))


MIN_SENTENCE_WORDS = 3  # shorter "sentences" are headings or list debris, never answers


def answer_sentences(text: str, spans: list[Span] | None = None) -> list[tuple[int, Span, str]]:
    """Sentences of a chunk that can answer: (ordinal, span, window text).

    The window is the sentence with the one before it, which gives a pronoun its
    referent ("Er wurde 1856 geboren."); the first sentence's window is "" (none).
    Indexing embeds exactly these texts and the answerer scores exactly these spans.
    """
    spans = split_sentences(text) if spans is None else spans
    return [
        (j, span, f"{spans[j - 1].text} {span.text}" if j else "")
        for j, span in enumerate(spans)
        if len(span.text.split()) >= MIN_SENTENCE_WORDS
    ]


def approx_tokens(text: str) -> int:
    """Cheap upper estimate of e5 tokens (German averages ~4.5 chars per token)."""
    return max(1, len(text) // 3)


def chunk_sentences(
    text: str,
    sentences: list[Span],
    max_tokens: int,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> list[Span]:
    """Group whole sentences into chunks of at most ``max_tokens``.

    A chunk closes at a paragraph break once it is half full, so chunks follow the
    document's own structure. A single sentence longer than the budget is cut at
    word boundaries, because the embedding model would silently drop its tail.
    """
    pieces: list[Span] = []
    for sent in sentences:
        if count_tokens(sent.text) <= max_tokens:
            pieces.append(sent)
        else:
            pieces.extend(_cut_long(text, sent, max_tokens, count_tokens))

    chunks: list[Span] = []
    cur_start = cur_end = None
    cur_tokens = 0
    for piece in pieces:
        tokens = count_tokens(piece.text)
        if cur_start is not None:
            gap = text[cur_end : piece.start]
            para_break = "\n\n" in gap or "\n \n" in gap
            over = cur_tokens + tokens > max_tokens
            if over or (para_break and cur_tokens >= max_tokens // 2):
                chunks.append(Span(cur_start, cur_end, text[cur_start:cur_end]))
                cur_start = None
        if cur_start is None:
            cur_start, cur_tokens = piece.start, 0
        cur_end = piece.end
        cur_tokens += tokens
    if cur_start is not None:
        chunks.append(Span(cur_start, cur_end, text[cur_start:cur_end]))
    return chunks


def _cut_long(
    text: str, sent: Span, max_tokens: int, count_tokens: Callable[[str], int]
) -> list[Span]:
    out: list[Span] = []
    words = list(re.finditer(r"\S+", sent.text))
    begin = 0
    while begin < len(words):
        stop = begin + 1
        while stop < len(words):
            piece = sent.text[words[begin].start() : words[stop].end()]
            if count_tokens(piece) > max_tokens:
                break
            stop += 1
        s = sent.start + words[begin].start()
        e = sent.start + words[stop - 1].end()
        out.append(Span(s, e, text[s:e]))
        begin = stop
    return out


def chunk_text(
    text: str, max_tokens: int, count_tokens: Callable[[str], int] = approx_tokens
) -> list[Span]:
    """Sentence-split then chunk a whole document."""
    return chunk_sentences(text, split_sentences(text), max_tokens, count_tokens)
