"""English questions over German documents: the question's content words in German.

The lexical half of retrieval (BM25 over German stems) and the "does this sentence hold
the question's terms" evidence both compare words, so an English question finds nothing
in a German corpus unless its words are translated. A word-for-word translation with
Debian's offline Ding dictionary (package ``trans-de-en``, lines ``German :: English``)
is enough for that: no model, no network. Parsing its ~206,000 lines takes seconds, so
they are compiled once (per file size, mtime and format) into a sorted table that every
later process memory-maps and binary-searches: opening it takes well under a millisecond.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import math
import mmap
import os
import re
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Bump when parsing or ranking change: compiled caches are rebuilt.
FORMAT_VERSION = 3
DEFAULT_PATH = Path("/usr/share/trans/de-en")
MAX_TRANSLATIONS = 6  # per English word in a query
# Kept per English word in the compiled table: when ``known`` drops the words the corpus
# lacks, the next ones move up ("housing": Unterkunft, Wohnen, ... Wohnungsbau).
STORED_TRANSLATIONS = 12
INSTALL_HINT = (
    "English questions are matched against German documents without a dictionary: "
    "install Debian's trans-de-en (`apt-get install trans-de-en`, or `make install`) "
    "or set ASSISTANT_DICTIONARY to a Ding de-en file"
)

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
            base_part = _SUBENTRY if p else 0.0
            if "[" in de_part and _DOMAIN.search(de_part):
                base_part -= _DOMAIN_BONUS
            for (english, verb), i in englishes:
                base = base_part + _PER_EN_SYNONYM * i
                for german, cost, head in germans:
                    if head and " " in english:  # a phrase for a phrase: no compound
                        continue
                    key = (english, german)
                    entry = pairs.get(key)
                    if entry is None:
                        pairs[key] = [base + cost, 1, verb, number]
                        continue
                    if entry[3] != number:
                        entry[1] += 1
                        entry[3] = number
                    if base + cost < entry[0]:
                        entry[0] = base + cost
                    if verb:
                        entry[2] = True
    return pairs, frequency


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


# -- inflections ----------------------------------------------------------------------------


_local = threading.local()


def _english_stemmer():
    """Snowball's English stemmer (PyStemmer), one per thread: a stemmer object keeps
    state between calls and is not safe to share."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def stem_groups(words: Iterable[str]) -> dict[str, list[str]]:
    """Snowball English stem -> the dictionary's words with that stem, shortest first
    (so "employees" and "employee" meet under "employe"). Pure."""
    words = sorted(w for w in words if " " not in w)
    groups: dict[str, list[str]] = defaultdict(list)
    for word, stem in zip(words, _english_stemmer().stemWords(words)):
        groups[stem].append(word)
    for members in groups.values():
        members.sort(key=lambda w: (len(w), w))
    return dict(groups)


def is_inflection(word: str, base: str) -> bool:
    """Whether ``word`` is ``base`` with a regular English ending: rent/rented,
    move/moves/moving, study/studies, plan/planned; not author/authority. Pure."""
    if word == base or not word.startswith(base[:-2]):
        return False
    stems = [base]
    if base.endswith("e"):
        stems.append(base[:-1])  # move -> mov(ing, ed)
    if base.endswith("y"):
        stems.append(base[:-1] + "i")  # study -> studi(es, ed)
    stems.append(base + base[-1])  # plan -> plann(ed, ing)
    return any(word == stem + ending for stem in stems for ending in ("s", "es", "ed", "d", "ing"))


def _base_form(word: str, members: list[str]) -> str | None:
    for member in reversed(members):  # longest first
        if is_inflection(word, member):
            return member
    return None


def _merge(exact: list[str], base: list[str], limit: int) -> list[str]:
    """A word's own translations and its base form's, two of its own to one of the
    base's: "heating" stays "Heizung" first, "rented" gains "Miete"."""
    out: list[str] = []
    own, other = iter(exact), iter(base)
    for source in itertools.cycle((own, own, other)):
        word = next(source, None)
        if word is None:
            rest = [*own, *other]
            out.extend(w for w in rest if w not in out)
            break
        if word not in out:
            out.append(word)
    return out[:limit]


# -- questions ------------------------------------------------------------------------------

_QUESTION_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
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
GermanKnown = Callable[[str], bool]
# Endings a German word takes in running text; the stemmed index matches them all.
_GERMAN_ENDINGS = ("", "s", "es", "e", "en", "n", "er", "ern")


def _is_known(word: str, known: GermanKnown) -> bool:
    return any(known(word + ending) for ending in _GERMAN_ENDINGS)


def classify(token: str, sentence_start: bool = False) -> tuple[str, str] | None:
    """(word, kind) of one token, kind "word", "name" (capitalised inside a sentence, or
    an acronym) or "number"; None for a stopword. Pure."""
    token = re.split(r"['’]", token)[0]  # author's -> author, don't -> don
    if not token:
        return None
    if any(ch.isdigit() for ch in token):
        return token, "number"
    if token.lower() in STOPWORDS:
        return None
    if (token[0].isupper() and not sentence_start) or (len(token) > 1 and token.isupper()):
        return token, "name"
    return token.lower(), "word"


def question_words(text: str) -> list[tuple[str, str]]:
    """(word, kind) of a question's content words in order (see ``classify``). Pure."""
    return [(word, kind) for word, kind, _ in _content_words(text)]


def _content_words(text: str) -> list[tuple[str, str, bool]]:
    """(word, kind, whether it directly follows the previous content word)."""
    out: list[tuple[str, str, bool]] = []
    adjacent = False
    for n, match in enumerate(_QUESTION_TOKEN.finditer(text)):
        before = text[max(0, match.start() - 2) : match.start()]
        boundary = any(ch in ".?!:,;" for ch in before)
        found = classify(match.group(0), n == 0 or boundary)
        if found is None:
            adjacent = False
            continue
        out.append((*found, adjacent and not boundary))
        adjacent = True
    return out


@dataclass(frozen=True)
class Term:
    """One content word of an English question (kind "word", "name" or "number") and the
    German words that stand for it, best first: a compound of it and its neighbour
    ("heating costs": Heizkosten), its own translations; a name or number stands for
    itself."""

    english: str
    kind: str
    german: tuple[str, ...]


# -- the dictionary -------------------------------------------------------------------------


class _Table:
    """English word -> German words and stem -> English words, held in dicts."""

    def __init__(self, words: dict[str, list[str]], stems: dict[str, list[str]]):
        self.words, self.stems = words, stems

    def __len__(self) -> int:
        return len(self.words)

    def translations(self, word: str) -> list[str]:
        return self.words.get(word, [])

    def members(self, stem: str) -> list[str]:
        return self.stems.get(stem, [])

    def german_words(self) -> frozenset[str]:
        """Every German word a translation names (common nouns, verbs, adjectives)."""
        return frozenset(g for german in self.words.values() for g in german)


class _MappedTable(_Table):
    """The same, read by binary search from a memory-mapped compiled file: opening it
    costs nothing, a lookup reads a few pages (see ``write_table``)."""

    def __init__(self, buffer: bytes | mmap.mmap, count: int):
        self.buffer, self.count = buffer, count
        self.start = buffer.find(b"\n") + 1

    def __len__(self) -> int:
        return self.count

    def _find(self, key: bytes) -> list[str]:
        buf, lo, hi = self.buffer, self.start, len(self.buffer)
        while lo < hi:  # lo and hi are line starts
            mid = (lo + hi) // 2
            start = buf.rfind(b"\n", lo, mid) + 1 or lo
            end = buf.find(b"\n", start)
            line = buf[start:end]
            if line.startswith(key):
                return line[len(key) :].decode("utf-8").split(" ")
            if line < key:
                lo = end + 1
            else:
                hi = start
        return []

    def translations(self, word: str) -> list[str]:
        return self._find(b"e\t" + word.encode("utf-8") + b"\t") if word.isascii() else []

    def members(self, stem: str) -> list[str]:
        return self._find(b"s\t" + stem.encode("utf-8") + b"\t") if stem.isascii() else []

    def german_words(self) -> frozenset[str]:
        out: set[str] = set()
        for line in bytes(self.buffer[self.start :]).split(b"\n"):
            if line.startswith(b"e\t"):
                out.update(line.split(b"\t", 2)[2].decode("utf-8").split(" "))
        return frozenset(out)


@dataclass
class Dictionary:
    """English -> German single words from the Ding dictionary, compiled and cached.

    ``Dictionary.load()`` never raises for a missing or unreadable file: it returns an
    unavailable dictionary whose ``message`` says how to add one.
    """

    table: _Table | None = None
    source: Path | None = None
    message: str = ""
    limit: int = MAX_TRANSLATIONS  # per English word in ``translate``
    stored: int = STORED_TRANSLATIONS  # per English word in the table

    @property
    def available(self) -> bool:
        return self.table is not None and len(self.table) > 0

    @classmethod
    def missing(cls, reason: str = "") -> Dictionary:
        """A dictionary that translates nothing and says in one line how to add one."""
        return cls(message=f"{reason}: {INSTALL_HINT}" if reason else INSTALL_HINT)

    @classmethod
    def from_lines(cls, lines: Iterable[str], limit: int = MAX_TRANSLATIONS) -> Dictionary:
        """Parsed in memory, no cache (tests, small files)."""
        words = parse_ding(lines, limit=STORED_TRANSLATIONS, phrases=True)
        return cls(table=_Table(words, stem_groups(words)), limit=limit)

    @classmethod
    def load(
        cls, path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
    ) -> Dictionary:
        """The Ding file at ``path`` (else $ASSISTANT_DICTIONARY, else Debian's), opened
        from its compiled cache in ``cache_dir`` (else ~/.cache/doc-assistant) when that
        is current, else parsed (seconds) and compiled for the next process."""
        source = Path(path or os.environ.get("ASSISTANT_DICTIONARY") or DEFAULT_PATH)
        try:
            stat = source.stat()
        except OSError:
            logger.info("no German-English dictionary at %s", source)
            return cls.missing(f"no German-English dictionary at {source}")
        cache = cache_file(source, stat, Path(cache_dir) if cache_dir else default_cache_dir())
        table = open_table(cache)
        if table is not None:
            return cls(table=table, source=source)
        started = time.perf_counter()
        try:
            with open(source, encoding="utf-8", errors="replace") as lines:
                words = parse_ding(lines, limit=STORED_TRANSLATIONS, phrases=True)
        except OSError as exc:
            logger.warning("cannot read the dictionary %s: %s", source, exc)
            return cls.missing(f"cannot read {source}")
        if not words:
            return cls.missing(f"{source} holds no Ding entries")
        stems = stem_groups(words)
        logger.info(
            "parsed %s (%d English words) in %.1f s",
            source,
            len(words),
            time.perf_counter() - started,
        )
        table = write_table(cache, words, stems) or _Table(words, stems)
        return cls(table=table, source=source)

    # -- lookups ----------------------------------------------------------------------------
    def lookup(self, word: str, limit: int | None = None) -> list[str]:
        """German words for one English word, best first (``limit``, else ``self.limit``):
        its own entry, taking turns with its base form's when it is an inflection
        ("rented": "gemietet", "vermietet", "miete")."""
        limit = limit or self.limit
        if self.table is None:
            return []
        word = word.lower()
        exact = self.table.translations(word)
        members = self.table.members(_english_stemmer().stemWord(word))
        base = _base_form(word, members)
        if base is None and not exact and members:
            base = members[0]
        if base is None:
            return exact[:limit]
        return _merge(exact, self.table.translations(base), limit)

    def translations(
        self, text_or_words: str | Iterable[str], known: GermanKnown | None = None
    ) -> list[Term]:
        """Each content word of the question with its German words (kept only where
        ``known`` says the corpus has them, in some inflection); an untranslated word the
        corpus knows stands for itself (a loanword, a name written in lower case)."""
        if isinstance(text_or_words, str):
            words = _content_words(text_or_words)
        else:
            words = [(*found, False) for w in text_or_words if (found := classify(w))]
        # Two adjacent words German writes as one ("heating costs": Heizkosten) put the
        # compound first among each of the two words' translations.
        compounds: dict[int, list[str]] = defaultdict(list)
        for n in range(len(words) - 1):
            (first, kind, _), (second, next_kind, adjacent) = words[n], words[n + 1]
            if kind == next_kind == "word" and adjacent:
                compound = self._compound(first, second, known)
                compounds[n] += compound
                compounds[n + 1] += compound
        terms: list[Term] = []
        seen: set[str] = set()
        for n, (word, kind, _) in enumerate(words):
            if word.lower() in seen:
                continue
            seen.add(word.lower())
            if kind == "number":
                terms.append(Term(word, kind, (word,)))
                continue
            own = self.lookup(word, self.stored)
            german = list(dict.fromkeys([*compounds.get(n, ()), *own]))
            german = self._known(german, known)
            if kind == "name":
                german = [word, *(g for g in german if g != word.lower())]
            elif not german and known is not None and known(word):
                german = [word]
            terms.append(Term(word, kind, tuple(german)))
        return terms

    def _known(self, german: list[str], known: GermanKnown | None) -> list[str]:
        """The first ``limit`` words, of those the corpus has when ``known`` is given."""
        if known is not None:
            german = [g for g in german if _is_known(g, known)]
        return german[: self.limit]

    def _compound(self, first: str, second: str, known: GermanKnown | None) -> list[str]:
        """The German words of two adjacent English ones, singular or plural."""
        if self.table is None:
            return []
        other = second[:-1] if second.endswith("s") else second + "s"  # costs / cost
        for key in (f"{first} {second}", f"{first} {other}"):
            german = self._known(self.table.translations(key), known)
            if german:
                return german[:2]
        return []

    def translate(
        self, text_or_words: str | Iterable[str], known: GermanKnown | None = None
    ) -> list[str]:
        """German words for an English question's content words, per English word best
        first, names and numbers as they are; [] when the dictionary is unavailable."""
        if not self.available:
            return []
        out: list[str] = []
        for term in self.translations(text_or_words, known):
            out.extend(g for g in term.german if g not in out)
        return out

    def translated_query(self, question: str, known: GermanKnown | None = None) -> str:
        """The question as a BM25 query for a German index: names, numbers and the German
        words of its content words, in the question's order ("" when unavailable)."""
        return " ".join(self.translate(question, known))


# -- one per process ------------------------------------------------------------------------

_shared: dict[tuple[str | None, str | None], Dictionary] = {}
_shared_lock = threading.Lock()


def shared(
    path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    wait: bool = True,
) -> Dictionary:
    """The process's dictionary for ``path``, loaded on the first call (milliseconds from
    the compiled file; the first run on a machine compiles it, seconds). With
    ``wait=False`` a call during that compilation returns an unavailable dictionary at
    once instead of waiting (a question is then answered without translation)."""
    key = (str(path) if path else None, str(cache_dir) if cache_dir else None)
    found = _shared.get(key)
    if found is not None:
        return found
    if not _shared_lock.acquire(blocking=wait):
        return Dictionary.missing("the German-English dictionary is still being compiled")
    try:
        if key not in _shared:
            _shared[key] = Dictionary.load(path, cache_dir)
        return _shared[key]
    finally:
        _shared_lock.release()


def preload(
    path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> threading.Thread:
    """Load (or on a first run compile) ``shared``'s dictionary in a daemon thread, so a
    server's first English question does not wait for it."""
    thread = threading.Thread(
        target=shared, args=(path, cache_dir), name="dictionary-load", daemon=True
    )
    thread.start()
    return thread


# -- the compiled cache ---------------------------------------------------------------------

_HEADER = b"ding-de-en %d\n"
_TRAILER = b"~end\n"  # sorts after every record: a file without it is incomplete


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "doc-assistant"


def cache_file(source: Path, stat: os.stat_result, folder: Path) -> Path:
    """The compiled form of ``source`` as it is now: named by its path, size, mtime and
    the format, so a changed file or a new parser compiles anew."""
    name = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    version = f"{stat.st_size}-{stat.st_mtime_ns}-v{FORMAT_VERSION}-{STORED_TRANSLATIONS}"
    return folder / f"ding-{name}-{version}.tsv"


def table_bytes(words: dict[str, list[str]], stems: dict[str, list[str]]) -> bytes:
    """The compiled file: a header, then sorted lines ``e<TAB>word<TAB>german ...`` and
    ``s<TAB>stem<TAB>english ...``, then a trailer. Pure."""
    lines = [f"e\t{w}\t{' '.join(g)}" for w, g in words.items() if w.isascii() and g]
    lines += [f"s\t{s}\t{' '.join(m)}" for s, m in stems.items() if s.isascii() and m]
    body = sorted(line.encode("utf-8") for line in lines)
    return _HEADER % len(words) + b"\n".join(body) + b"\n" + _TRAILER


def open_table(path: Path) -> _MappedTable | None:
    """The compiled file memory-mapped, or None when it is missing or incomplete."""
    try:
        with open(path, "rb") as f:
            buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):  # ValueError: an empty file
        return None
    except OSError as exc:
        logger.warning("cannot open the compiled dictionary %s: %s", path, exc)
        return None
    head = buffer[: buffer.find(b"\n") + 1]
    if not head.startswith(b"ding-de-en ") or not buffer[-len(_TRAILER) - 1 :].endswith(
        b"\n" + _TRAILER
    ):
        logger.warning("ignoring the damaged compiled dictionary %s", path)
        return None
    return _MappedTable(buffer, int(head.split()[1]))


def write_table(
    path: Path, words: dict[str, list[str]], stems: dict[str, list[str]]
) -> _MappedTable | None:
    """Write the compiled file atomically (a temporary file renamed into place, so two
    processes compiling at once both end with a whole one), drop the older compilations
    of the same source, and open it; None when the folder is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ding-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(table_bytes(words, stems))
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        logger.warning("cannot cache the compiled dictionary in %s: %s", path.parent, exc)
        return None
    _prune(path)
    return open_table(path)


_KEEP_OTHER_FORMATS = 30 * 24 * 3600  # seconds


def _prune(current: Path) -> None:
    """Drop the compilations of an older state of the same file in this format. Another
    format's stay a month: another version of the code (a second checkout, a server not
    yet restarted) may still use them, and would otherwise compile anew each start."""
    same_source = "-".join(current.name.split("-")[:2]) + "-"
    same_format = f"-v{FORMAT_VERSION}-{STORED_TRANSLATIONS}.tsv"
    for old in current.parent.glob(same_source + "*.tsv"):
        if old == current:
            continue
        with contextlib.suppress(OSError):
            if old.name.endswith(same_format) or (
                time.time() - old.stat().st_mtime > _KEEP_OTHER_FORMATS
            ):
                old.unlink()
