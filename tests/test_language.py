import pytest

from assistant.language import detect_language


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
