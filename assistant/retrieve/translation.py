"""The :class:`~assistant.retrieve.retriever.Translator` behind cross-language lexical evidence:
an English question's content words in German, from the bilingual dictionary.

Dense retrieval already matches across languages; BM25 and the answerer's term evidence
do not, so an English question over German documents lost both. With the dictionary the
German index reads the question in German words, and each English word counts as
covered where one of its German translations occurs.
"""

from __future__ import annotations

import logging
import threading

from assistant.retrieve.bilingual import Dictionary

logger = logging.getLogger(__name__)


class DictionaryTranslator:
    """English to German through a :class:`~assistant.retrieve.bilingual.Dictionary`, loaded on
    first use (a compiled, memory-mapped table: milliseconds once compiled)."""

    PAIRS = frozenset({("en", "de")})
    # particles inside names ("Bilal bin Saqib", "Ludwig van Beethoven"): not words to translate
    NAME_PARTICLES = frozenset({"bin", "ibn", "von", "van", "al", "del", "da", "di", "le"})

    def __init__(self, path: str = "", dictionary: Dictionary | None = None):
        self._path = path
        self._dictionary: Dictionary | None = dictionary
        self._lock = threading.Lock()

    @property
    def dictionary(self) -> Dictionary:
        with self._lock:
            if self._dictionary is None:
                if self._path == "off":
                    self._dictionary = Dictionary.missing("the dictionary is switched off")
                else:
                    self._dictionary = Dictionary.load(self._path or None)
                if not self._dictionary.available:
                    logger.warning(
                        "English questions over German documents without a dictionary: %s",
                        self._dictionary.message,
                    )
            return self._dictionary

    @property
    def available(self) -> bool:
        return self.dictionary.available

    @property
    def message(self) -> str:
        """Why there is no dictionary and how to add one ("" when there is)."""
        return "" if self.available else self.dictionary.message

    def can(self, source: str, target: str) -> bool:
        return (source, target) in self.PAIRS and self.available

    def query(self, question: str, source: str, target: str) -> str:
        return self.dictionary.translated_query(question) if self.can(source, target) else ""

    def groups(self, question: str, source: str, target: str) -> list[list[str]]:
        if not self.can(source, target):
            return []
        return [
            list(t.german)
            for t in self.dictionary.translations(question)
            if t.german and t.english.lower() not in self.NAME_PARTICLES
        ]

    def common_word(self, word: str) -> bool:
        """Whether a (capitalised) word is an ordinary German word the dictionary
        translates ("Intelligenz", "Pakistan"), not a name only a document knows."""
        if not self.available:
            return False
        if not self.available:
            return False
        table = self.dictionary.table
        if table is None:
            return False
        low = word.lower().strip("-").rsplit("-", 1)[-1]  # a compound by its last part
        # inflected: "Künstliche" is "künstlich", "Verträgen" is "verträge"
        return table.is_german(low) or any(
            low.endswith(e) and table.is_german(low[: -len(e)])
            for e in ("e", "en", "er", "es", "em", "n", "s")
        )
