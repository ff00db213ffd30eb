"""AnswerStream: text pieces, then the Answer; waiting notes beside, never in the text."""

import pytest

from assistant.answer.types import Answer, AnswerStream, Status


def events(log: list):
    try:
        yield Status("waiting", "Warte …", 1.0)
        yield "Laut [1]: "
        yield "„Bilal.“"
        yield Answer("Laut [1]: „Bilal.“", [], "de", "extractive")
    finally:
        log.append("closed")


class TestAnswerStream:
    def test_iterating_gives_only_text_then_the_answer_is_there(self):
        notes: list[Status] = []
        stream = AnswerStream(events([]), on_status=notes.append)
        assert list(stream) == ["Laut [1]: ", "„Bilal.“"]
        assert stream.answer.text == "Laut [1]: „Bilal.“"
        assert [n.kind for n in notes] == ["waiting"]

    def test_reading_the_answer_first_consumes_the_text(self):
        stream = AnswerStream(events([]))  # no one listens for notes: they are dropped
        assert stream.answer.language == "de" and list(stream.response_gen) == []

    def test_closing_early_winds_the_answerer_up(self):
        log: list[str] = []
        with AnswerStream(events(log)) as stream:
            assert next(stream) == "Laut [1]: "
        assert log == ["closed"] and list(stream) == []
        with pytest.raises(RuntimeError, match="without an answer"):
            _ = stream.answer
