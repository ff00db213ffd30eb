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
