"""Removing a document: file and chunks leave together; bad names change nothing."""

import pytest

from assistant import Assistant
from assistant.errors import CorpusError
from conftest import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def bot(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "curie.txt").write_text(
        "Marie Curie wurde 1867 in Warschau geboren. Sie erhielt zwei Nobelpreise.",
        encoding="utf-8",
    )
    (corpus / "einstein.txt").write_text(
        "Albert Einstein wurde 1879 in Ulm geboren. Er entwickelte die Relativitätstheorie.",
        encoding="utf-8",
    )
    (tmp_path / "outside.txt").write_text("Geheim: das Passwort ist Kuckuck.", encoding="utf-8")
    bot = Assistant(make_settings(tmp_path))
    bot.index()
    return bot


def test_removed_document_leaves_folder_index_and_answers(bot, tmp_path):
    assert "Warschau" in bot.ask("Wo wurde Marie Curie geboren?").text
    bot.remove_document("curie.txt")
    assert not (tmp_path / "corpus" / "curie.txt").exists()
    assert [d["source"] for d in bot.documents()] == ["einstein.txt"]
    answer = bot.ask("Wo wurde Marie Curie geboren?")
    assert all(c.source != "curie.txt" for c in answer.citations)
    assert "Warschau" not in answer.text
    # the index agrees with the folder: a re-index finds nothing to do
    report = bot.index()
    assert not report.changed and report.unchanged == ["einstein.txt"]
    assert "Ulm" in bot.ask("Wo wurde Albert Einstein geboren?").text


def test_last_document_can_be_removed(bot):
    bot.remove_document("curie.txt")
    bot.remove_document("einstein.txt")
    assert bot.documents() == []


@pytest.mark.parametrize(
    "name", ["nichtda.txt", "../outside.txt", "/etc/passwd", "", ".", "corpus/../outside.txt"]
)
def test_unknown_or_escaping_names_are_refused(bot, tmp_path, name):
    with pytest.raises(CorpusError, match="not an indexed document"):
        bot.remove_document(name)
    assert (tmp_path / "outside.txt").exists()
    assert sorted(d["source"] for d in bot.documents()) == ["curie.txt", "einstein.txt"]
