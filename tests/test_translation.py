"""The translator the retriever and the answerer use, over a dictionary made here."""

from __future__ import annotations

from assistant.retrieve.bilingual import Dictionary
from assistant.retrieve.translation import DictionaryTranslator

LINES = [
    "Arbeitnehmer {m} | Arbeitnehmer {pl} :: employee | employees",
    "Urlaub {m} :: leave; holiday [Br.]",
    "Tag {m} | Tage {pl} :: day | days",
]


class TestDictionaryTranslator:
    def test_only_english_to_german(self):
        t = DictionaryTranslator(dictionary=Dictionary.from_lines(LINES))
        assert t.can("en", "de") and not t.can("de", "en") and not t.can("en", "en")

    def test_a_group_of_german_words_per_english_word(self):
        t = DictionaryTranslator(dictionary=Dictionary.from_lines(LINES))
        groups = t.groups("How many days of leave does an employee get?", "en", "de")
        assert ["arbeitnehmer"] in groups and any("urlaub" in g for g in groups)
        assert "urlaub" in t.query("How much leave?", "en", "de")

    def test_without_a_dictionary_nothing_is_translated_and_it_says_how_to_add_one(self):
        t = DictionaryTranslator(path="off")
        assert not t.available and not t.can("en", "de")
        assert t.query("How much leave?", "en", "de") == "" and t.groups("x", "en", "de") == []
        assert "trans-de-en" in t.message

    def test_ordinary_german_words_are_no_names(self):
        t = DictionaryTranslator(dictionary=Dictionary.from_lines(LINES))
        assert t.common_word("Urlaub") and t.common_word("Arbeitnehmern")  # inflected
        assert t.common_word("Jahres-Urlaub")  # a compound by its last part
        assert not t.common_word("Natalie") and not t.common_word("Baker")
