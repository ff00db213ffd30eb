"""The kind of answer a question asks for (a number, a time, a person, a place, a reason)
and the words of a sentence that are such an answer: part of the evidence that a sentence
answers (``judge.features``). Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# --- the kind of answer a question asks for -------------------------------------------

_NUMBER_Q = re.compile(
    r"\b(wie viele|wieviele|wie viel|wieviel|how many|how much|welche[rsmn]? (?:anzahl|zahl)|"
    r"what (?:number|percentage|proportion|amount|share)|wie hoch|wie groß|wie lang|wie alt|"
    r"wie weit|wie schwer|wie teuer|wie oft|how (?:long|old|large|big|high|far|heavy|often|tall)|"
    r"what (?:was|is) the (?:cost|price|population|size|length|height|number)|"
    r"(?:innerhalb |binnen |in )?welche[rmn]? frist|"
    r"(?:within )?what (?:time limit|period|deadline))\b",
    re.I,
)
_TIME_Q = re.compile(
    r"\b(wann|seit wann|bis wann|in welchem jahr|welches jahr|welchem jahrhundert|"
    r"welchem datum|an welchem tag|in welchem monat|when|what year|which year|what century|"
    r"in what year|what date|on what day|which decade|what decade)\b",
    re.I,
)
_PERSON_Q = re.compile(
    r"^\W*(?:und\s+|and\s+)?(wer|wem|wen|wessen|who|whom|whose)\b|"
    r"\b(welche[rsmn]? (?:[\w-]+ )?(?:person|mann|frau|könig|königin|kaiser|präsident|"
    r"wissenschaftler|autor|architekt|künstler|maler|komponist|spieler|trainer|politiker|"
    r"erfinder|papst|bischof|direktor|gründer|ingenieur|botschafter|minister|kanzler|"
    r"unternehmen|firma|konzern)\w*|"
    r"(?:which|what) (?:[\w-]+ )?(?:person|man|woman|king|queen|emperor|president|scientist|"
    r"author|architect|artist|painter|composer|player|coach|politician|inventor|pope|bishop|"
    r"director|founder|engineer|ambassador|minister|chancellor|company|firm|corporation)s?|"
    r"what (?:was|is) (?:the|his|her) name|wie hie(?:ß|ss)|wie heißt)\b",
    re.I,
)
# "Wer ist Natalie Baker?" asks what a named person is (a role), not for a name
_WHO_IS_NAME = re.compile(
    r"^\W*(?:[Uu]nd\s+|[Aa]nd\s+)?(?:[Ww]er|[Ww]ho)\s+(?:ist|war|sind|waren|is|was|are|were)"
    r"(?:\s+(?:[A-ZÄÖÜ][\w.-]*|bin|ibn|von|van|de|da|al)){1,5}\s*\??\s*$"
)
_REASON_Q = re.compile(
    r"\b(warum|wieso|weshalb|weswegen|aus welchem grund|why|for what reason)\b", re.I
)
_PLACE_Q = re.compile(
    r"^\W*(?:und\s+|and\s+)?(wo|wohin|woher|where)\b|"
    r"\b(in welche[rmn]? (?:stadt|land|region|ort|staat|gegend)|"
    r"in (?:which|what) (?:city|country|region|town|state|place|county|area|district|building|"
    r"laboratory|university|museum)|(?:on|at) (?:which|what) (?:mountain|river|island|site)|"
    r"an welchem ort|in welche[rmn]? (?:labor|universität|gebäude|museum|provinz|bezirk))\b",
    re.I,
)
_NUMBER = re.compile(
    r"\d+(?:[.,]\d+)*|\b(zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|"
    r"dreißig|hundert|tausend|million|millionen|milliarde|milliarden|dutzend|hälfte|"
    r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|"
    r"thousand|million|billion|dozen|half)\b",
    re.I,
)
_TIME = re.compile(
    r"\b\d{3,4}\b|\b\d{1,2}\.\s?\d{1,2}\.|jahrhundert|jahrzehnt|century|decade|"
    r"\b(januar|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember|"
    r"january|february|march|june|july|october|december|frühjahr|sommer|herbst|winter|"
    r"spring|summer|autumn)\b|\b\d{2,4}er\b|\b\d{2,4}s\b",
    re.I,
)
# a name: capitalised words in a row (particles allowed inside); one that starts with a
# capitalised function word ("Die Stadt", "In London") is a sentence start, not a name
_NAME = re.compile(
    r"\b[A-ZÄÖÜ][\w\-]+(?:\s+(?:von|van|de|der|bin|ibn|da|di|du|la|le)?\s*[A-ZÄÖÜ][\w\-]+)+"
)
_NOT_NAME_START = frozenset(
    "der die das den dem des ein eine einer eines einem einen im in am an auf aus bei mit nach "
    "von vom zu zum zur für über unter um durch als wie dies diese dieser dieses es er sie wir "
    "the a an in on at by for with from as of to this these those it he she they we".split()
)
_PLACE = re.compile(r"\b(in|im|nach|bei|aus|at|near|from|to)\s+(?:der |dem |the )?[A-ZÄÖÜ]\w+")


_REASON = re.compile(
    r"\b(weil|da sie|da er|da es|denn|wegen|aufgrund|infolge|deshalb|daher|darum|deswegen|"
    r"um (?:\w+ ){0,6}zu|so dass|sodass|führte|because|since|due to|owing to|as a result|"
    r"therefore|thus|so that|in order to|led to|caused|reason)\b",
    re.I,
)


def expected_type(question: str) -> str | None:
    """The kind of answer asked for: "reason", "time", "number", "person", "place" or None."""
    if _REASON_Q.search(question):
        return "reason"
    if _TIME_Q.search(question):
        return "time"
    if _NUMBER_Q.search(question):
        return "number"
    if _PERSON_Q.search(question) and not _WHO_IS_NAME.match(question):
        return "person"
    if _PLACE_Q.search(question):
        return "place"
    return None


def _new_matches(pattern: re.Pattern, text: str, question: str) -> list[str]:
    asked = question.lower()
    return [m.group(0) for m in pattern.finditer(text) if m.group(0).lower() not in asked]


# A number as a whole token ("WLF1" holds none), with the scale and unit that follow it.
_WHOLE_NUMBER = re.compile(
    r"(?<![\w.,])(?:\d+(?:[.,]\d+)*|" + _NUMBER.pattern.split("|", 1)[1] + r")(?![\w])"
    r"(?:\s+(?:Millionen|Milliarden|Mio\.|Mrd\.|Tausend|million|billion|thousand))?"
    r"(?:\s*(?:%|Prozent|percent|per cent|Euro|EUR|€|US-Dollar|Dollar|dollars?|\$|Jahren?|"
    r"years?|Tagen?|days?|Wochen|weeks?|Monaten?|months?|Stunden|hours?|Minuten|minutes?|"
    r"Meter|met(?:re|er)s?|Kilometer|km|Punkte|points?)(?![\w]))?",
    re.I,
)
# endings of German common nouns: a capitalised run with one is no name ("Förderung von")
_NOUN_ENDING = re.compile(
    r"(ung|heit|keit|schaft|tion|tät|ismus|ment|nis|tum|rat|amt|gesetz|verband|gruppe|"
    r"ministerium|behörde|agentur|gericht|ordnung)$",
    re.I,
)


def is_name(span: str, common: Callable[[str], bool] | None = None) -> bool:
    """A run of capitalised words that reads as a name, not a German noun phrase;
    ``common`` tells ordinary words (a dictionary's): a run of only those is no name
    ("Künstliche Intelligenz")."""
    words = span.split()
    if words[0].lower() in _NOT_NAME_START or span.endswith("-"):
        return False
    caps = [w.strip("-") for w in words if w[0].isupper()]
    if any(_NOUN_ENDING.search(w) for w in caps):
        return False
    return common is None or not all(common(w) for w in caps)


def name_part(span: str, common: Callable[[str], bool] | None = None) -> str:
    """The longest tail of a capitalised run that reads as a name ("Führung von Bilal
    bin Saqib" -> "Bilal bin Saqib"); "" when none does."""
    words = span.split()
    for i, word in enumerate(words):
        tail = " ".join(words[i:])
        if word[0].isupper() and len(words) - i >= 2 and is_name(tail, common):
            return tail
    return ""


def answer_spans(
    kind: str | None, text: str, question: str, common: Callable[[str], bool] | None = None
) -> list[str]:
    """Whole words or phrases of ``text`` of the asked kind that the question does not
    already contain (a person's name for who, a number with its unit for how many, a
    date for when, a place for where); [] when there is none of that kind."""
    if kind == "time":
        return _new_matches(_TIME, text, question)
    if kind == "number":
        return [m.strip() for m in _new_matches(_WHOLE_NUMBER, text, question)]
    if kind == "person":
        names = (name_part(m, common) for m in _new_matches(_NAME, text, question))
        return [n for n in names if n and n.lower() not in question.lower()]
    if kind == "place":
        return _new_matches(_PLACE, text, question)
    if kind == "reason":
        return _new_matches(_REASON, text, question)
    return []
