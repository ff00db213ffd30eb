"""The answer pipeline's stages: what counts as a question, the scope, which reading of a
follow-up answers; and, on the shipped article, short follow-ups answered from the
conversation the history carries."""

import pytest

from assistant.answer.pipeline import _stronger, check_scope
from assistant.answer.types import Answer
from assistant.errors import QuestionError
from assistant.question.intake import not_askable
from assistant.retrieve.retriever import Snapshot


class TestIntake:
    def test_short_questions_are_follow_ups_in_a_conversation(self):
        for q in ("Wer ist sie?", "Und wann?", "Wo?", "And him?"):
            assert not_askable(q, conversation=True) is None, q

    def test_without_a_conversation_they_get_the_plain_reply(self):
        assert not_askable("Wer ist sie?", conversation=False) == ("no question", "de")
        assert not_askable("Hallo", conversation=True) == ("no question", "de")

    def test_code_and_other_languages_are_no_questions_either_way(self):
        assert not_askable("x = {1: 2}; print(x)", conversation=True)[0] == "no question"
        assert not_askable("¿Dónde está la estación de tren?", conversation=True) == (
            "language",
            "other",
        )


class TestScope:
    SNAP = Snapshot({"a.txt": object(), "b.txt": object()}, lexicon=None)

    def test_none_is_everything(self):
        assert check_scope(None, self.SNAP) == []

    def test_names_are_kept_once_in_order(self):
        assert check_scope(["b.txt", "a.txt", "b.txt"], self.SNAP) == ["b.txt", "a.txt"]

    def test_an_unknown_name_is_a_clear_error(self):
        with pytest.raises(QuestionError, match="not an indexed document: c.txt"):
            check_scope(["c.txt"], self.SNAP)

    def test_a_bare_string_is_refused(self):
        with pytest.raises(QuestionError, match="a list of document names"):
            check_scope("a.txt", self.SNAP)


class TestReadingChoice:
    def test_an_answer_beats_a_hedge_and_evidence_breaks_ties(self):
        answered = Answer("a", [], "de", "extractive", probability=0.5)
        hedged = Answer("h", [], "de", "extractive", outcome="hedged", probability=0.9)
        assert _stronger(answered, hedged) and not _stronger(hedged, answered)
        better = Answer("b", [], "de", "extractive", probability=0.7)
        assert _stronger(better, answered)


@pytest.mark.slow
class TestFollowUpsOnTheArticle:
    def test_who_is_she_after_an_answer_naming_a_person(self, shipped_bot, article_text):
        first = shipped_bot.ask("Wie heißt die amtierende US-Botschafterin?")
        assert "Natalie Baker" in first.text, first.text
        history = [{"role": "user", "content": "Wie heißt die amtierende US-Botschafterin?"}]
        follow = shipped_bot.ask("Wer ist sie?", history=[*history, first.to_message()])
        assert follow.outcome == "answered", follow.text
        [quote] = {c.quote for c in follow.citations[:1]}
        assert "Botschafterin" in quote  # who she is, quoted
        c = follow.citations[0]
        assert article_text[c.start : c.end] == c.quote

    def test_a_short_follow_up_without_a_conversation_is_no_question(self, shipped_bot):
        answer = shipped_bot.ask("Wer ist sie?")
        assert answer.outcome == "declined" and not answer.citations
        assert "Stell eine Frage" in answer.text  # the UI's register

    def test_english_follow_up(self, shipped_bot):
        first = shipped_bot.ask("Who is the CEO of the Pakistan Crypto Council?")
        history = [
            {"role": "user", "content": "Who is the CEO of the Pakistan Crypto Council?"},
            first.to_message(),
        ]
        follow = shipped_bot.ask("Who did he talk to?", history=history)
        assert any("Natalie Baker" in c.quote for c in follow.citations), follow.text


@pytest.mark.slow
def test_a_stream_resumed_on_another_thread_leaves_no_state_pinned(shipped_bot):
    """A web server advances one answer's generator on several pool threads: no thread
    may keep reading the state that answer pinned (it would miss later uploads)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        stream = iter(shipped_bot.stream("Wer ist der CEO des Pakistan Crypto Council?"))
        assert pool.submit(next, stream).result()  # begun on the pool's thread
        rest = "".join(stream)  # finished here
        assert rest
        shipped_bot.state.forget()  # as after an upload
        current = shipped_bot.state.snapshot()
        assert pool.submit(shipped_bot.state.snapshot).result() is current
