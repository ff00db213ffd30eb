"""phrases: the answer sentences in both languages, and how quotes are framed."""

import pytest

from assistant.answer import phrases

TABLES = [
    phrases.DECLINE,
    phrases.NOT_A_QUESTION,
    phrases.HEDGE,
    phrases.HEDGE_WHERE,
    phrases.UNCITED_NOTICE,
    phrases.FALLBACK_NOTICE,
    phrases.WAITING,
    phrases.CITED,
    phrases.CITED_OTHER,
    phrases.FOUND,
    phrases.SOURCE_LANGUAGE,
    phrases.QUOTE_MARKS,
]


class TestPhrases:
    @pytest.mark.parametrize("table", TABLES)
    def test_every_phrase_exists_in_both_languages(self, table):
        assert set(table) == {"de", "en"}

    def test_a_quote_is_one_line_in_the_languages_marks(self):
        assert phrases.quote("de", "Ein\n  Satz.") == "„Ein Satz.“"
        assert phrases.quote("en", "A\tsentence.") == "“A sentence.”"

    def test_quotes_from_a_source_in_the_question_language(self):
        assert phrases.cited("de", 0, "Er ist CEO.", "de") == "Laut [1]: „Er ist CEO.“"
        assert phrases.cited("en", 1, "He is CEO.", "en") == "Also, according to [2]: “He is CEO.”"

    def test_a_source_in_the_other_language_is_named_with_the_answer_in_bold(self):
        text = phrases.cited("en", 0, "Bilal ist CEO.", "de", "Bilal")
        assert (
            text == "According to the German source [1], the answer is **Bilal**: “Bilal ist CEO.”"
        )
        text = phrases.cited("de", 1, "Bilal is CEO.", "en")
        assert text == "Außerdem laut der englischen Quelle [2]: „Bilal is CEO.“"

    def test_the_hedge_names_a_source_in_the_other_language(self):
        assert phrases.hedge("de", [("X.", "de")]).endswith("Am nächsten kommt [1]: „X.“")
        assert "in the German source [1]" in phrases.hedge("en", [("X.", "de")])

    def test_a_hedge_of_several_passages_numbers_each(self):
        text = phrases.hedge("en", [("X.", "en"), ("Y.", "de")])
        assert text.startswith("The documents do not answer this directly.")
        assert "[1]: “X.”" in text and "[2] (in the German source): “Y.”" in text
