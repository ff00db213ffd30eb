"""The generative answerer's pure parts, one class each: which sentence a [n] claims,
what counts as the model declining, and how confident a written answer is."""

from assistant.answer.citations import Citation
from assistant.answer.citer import narrow_quote
from assistant.answer.generative import answer_confidence, is_decline
from assistant.answer.phrases import DECLINE
from assistant.retrieve.retriever import Hit
from assistant.store.records import StoredChunk

TEXT = (
    "Der Rat wurde 2024 gegründet. Bilal bin Saqib ist sein CEO. "
    "Er traf die Botschafterin Natalie Baker."
)


def stem(words):
    return [w.lower() for w in words]


def hit(text: str = TEXT, start: int = 100) -> Hit:
    chunk = StoredChunk("c1", text, "a.txt", "v", start, start + len(text), None, "de", 0)
    return Hit(chunk, dense=0.8)


class TestNarrowQuote:
    def test_the_sentence_sharing_most_words_with_the_claim_is_quoted(self):
        start, end = narrow_quote("Der CEO ist Bilal bin Saqib [1].", 1, hit(), stem)
        assert TEXT[start - 100 : end - 100] == "Bilal bin Saqib ist sein CEO."

    def test_only_sentences_citing_that_number_count(self):
        answer = "Der CEO ist Bilal bin Saqib [2]. Er traf Natalie Baker [1]."
        start, end = narrow_quote(answer, 1, hit(), stem)
        assert TEXT[start - 100 : end - 100] == "Er traf die Botschafterin Natalie Baker."

    def test_no_shared_word_keeps_the_whole_chunk(self):
        assert narrow_quote("Völlig anders [1].", 1, hit(), stem) == (100, 100 + len(TEXT))


class TestIsDecline:
    def test_the_decline_sentence_in_either_language_is_a_decline(self):
        assert all(is_decline(s) for s in DECLINE.values())
        assert is_decline(DECLINE["en"] + " Sorry about that.")

    def test_nothing_at_all_is_a_decline(self):
        assert is_decline("") and is_decline(" [1] ")

    def test_an_answer_is_not(self):
        assert not is_decline("Bilal bin Saqib ist der CEO [1].")


class TestAnswerConfidence:
    def citation(self, quote: str) -> Citation:
        return Citation(1, "a.txt", 0, len(quote), quote, 0.8)

    def test_every_sentence_cited_with_a_supporting_quote_is_full_confidence(self):
        cites = {1: self.citation("Bilal bin Saqib ist sein CEO.")}
        assert answer_confidence("Bilal bin Saqib ist der CEO [1].", cites, stem) == 1.0

    def test_a_quote_sharing_no_term_halves_it(self):
        cites = {1: self.citation("Natalie Baker.")}
        assert answer_confidence("Bilal ist CEO [1].", cites, stem) == 0.5

    def test_uncited_sentences_lower_it_and_no_citation_is_zero(self):
        cites = {1: self.citation("Bilal bin Saqib ist sein CEO.")}
        assert answer_confidence("Bilal ist CEO [1]. Das ist alles.", cites, stem) == 0.5
        assert answer_confidence("Bilal ist CEO.", {}, stem) == 0.0
