import pytest

from assistant.question.language import detect_language, has_words, question_language


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Wer ist der CEO des Pakistan Crypto Council?", "de"),
        ("Who is the CEO of the Pakistan Crypto Council?", "en"),
        ("Wie viele Punkte gab die Verteidigung ab?", "de"),
        ("How many points did the defense surrender?", "en"),
        ("Welche Rolle spielt Künstliche Intelligenz?", "de"),
        ("What role does artificial intelligence play?", "en"),
    ],
)
def test_detects_question_language(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Quand Martin Luther est-il né ?", "other"),
        ("¿Dónde está Varsovia?", "other"),
        ("Martin Luther ne zaman doğdu?", "other"),
        ("Kto wynalazł silnik parowy?", "other"),
        ("Qual è la capitale della Polonia?", "other"),
        ("Wie viele Einwohner hat Warschau?", "de"),
        ("When was Luther born?", "en"),
        ("Wer ist der CEO?", "de"),
    ],
)
def test_questions_in_other_languages_are_recognised(text, lang):
    assert question_language(text) == lang


@pytest.mark.parametrize(
    "text", ["🤔🔥💯🚀", "?!", "1 + 1", '{"$": "1==1"}', "Hallo", "Danke!", "ok", "der"]
)
def test_text_without_words_is_no_question(text):
    assert not has_words(text)


def test_one_content_word_is_enough_to_ask():
    assert has_words("CEO?") and has_words("Relativitätstheorie")
