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

import itertools
import logging
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from assistant.retrieve.ding import (
    DEFAULT_PATH,
    MAX_TRANSLATIONS,
    STOPWORDS,
    STORED_TRANSLATIONS,
    english_word,
    german_word,
    parse_ding,
)
from assistant.retrieve.ding_table import (
    Table,
    cache_file,
    default_cache_dir,
    open_table,
    table_bytes,
    write_table,
)

__all__ = [
    "DEFAULT_PATH",
    "MAX_TRANSLATIONS",
    "STORED_TRANSLATIONS",
    "Dictionary",
    "Term",
    "classify",
    "english_word",
    "german_word",
    "is_inflection",
    "parse_ding",
    "preload",
    "question_words",
    "shared",
    "stem_groups",
    "table_bytes",
]

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "English questions are matched against German documents without a dictionary: "
    "install Debian's trans-de-en (`apt-get install trans-de-en`, or `make install`) "
    "or set ASSISTANT_DICTIONARY to a Ding de-en file"
)

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


@dataclass
class Dictionary:
    """English -> German single words from the Ding dictionary, compiled and cached.

    ``Dictionary.load()`` never raises for a missing or unreadable file: it returns an
    unavailable dictionary whose ``message`` says how to add one.
    """

    table: Table | None = None
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
        return cls(table=Table(words, stem_groups(words)), limit=limit)

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
        table = write_table(cache, words, stems) or Table(words, stems)
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
