"""Ratings of answers: appended to <index_dir>/feedback.jsonl, exported as questions for
`assistant eval`, which asks them again and reports whether a rejected answer came back."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.answer.citations import Citation
from assistant.answer.types import Answer
from assistant.errors import FeedbackError
from assistant.evaluation import Outcome, QAItem, load_qa, repeats_rejected, summarise
from assistant.feedback import (
    MAX_COMMENT_CHARS,
    MAX_QUESTION_CHARS,
    FeedbackLog,
    against_ratings,
    eval_rows,
    export,
)
from conftest import make_settings
from helpers.cli import run_cli

QUOTE = "Die Brücke von Altdorf wurde im Jahr 1421 aus rotem Sandstein gebaut."


def answer(text: str = QUOTE, outcome: str = "answered", quote: str = QUOTE) -> Answer:
    cited = [Citation(1, "altdorf.txt", 0, len(quote), quote, 0.9, page=None)] if quote else []
    return Answer(text, cited, "de", "extractive", outcome=outcome, confidence=0.8)


class TestFeedbackLog:
    def test_an_answer_and_its_dict_are_recorded_alike(self, tmp_path):
        log = FeedbackLog(tmp_path / "index" / "feedback.jsonl")
        first = log.append("Wann wurde die Brücke gebaut?", answer(), 1, "stimmt", "alice")
        second = log.append("Wann wurde die Brücke gebaut?", answer().to_dict(), -1)
        keep = ("answer", "outcome", "confidence", "citations", "language", "question")
        assert {k: first[k] for k in keep} == {k: second[k] for k in keep}
        assert first["citations"] == [
            {"source": "altdorf.txt", "start": 0, "end": len(QUOTE), "quote": QUOTE, "page": None}
        ]
        assert (first["rating"], first["user"], first["comment"]) == (1, "alice", "stimmt")
        assert (second["rating"], second["user"]) == (-1, "-")
        assert log.entries() == [first, second]

    def test_a_plain_dict_with_the_four_keys_is_enough(self, tmp_path):
        log = FeedbackLog(tmp_path / "feedback.jsonl")
        entry = log.append(
            "Frage?",
            {"answer": "Nein.", "outcome": "declined", "confidence": 1, "citations": []},
            1,
        )
        assert entry["outcome"] == "declined" and entry["citations"] == []

    @pytest.mark.parametrize("rating", [0, 2, -2, True, "1", None, 1.5])
    def test_a_rating_is_plus_or_minus_one(self, tmp_path, rating):
        with pytest.raises(FeedbackError, match=r"\+1 \(helpful\) or -1"):
            FeedbackLog(tmp_path / "f.jsonl").append("Frage?", answer(), rating)
        assert not (tmp_path / "f.jsonl").exists()

    @pytest.mark.parametrize(
        "bad, message",
        [
            ("just text", "must be an Answer or a dict"),
            ({"outcome": "answered"}, "must be an Answer or a dict"),
            ({"answer": "x", "outcome": "maybe"}, "unknown outcome"),
            ({"answer": "x", "citations": "a.txt"}, "citations must be a list"),
            ({"answer": "x", "citations": [{"start": "zehn"}]}, "malformed"),
        ],
    )
    def test_a_bad_answer_is_a_clear_error(self, tmp_path, bad, message):
        with pytest.raises(FeedbackError, match=message):
            FeedbackLog(tmp_path / "f.jsonl").append("Frage?", bad, 1)

    def test_an_empty_question_is_refused(self, tmp_path):
        with pytest.raises(FeedbackError, match="question"):
            FeedbackLog(tmp_path / "f.jsonl").append("  ", answer(), 1)

    def test_long_texts_are_cut(self, tmp_path):
        log = FeedbackLog(tmp_path / "f.jsonl")
        entry = log.append(
            "W" * 50_000 + "?", answer("A" * 50_000, quote="Q" * 50_000), -1, "C" * 50_000
        )
        assert len(entry["question"]) == MAX_QUESTION_CHARS
        assert len(entry["comment"]) == MAX_COMMENT_CHARS
        assert len(entry["answer"]) < 5000 and len(entry["citations"][0]["quote"]) < 2000
        assert (tmp_path / "f.jsonl").stat().st_size < 20_000

    def test_concurrent_appends_stay_whole_lines(self, tmp_path):
        log = FeedbackLog(tmp_path / "f.jsonl")

        def rate(n: int) -> None:
            for i in range(40):
                log.append(f"Frage {n}-{i}?", answer("x" * 3000), 1 if i % 2 else -1)

        threads = [threading.Thread(target=rate, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lines = (tmp_path / "f.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 240
        assert len({json.loads(line)["question"] for line in lines}) == 240

    def test_an_unwritable_place_is_a_clear_error(self, tmp_path):
        (tmp_path / "file").write_text("not a folder")
        with pytest.raises(FeedbackError, match="cannot record feedback"):
            FeedbackLog(tmp_path / "file" / "feedback.jsonl").append("Frage?", answer(), 1)

    def test_a_broken_line_is_left_out(self, tmp_path):
        log = FeedbackLog(tmp_path / "f.jsonl")
        log.append("Frage?", answer(), 1)
        with (tmp_path / "f.jsonl").open("a") as fh:
            fh.write('{"rating": 1, "quest')
        assert len(log.entries()) == 1


class TestExport:
    def entries(self, tmp_path) -> FeedbackLog:
        log = FeedbackLog(tmp_path / "f.jsonl")
        log.append("Wann wurde die Brücke gebaut?", answer(), -1)
        log.append("Wann wurde die Brücke gebaut?", answer(), 1)  # changed their mind
        log.append("Wer baute die Brücke?", answer(), -1, "falsch")
        log.append("Wie hoch ist der Everest?", answer("Nicht gefunden.", "declined", ""), 1)
        log.append("Wo liegt Altdorf?", answer("Nicht gefunden.", "declined", ""), -1)
        return log

    def test_each_rating_becomes_a_question(self, tmp_path):
        rows = eval_rows(self.entries(tmp_path).entries())
        assert [r["question"] for r in rows] == [
            "Wann wurde die Brücke gebaut?",
            "Wer baute die Brücke?",
            "Wie hoch ist der Everest?",
            "Wo liegt Altdorf?",
        ]
        up, down, declined_ok, declined_wrong = rows
        assert up["answerable"] is True and up["answers"] == [QUOTE]
        assert up["source"] == "altdorf.txt" and up["rating"] == 1
        assert down["rejected"] == [QUOTE] and down["rejected_outcome"] == "answered"
        assert down["comment"] == "falsch" and "answerable" not in down
        assert declined_ok["answerable"] is False
        assert declined_wrong["rejected"] == [] and declined_wrong["rejected_outcome"] == "declined"

    def test_the_export_is_what_eval_reads(self, tmp_path):
        out = tmp_path / "feedback_questions.jsonl"
        assert export(self.entries(tmp_path), out) == 4
        items = load_qa(out, {"altdorf.txt"})
        assert [i.kind for i in items] == ["answerable", "rejected", "near-miss", "rejected"]
        assert items[0].answers == [QUOTE] and items[0].source == "altdorf.txt"
        assert items[1].rejected == [QUOTE] and not items[1].answerable
        assert all(i.language == "de" and i.corpus == "feedback" for i in items)

    def test_a_rejected_answer_given_again_is_counted(self):
        item = QAItem("f", "Wer baute die Brücke?", "de", [], False, kind="rejected")
        item.rejected, item.rejected_outcome = [QUOTE], "answered"
        assert repeats_rejected(item, answer())
        assert repeats_rejected(item, answer(quote=QUOTE + " Sie überspannt den Fluss."))
        assert repeats_rejected(item, answer(quote="im Jahr 1421 aus rotem Sandstein"))
        assert not repeats_rejected(item, answer(quote="Der Markt ist am Samstag."))
        assert not repeats_rejected(item, answer("Nicht gefunden.", "declined", ""))
        declined = QAItem("g", "Wo?", "de", [], False, kind="rejected", rejected=[])
        declined.rejected_outcome = "declined"
        assert repeats_rejected(declined, answer("Nicht gefunden.", "declined", ""))
        assert not repeats_rejected(declined, answer())

    def test_rejected_rows_are_reported_apart(self):
        def row(kind: str, answerable: bool, repeated: bool = False, declined: bool = False):
            outcome = "declined" if declined else "answered"
            return Outcome(
                "x", "de", answerable, declined, answerable, 1, 1, 1, 0.1, "a",
                kind=kind, outcome=outcome, repeated=repeated,
            )  # fmt: skip

        metrics = summarise(
            [
                row("answerable", True),
                row("rejected", False, repeated=True),
                row("rejected", False),
                row("off-topic", False, declined=True),
            ]
        )["all"]
        assert metrics["rejected"] == 2 and metrics["rejected_repeated"] == 0.5
        assert metrics["unanswerable"] == 1 and metrics["decline_rate"] == 1.0

    def test_the_report_lists_the_answers_that_went_against_their_rating(self, tmp_path):
        out = tmp_path / "rated.jsonl"
        export(self.entries(tmp_path), out)
        items = load_qa(out)

        def outcome(item: QAItem, correct=False, declined=False, repeated=False) -> Outcome:
            state = "declined" if declined else "answered"
            return Outcome(
                item.id, "de", item.answerable, declined, correct, 1, 1, 1, 0.1, "a",
                kind=item.kind, outcome=state, repeated=repeated,
            )  # fmt: skip

        liked, rejected, liked_decline, rejected_decline = items
        outcomes = [
            outcome(liked, correct=True),
            outcome(rejected, repeated=True),
            outcome(liked_decline),  # now answered
            outcome(rejected_decline, declined=True),
        ]
        report = against_ratings(items, outcomes)
        assert "2 of 4 against their rating" in report
        assert f"| {rejected.id} | Wer baute die Brücke? | the rejected answer again |" in report
        assert "Wie hoch ist der Everest? | liked decline now answered |" in report
        assert liked.id not in report and rejected_decline.id not in report
        assert against_ratings(items[:0], outcomes[:0]) == ""


@pytest.mark.slow
def test_feedback_through_the_facade_comes_back_in_eval(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "altdorf.txt").write_text(
        "Altdorf\n\n"
        f"{QUOTE} Sie überspannt den Fluss Wendel.\n\n"
        "Der Wochenmarkt von Altdorf findet jeden Samstag auf dem Rathausplatz statt. "
        "Dort verkaufen Bauern aus dem Umland Käse, Brot und Gemüse.\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text("ASSISTANT_ANSWER_MODE=extractive\n")
    bot = Assistant(make_settings(tmp_path))
    bot.index()
    good = bot.ask("Wann wurde die Brücke von Altdorf gebaut?")
    assert good.outcome == "answered" and "1421" in good.citations[0].quote
    bad = bot.ask("An welchem Tag ist der Wochenmarkt in Altdorf?")
    bot.record_feedback("Wann wurde die Brücke von Altdorf gebaut?", good, 1, user="alice")
    bot.record_feedback("An welchem Tag ist der Wochenmarkt in Altdorf?", bad.to_dict(), -1)
    with pytest.raises(FeedbackError):
        bot.record_feedback("Frage?", good, 5)
    assert len(FeedbackLog(tmp_path / "index" / "feedback.jsonl").entries()) == 2

    exported = run_cli("feedback", "export", "--out", "rated.jsonl", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "2 rated questions" in exported.stderr
    rows = [json.loads(line) for line in (tmp_path / "rated.jsonl").read_text().splitlines()]
    assert [r.get("answerable") for r in rows] == [True, None] and rows[1]["rejected"]

    done = run_cli("eval", "rated.jsonl", "--no-index", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(tmp_path / "out" / "report.json").read_text())
    metrics = report["metrics"]["all"]
    # the same index and code: the liked answer is given again, and so is the rejected one
    assert metrics["questions"] == 2 and metrics["answer_accuracy"] == 1.0
    assert metrics["rejected"] == 1 and metrics["rejected_repeated"] == 1.0
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| rejected_repeated | 1.0 | 1.0 |" in markdown
    assert "Rated questions: 1 of 2 against their rating" in markdown
    assert "Wochenmarkt in Altdorf? | the rejected answer again |" in markdown

    again = run_cli("eval", "--feedback", "--no-index", "--out", "out2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "out2" / "feedback_questions.jsonl").exists()
    metrics = json.loads((tmp_path / "out2" / "report.json").read_text())["metrics"]["all"]
    assert metrics["rejected_repeated"] == 1.0


@pytest.mark.slow
def test_eval_without_questions_or_feedback_is_one_line(tmp_path):
    done = run_cli("eval", "--feedback", "--no-index", "--index", "idx", cwd=tmp_path)
    assert done.returncode == 2 and "no feedback recorded" in done.stderr
    assert "Traceback" not in done.stderr
