"""Hostile questions and conversations: text that is not text, a history of the wrong
shape, and huge earlier turns. Each ends in a clear error or a bounded cost."""

import shutil
import time

import pytest

from assistant import Assistant
from assistant.api import normalise_history, validate_question
from assistant.errors import HistoryError, QuestionError
from conftest import SHIPPED_CORPUS, make_settings
from helpers.cli import run_cli

# -- unit: the question ---------------------------------------------------------------------


@pytest.mark.parametrize("question", ["Wer ist \udcff der CEO?", "\ud800", "CEO\udfff?"])
def test_lone_surrogates_are_a_question_error(question):
    with pytest.raises(QuestionError, match="not valid text"):
        validate_question(question, 2000)


def test_ordinary_unicode_is_fine():
    assert validate_question("  Wer ist 😀 Ωmega „CEO“?  ", 2000) == "Wer ist 😀 Ωmega „CEO“?"


# -- unit: the history ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    [
        "Wer ist der CEO?",  # a string would be read character by character
        42,
        {"role": "user", "content": "one message instead of a list"},
        [1, 2],
        [("one", "two", "three")],
        [{"role": "user"}, "text"],
        b"bytes",
    ],
)
def test_history_of_the_wrong_shape_names_the_accepted_shapes(history):
    with pytest.raises(HistoryError) as info:
        normalise_history(history)
    message = str(info.value)
    assert "history" in message and "role" in message and "pairs" in message
    assert isinstance(info.value, QuestionError)


def test_history_accepts_messages_pairs_and_gradio_parts():
    history = [
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": "Erste Frage"}]},
        {"role": "assistant", "content": "Antwort", "metadata": None},
        ("Zweite Frage", "Zweite Antwort"),
        ["Dritte Frage", None],
    ]
    assert normalise_history(history) == [
        {"role": "user", "content": "Erste Frage"},
        {"role": "assistant", "content": "Antwort"},
        {"role": "user", "content": "Zweite Frage"},
        {"role": "assistant", "content": "Zweite Antwort"},
        {"role": "user", "content": "Dritte Frage"},
    ]
    assert normalise_history(None) == [] and normalise_history(()) == []


def test_history_is_bounded_to_the_last_turns_and_capped():
    history = []
    for i in range(20):
        history += [
            {"role": "user", "content": f"Frage {i}"},
            {"role": "assistant", "content": f"Antwort {i} " + "x" * 100_000},
        ]
    turns = normalise_history(history, max_turns=4, max_chars=300)
    assert [t["content"][:10] for t in turns] == [
        "Frage 18",
        "Antwort 18",
        "Frage 19",
        "Antwort 19",
    ]
    assert all(len(t["content"]) <= 301 for t in turns)  # 300 plus an ellipsis
    assert turns[1]["content"].endswith("…")


def test_a_refused_question_and_its_error_leave_the_conversation():
    history = [
        {"role": "user", "content": "Wer ist der CEO?"},
        {"role": "assistant", "content": "Bilal bin Saqib [1]"},
        {"role": "user", "content": "y" * 40_000},  # the UI refused it as too long
        {"role": "assistant", "content": "⚠️ the question is too long"},
    ]
    turns = normalise_history(history, max_question_chars=2000)
    assert turns == history[:2]


def test_lone_surrogates_in_the_history_are_replaced_not_fatal():
    turns = normalise_history([{"role": "user", "content": "Wer\udcff ist es?"}])
    assert turns == [{"role": "user", "content": "Wer\ufffd ist es?"}]
    turns[0]["content"].encode("utf-8")


# -- integration: the API -------------------------------------------------------------------


def test_surrogates_through_the_api_are_a_question_error(shipped_bot):
    with pytest.raises(QuestionError, match="not valid text"):
        shipped_bot.ask("Wer ist \udcff der CEO des Pakistan Crypto Council?")
    with pytest.raises(QuestionError):
        list(shipped_bot.stream("\ud800"))


def test_wrong_history_through_the_api_is_a_clear_error(shipped_bot):
    with pytest.raises(HistoryError, match="history"):
        shipped_bot.ask("Mit wem sprach er?", history="Wer ist der CEO?")
    with pytest.raises(HistoryError):
        shipped_bot.ask("Mit wem sprach er?", history=42)


def test_a_huge_earlier_turn_costs_no_more_than_a_short_one(shipped_bot):
    question = "Mit welcher US-Botschafterin sprach er?"
    short = [
        {"role": "user", "content": "Wer ist der CEO des Pakistan Crypto Council?"},
        {"role": "assistant", "content": "Bilal bin Saqib."},
    ]
    huge = [
        {"role": "user", "content": "Wer ist der CEO des Pakistan Crypto Council? " * 44},
        {"role": "assistant", "content": "Bilal bin Saqib. " + "Lange Antwort. " * 70_000},
        {"role": "user", "content": "Wer ist der CEO? " * 2500},  # 40 KB, refused by the UI
        {"role": "assistant", "content": "⚠️ the question is too long"},
    ]

    def seconds(history) -> float:
        began = time.perf_counter()
        answer = shipped_bot.ask(question, history=history)
        assert any("Natalie Baker" in c.quote for c in answer.citations)
        return time.perf_counter() - began

    seconds(short), seconds(huge)  # warm up both paths
    small, big = min(seconds(short) for _ in range(2)), seconds(huge)
    assert big < 2 * small + 1.0, (big, small)


# -- the command line -----------------------------------------------------------------------


def _cli(args, cwd, stdin=None, env_extra=None):
    env = {"LC_ALL": "C.UTF-8", **(env_extra or {})}
    return run_cli(*args, cwd=cwd, env_extra=env, stdin=stdin, text=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-questions")
    shutil.copytree(SHIPPED_CORPUS, tmp / "corpus")
    Assistant(make_settings(tmp, index_dir=tmp / "index")).index()
    (tmp / ".env").write_text("ASSISTANT_ANSWER_MODE=extractive\n")
    return tmp


@pytest.mark.slow
@pytest.mark.parametrize("flags", [[], ["--json"]])
def test_invalid_utf8_on_the_command_line_is_one_error_line(workdir, flags):
    out = _cli(["ask", b"Wer ist \xff\xfe der CEO?", *flags], cwd=workdir)
    stderr = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 2, stderr
    assert out.stdout == b""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not valid text" in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("encoding", [None, "utf-8:strict"])
def test_invalid_utf8_in_the_terminal_chat_is_an_error_and_the_chat_goes_on(workdir, encoding):
    stdin = "Wer ist \xff der CEO?\n".encode("latin-1") + (
        b"Wer ist der CEO des Pakistan Crypto Council?\n\n"
    )
    env = {"PYTHONIOENCODING": encoding} if encoding else None
    out = _cli(["chat"], cwd=workdir, stdin=stdin, env_extra=env)
    stderr = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 0, stderr
    assert "Traceback" not in stderr and "error: " in stderr and "not valid text" in stderr
    assert "Bilal bin Saqib" in out.stdout.decode()
