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

# A match may only start where a run of end marks starts (the lookbehind) and never gives
# characters back (possessive quantifiers): a long run of "....." costs linear time.
_BOUNDARY = re.compile(r"(?<![.!?…])([.!?…]++[\"'»«“”‘’)\]]*+)(\s+)")
# How far back the word before a period is looked at; longer "words" are no abbreviation.
_TOKEN_WINDOW = 200
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
        before = segment[max(cursor, match.start(1) - _TOKEN_WINDOW) : match.start(1)]
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


def answer_sentences(text: str, spans: list[Span] | None = None) -> list[tuple[int, Span]]:
    """Sentences of a chunk that can answer: (ordinal, span).

    Indexing embeds exactly these sentences and the answerer scores exactly these spans.
    """
    spans = split_sentences(text) if spans is None else spans
    return [
        (j, span) for j, span in enumerate(spans) if len(span.text.split()) >= MIN_SENTENCE_WORDS
    ]


def vector_sentences(text: str, spans: list[Span] | None = None) -> list[tuple[int, Span]]:
    """The sentences of a chunk that get a vector: each answer sentence and the one before
    it, whose vector the answer sentence's window adds (a heading or a short "Er starb."
    gives the next sentence its subject, as "Kapitel 3" does "Tesla kam nach Amerika.")."""
    spans = split_sentences(text) if spans is None else spans
    answering = {j for j, _ in answer_sentences(text, spans)}
    return [(j, span) for j, span in enumerate(spans) if j in answering or j + 1 in answering]


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
    word boundaries, and a word longer than the budget inside itself, because the
    embedding model would silently drop the tail. Each sentence is counted once and
    each cut costs a few counts of about its own length, so time is linear in the text.
    """
    pieces: list[tuple[Span, int, bool]] = []  # (span, tokens, cut out of a sentence)
    for sent in sentences:
        tokens = count_tokens(sent.text)
        if tokens <= max_tokens:
            pieces.append((sent, tokens, False))
        else:
            pieces.extend((p, t, True) for p, t in _cut_long(text, sent, max_tokens, count_tokens))

    chunks: list[Span] = []
    group: list[Span] = []
    cur_tokens, has_cut = 0, False
    for piece, tokens, cut in pieces:
        if group:
            gap = text[group[-1].end : piece.start]
            para_break = "\n\n" in gap or "\n \n" in gap
            over = cur_tokens + tokens > max_tokens
            if over or (para_break and cur_tokens >= max_tokens // 2):
                _close(text, group, has_cut, max_tokens, count_tokens, chunks)
                group, cur_tokens, has_cut = [], 0, False
        group.append(piece)
        cur_tokens += tokens
        has_cut = has_cut or cut
    if group:
        _close(text, group, has_cut, max_tokens, count_tokens, chunks)
    return chunks


def _close(
    text: str,
    group: list[Span],
    has_cut: bool,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    out: list[Span],
) -> None:
    """Emit the pieces of ``group`` as one chunk, or as several if the joined text is over
    the budget: token counts of pieces need not add up to the count of their join.

    Groups of whole sentences are emitted as they are (a rounding overshoot of the
    estimate is harmless there, and the tuned chunks of prose stay as they were); groups
    with pieces cut out of an overlong sentence are checked.
    """
    start = group[0].start
    if len(group) == 1 or not has_cut or count_tokens(text[start : group[-1].end]) <= max_tokens:
        out.append(Span(start, group[-1].end, text[start : group[-1].end]))
        return
    i = 0
    while i < len(group):
        first = group[i].start
        stop = _longest(
            i + 1,
            len(group),
            lambda n, first=first: count_tokens(text[first : group[n - 1].end]) <= max_tokens,
            len(group) - 1,
        )
        stop = max(stop, i + 1)
        out.append(Span(first, group[stop - 1].end, text[first : group[stop - 1].end]))
        i = stop


def _longest(lo: int, hi: int, fits: Callable[[int], bool], hint: int) -> int:
    """The largest n in [lo, hi] with ``fits(n)`` (``lo - 1`` if none), starting at ``hint``.

    Gallops from the hint, then bisects, so a good hint costs two or three probes and a
    bad one O(log n); a plain scan from ``lo`` would make chunking quadratic. Only
    values that were probed are returned, so the budget holds even where the token
    count is not monotone.
    """
    guess = min(max(hint, lo), hi)
    step = 1
    if fits(guess):
        good = guess
        while True:
            if good == hi:
                return good
            probe = min(good + step, hi)
            if not fits(probe):
                bad = probe
                break
            good, step = probe, step * 2
    else:
        bad = guess
        while True:
            if bad == lo:
                return lo - 1
            probe = max(bad - step, lo)
            if fits(probe):
                good = probe
                break
            bad, step = probe, step * 2
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def _cut_long(
    text: str, sent: Span, max_tokens: int, count_tokens: Callable[[str], int]
) -> list[tuple[Span, int]]:
    """Longest word-aligned pieces of ``sent`` within the budget, with their token counts."""
    out: list[tuple[Span, int]] = []
    words = [(sent.start + m.start(), sent.start + m.end()) for m in re.finditer(r"\S+", sent.text)]
    counted: dict[tuple[int, int], int] = {}

    def fits(s: int, e: int) -> bool:
        counted[s, e] = count_tokens(text[s:e])
        return counted[s, e] <= max_tokens

    begin, hint, char_hint = 0, 1, 1
    while begin < len(words):
        first = words[begin][0]
        stop = _longest(
            begin + 1, len(words), lambda n, first=first: fits(first, words[n - 1][1]), begin + hint
        )
        if stop > begin:
            hint = stop - begin
            end = words[stop - 1][1]
            out.append((Span(first, end, text[first:end]), counted[first, end]))
            begin = stop
            continue
        # a single "word" over the budget (no spaces): cut it by characters
        pos, word_end = words[begin]
        while pos < word_end:
            n = _longest(1, word_end - pos, lambda n, pos=pos: fits(pos, pos + n), char_hint)
            n = max(n, 1)  # never stall, even on a budget below one character
            char_hint = n
            tokens = counted.get((pos, pos + n)) or count_tokens(text[pos : pos + n])
            out.append((Span(pos, pos + n, text[pos : pos + n]), tokens))
            pos += n
        begin += 1
        counted.clear()
    return out


def chunk_text(
    text: str, max_tokens: int, count_tokens: Callable[[str], int] = approx_tokens
) -> list[Span]:
    """Sentence-split then chunk a whole document."""
    return chunk_sentences(text, split_sentences(text), max_tokens, count_tokens)
