"""Debian's Ding de-en dictionary file parsed into English word -> German words.

Pure functions over the file's lines (``German :: English``): which synonyms are single
words, what a pair costs, and the ranking of each English word's German words. The
compiled, memory-mapped table is in ``ding_table``; the lookups in ``bilingual``.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

# Bump when parsing, ranking or the compiled layout change: compiled caches are rebuilt.
# 5: German words on lines of their own (4 was a layout of an unmerged branch: skipped)
FORMAT_VERSION = 5
DEFAULT_PATH = Path("/usr/share/trans/de-en")
MAX_TRANSLATIONS = 6  # per English word in a query
# Kept per English word in the compiled table: when ``known`` drops the words the corpus
# lacks, the next ones move up ("housing": Unterkunft, Wohnen, ... Wohnungsbau).
STORED_TRANSLATIONS = 12

# -- parsing ------------------------------------------------------------------------------

# Annotations: {f} {pl} {vt}, [Br.] [jur.], (eines Vertrags), <Altbauwohnungen>, /Whg./
_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|(?<!\S)/[^/\s]+/")
_SPACES = re.compile(r"\s+")
_BRACKET = re.compile(r"[{\[(</]")
_DE_WORD = re.compile(r"[^\W\d_]+")
# Placeholders for an object: "to terminate sth.", "jdm. kündigen", "sich erholen".
_EN_SINGLE = re.compile(
    r"(to )?(?:(?:sb|sth)\.['’]s |one['’]s )?([A-Za-z]+)"
    r"(?: (?:sb|sth)\.(?:/(?:sb|sth)\.)?(?:['’]s)?| oneself| one['’]s)?"
)
_EN_PAIR = re.compile(r"([A-Za-z]+) ([A-Za-z]+)")
_DE_OBJECTS = frozenset("sich etw. jdn. jdm. jds. jd. jdn./etw. jdm./etw. etw./jdn.".split())
_DE_OBJECT = r"(?:sich|(?:jdn|jdm|jds|jd|etw)\.(?:/(?:jdn|jdm|jds|jd|etw)\.)*)"
_DE_SINGLE = re.compile(rf"(?:{_DE_OBJECT} )*([^\W\d_]+)(?: {_DE_OBJECT})*")
# German variants a German text is less likely to use: regional, dated, colloquial.
_MARKED = re.compile(
    r"\[(?:Ös\.|Schw\.|Süddt\.|Norddt\.|Mitteldt\.|Westdt\.|Ostdt\.|BW|Bayr\.|Lux\.|"
    r"ugs\.|slang|vulg\.|pej\.|humor\.|veraltet|obs\.|altertümlich|selten|poet\.|"
    r"Jugendsprache|DDR|Sprw\.)\]"
)
# Costs of one (English word, German word) pair in a line; lower is better.
_SUBENTRY = 1.5  # a later "|" part: an inflection, a compound or an idiom of the headword
_PER_EN_SYNONYM = 0.4  # the English word is the n-th meaning listed for the German words
_PER_DE_SYNONYM = 0.25  # the German word is the n-th synonym of the headword
_MARKED_COST = 1.0
# Law and administration are what the documents are about: their senses first.
_DOMAIN = re.compile(r"\[(?:jur|adm)\.\]")
_DOMAIN_BONUS = 0.5
_HEAD_NOUN_COST = 1.5  # taken from a short German phrase ("fristlose Kündigung")
_SUPPORT_BONUS = 0.6  # per log of the lines that pair the two words
_FREQUENCY_BONUS = 0.5  # per log of the lines a German word occurs in: common words first
_MARGIN = 2.0  # how far behind the best translation of a word another may rank


def _strip(text: str) -> str:
    if _BRACKET.search(text) is None:
        return text.strip()
    return _SPACES.sub(" ", _ANNOTATION.sub(" ", text)).strip()


def english_word(synonym: str, phrases: bool = False) -> tuple[str, bool] | None:
    """The single lower-cased English word of a Ding synonym and whether it is a verb
    ("to terminate (a contract)" -> ("terminate", True)); None for a phrase. With
    ``phrases``, also a noun phrase of two content words ("heating costs", for the German
    compound "Heizkosten")."""
    text = _strip(synonym)
    match = _EN_SINGLE.fullmatch(text)
    if match is not None:
        return match.group(2).lower(), match.group(1) is not None
    if phrases and (match := _EN_PAIR.fullmatch(text)) is not None:
        first, second = match.group(1).lower(), match.group(2).lower()
        if first not in STOPWORDS and second not in STOPWORDS:
            return f"{first} {second}", False
    return None


def german_word(synonym: str) -> tuple[str, bool] | None:
    """The German word of a Ding synonym and whether it is a short phrase's head noun
    ("Kündigung {f} (Arbeitsrecht)" -> ("Kündigung", False), "jdm. kündigen" ->
    ("kündigen", False), "fristlose Kündigung" -> ("Kündigung", True)); None otherwise."""
    text = _strip(synonym)
    match = _DE_SINGLE.fullmatch(text)
    if match is not None:
        word = match.group(1)
        return (word, False) if len(word) > 1 else None
    words = [w for w in text.split() if w not in _DE_OBJECTS]
    if not words or len(words) > 3 or not all(_DE_WORD.fullmatch(w) for w in words):
        return None
    if len(words) == 1:
        return (words[0], False) if len(words[0]) > 1 else None
    nouns = [w for w in words if w[0].isupper() and not w.isupper()]
    return (nouns[0], True) if nouns else None


def _synonyms(part: str) -> list[str]:
    """``;``-separated synonyms, a ``;`` inside brackets ("(für/in …; …)") kept."""
    pieces = part.split(";")
    if len(pieces) > 1 and ("(" in part or "[" in part or "{" in part):
        merged: list[str] = []
        for piece in pieces:
            if merged and _open(merged[-1]):
                merged[-1] += ";" + piece
            else:
                merged.append(piece)
        pieces = merged
    return [s.strip() for s in pieces if s.strip()]


def _open(text: str) -> bool:
    return (
        text.count("(") > text.count(")")
        or text.count("[") > text.count("]")
        or text.count("{") > text.count("}")
    )


def parse_ding(
    lines: Iterable[str], limit: int = MAX_TRANSLATIONS, phrases: bool = False
) -> dict[str, list[str]]:
    """Lower-cased English word -> its German single-word translations, best first.

    Pure. Each line ``German :: English`` has ``|``-separated parts aligned on both
    sides (the headword first, then its inflections, compounds and idioms) and
    ``;``-separated synonyms within a part; only single words on both sides are paired
    (a German phrase of up to three words gives its head noun, at a cost). A pair ranks
    higher the nearer it is to the line's headword and first meaning, the more lines
    pair the two words, and the more common the German word is in the dictionary
    (``Urlaub`` before ``Arbeitsfreistellung`` for "leave"). English verbs and nouns
    take turns, so "leave" gives ``Urlaub`` and ``verlassen`` near the top. With
    ``phrases``, two-word English nouns get their German single words too ("heating
    costs" -> ``Heizkosten``): German writes as one word what English writes as two.
    """
    return rank_pairs(*collect_pairs(lines, phrases), limit=limit)


Pairs = dict[tuple[str, str], list]


def collect_pairs(lines: Iterable[str], phrases: bool = False) -> tuple[Pairs, dict[str, int]]:
    """(English, German) -> [best cost, lines pairing them, verb?, last line], and per
    lower-cased German word the number of lines whose German side holds it."""
    pairs: Pairs = {}
    frequency: Counter[str] = Counter()
    count = frequency.update
    for number, line in enumerate(lines):
        if line.startswith("#") or "::" not in line:
            continue
        german_side, _, english_side = line.partition("::")
        count(set(_DE_WORD.findall(german_side.lower())))
        de_parts, en_parts = german_side.split("|"), english_side.split("|")
        if len(de_parts) != len(en_parts):  # misaligned: trust the headword part only
            de_parts, en_parts = de_parts[:1], en_parts[:1]
        for p, (de_part, en_part) in enumerate(zip(de_parts, en_parts)):
            englishes = [
                (found, i)
                for i, synonym in enumerate(_synonyms(en_part))
                if (found := english_word(synonym, phrases)) is not None
            ]
            if not englishes:  # most later parts are phrases: skip their German side
                continue
            germans = _german_synonyms(de_part)
            base_part = _SUBENTRY if p else 0.0
            if "[" in de_part and _DOMAIN.search(de_part):
                base_part -= _DOMAIN_BONUS
            for (english, verb), i in englishes:
                base = base_part + _PER_EN_SYNONYM * i
                for german, cost, head in germans:
                    if head and " " in english:  # a phrase for a phrase: no compound
                        continue
                    _add_pair(pairs, (english, german), base + cost, verb, number)
    return pairs, frequency


def _german_synonyms(de_part: str) -> list[tuple[str, float, bool]]:
    """(lower-cased German word, its cost, head noun of a phrase?) of one ``|`` part."""
    germans = []
    for j, synonym in enumerate(_synonyms(de_part)):
        found = german_word(synonym)
        if found is None:
            continue
        word, head = found
        cost = _PER_DE_SYNONYM * j + (_HEAD_NOUN_COST if head else 0.0)
        if "[" in synonym and _MARKED.search(synonym):
            cost += _MARKED_COST
        germans.append((word.lower(), cost, head))
    return germans


def _add_pair(pairs: Pairs, key: tuple[str, str], cost: float, verb: bool, number: int) -> None:
    """Record one pairing on line ``number``: the best cost, lines counted once each."""
    entry = pairs.get(key)
    if entry is None:
        pairs[key] = [cost, 1, verb, number]
        return
    if entry[3] != number:
        entry[1] += 1
        entry[3] = number
    if cost < entry[0]:
        entry[0] = cost
    if verb:
        entry[2] = True


def rank_pairs(
    pairs: Pairs, frequency: dict[str, int], limit: int = MAX_TRANSLATIONS
) -> dict[str, list[str]]:
    """The German words of each English word, best first (see ``parse_ding``)."""
    scored: dict[str, list[tuple[float, bool, str]]] = defaultdict(list)
    for (english, german), (cost, lines_pairing, verb, _) in pairs.items():
        score = (
            cost
            - _SUPPORT_BONUS * math.log(lines_pairing)
            - _FREQUENCY_BONUS * math.log(frequency.get(german, 0) + 1)
        )
        scored[english].append((score, verb, german))
    return {english: _interleave(found, limit) for english, found in scored.items()}


def _interleave(pairs: list[tuple[float, bool, str]], limit: int) -> list[str]:
    """Best first, nouns and verbs taking turns (the better kind starting); a pair far
    behind the best one is left out ("long": not "Kaufposition", "days": not "Täge")."""
    pairs.sort()
    pairs = [pair for pair in pairs if pair[0] <= pairs[0][0] + _MARGIN]
    kinds = [[g for _, verb, g in pairs if not verb], [g for _, verb, g in pairs if verb]]
    if pairs[0][1]:
        kinds.reverse()
    out: list[str] = []
    for i in range(max(len(kinds[0]), len(kinds[1]))):
        for kind in kinds:
            if i < len(kind) and kind[i] not in out:
                out.append(kind[i])
    return out[:limit]


STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been
    before being below between both but by can cannot could did didn do does doesn doing
    don down during each either else ever every few for from further get gets got had has
    have having he her here hers herself him himself his how i if in into is isn it its
    itself just let lets me might more most must my myself neither no nor not now of off
    on once only or other ought our ours ourselves out over own per please same shall she
    should since so some such than that the their theirs them themselves then there these they
    this those through thus to too under until up upon us very was wasn we were weren what
    whatever when whenever where whether which while who whoever whom whose why will with
    within without would yes yet you your yours yourself many much s t d ll m re ve
    """.split()
)
