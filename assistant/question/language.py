"""German or English? Decided by function words, which needs no model and no download."""

from __future__ import annotations

import re

_DE = set(
    "der die das und ist nicht ein eine einen einem einer des dem den zu mit von auf für "
    "im in sich auch als wie wer was wann wo warum welche welcher welches wieso weshalb "
    "wurde wurden wird werden hat haben hatte war waren sind bei nach aus um über unter "
    "oder aber noch nur vom zum zur durch gegen ohne sein seine ihr ihre es man dass "
    "viele wieviel wie viele woher wohin womit wofür wozu ich sie er kann können gibt".split()
)
_EN = set(
    "the and is are was were of to in on for with by from at as an a what who when where "
    "why which how many much does did do has have had be been this that these those it its "
    "not or but also than into about after before there their they he she his her can "
    "could would should whose whom".split()
)
_WORD = re.compile(r"[a-zäöüß]+", re.IGNORECASE)


def detect_language(text: str) -> str:
    """Return "de" or "en"; umlauts and ß tip a tie towards German."""
    words = [w.lower() for w in _WORD.findall(text)]
    de = sum(w in _DE for w in words) + 2 * len(re.findall(r"[äöüß]", text.lower()))
    en = sum(w in _EN for w in words)
    return "en" if en > de else "de"


# Function words of the languages people most often try instead; a question that is
# clearly in one of them is told which languages are supported, not answered in German.
_OTHER = {
    "fr": "le la les des du un une est sont qui que quoi quand où comment pourquoi quel quelle "
    "quels quelles dans pour avec sur pas ce cette il elle ils nous vous je au aux et ou "
    "été était combien",
    "es": "el la los las un una es son qué quién quiénes cuándo dónde cómo por qué cuál "
    "cuáles en para con del al fue era y o no se su sus cuántos cuántas",
    "it": "il lo la gli le un una è sono chi che cosa quando dove come perché quale quali "
    "nel nella per con del della dei fu era e o non si suo sua quanti quante",
    "nl": "de het een is zijn wie wat wanneer waar hoe waarom welke welk van voor met op "
    "niet ook en of werd was hij zij",
    "tr": "bir ve bu ne kim kimdir nedir nerede neden nasıl hangi mi mı mu mü için ile da de "
    "olan oldu zaman kaç",
    "pl": "i w z na do się jest są kto co kiedy gdzie jak dlaczego który która które nie "
    "czy od po dla był była było ile",
    "pt": "o a os as um uma é são quem que quando onde como por qual quais em para com do da "
    "dos das foi era e ou não seu sua quantos",
}
_OTHER_SETS = {lang: set(words.split()) for lang, words in _OTHER.items()}
_OTHER_LETTERS = re.compile(r"[çéèêàâîôûœñ¿¡ğışłąęśźżćńãõÇÉÈÊÀÂÎÔÛŒÑĞİŞŁĄĘŚŹŻĆŃ]")
# the words a German or English question asks with (intake, follow-ups, the judge's anchors)
QUESTION_WORDS = frozenset(
    "wer wen wem wessen was wann wo wohin woher wie warum weshalb wieso welche welcher welches "
    "welchen welchem who whom whose what when where which why how".split()
)
_ANY_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def question_language(text: str) -> str:
    """ "de", "en", or "other" for a question clearly written in another language."""
    words = [w.lower() for w in _ANY_WORD.findall(text)]
    de = sum(w in _DE for w in words) + 2 * len(re.findall(r"[äöüß]", text.lower()))
    en = sum(w in _EN for w in words)
    foreign = len(_OTHER_LETTERS.findall(text))
    other = max(sum(w in s for w in words) for s in _OTHER_SETS.values()) + foreign
    if other > max(de, en) and (other >= 2 or de == en == 0):
        return "other"
    return "en" if en > de else "de"


_SMALL_TALK = set(
    "hallo hi hello hey moin servus danke dankeschön thanks thank you ok okay bye tschüss "
    "ciao cool super gut good nice yes no ja nein bitte please test".split()
)


def has_words(text: str) -> bool:
    """Whether there is anything to ask about: a word of three or more letters that is
    neither a function word nor small talk ("Hallo", "Danke!", "ok")."""
    words = [w.lower() for w in _ANY_WORD.findall(text)]
    return any(len(w) >= 3 and w not in _SMALL_TALK and w not in _DE | _EN for w in words)


_CODE_SYMBOLS = set("={}[]<>;$|\\")


def is_prose(text: str) -> bool:
    """Words, not code, headers or markup: only prose can answer (or be asked).

    Lines of code and HTTP headers sit near every question in the embedding space (they
    mean little, so they lie in the middle of it); quoting them answers nothing.
    """
    chars = "".join(text.split())  # every non-space character (one pass in C: ~20 a question)
    if not chars:
        return False
    letters = sum(map(str.isalpha, chars))
    symbols = sum(map(chars.count, _CODE_SYMBOLS))
    words = _ANY_WORD.findall(text)
    return (
        letters / len(chars) >= 0.65
        and symbols / len(chars) < 0.05
        and ">>>" not in text
        and sum(len(w) >= 2 for w in words) >= 2
        and not text.lstrip().startswith("![")
    )


def looks_like_code(text: str) -> bool:
    """A question that is markup, a query or a command rather than words."""
    chars = [ch for ch in text if not ch.isspace()]
    return bool(chars) and sum(ch in _CODE_SYMBOLS for ch in chars) / len(chars) >= 0.05
