"""Uploads never silently overwrite: same name and different content is refused unless
replace=True, the same content under a new name is a duplicate, the same file again is
unchanged; bad names say what is wrong."""

import pytest

from assistant import Assistant
from assistant.errors import UploadError
from assistant.ingest.uploads import safe_upload_name

ORIGINAL = "Die Brücke von Altdorf wurde 1887 aus rotem Sandstein gebaut.".encode()
OTHER = "Die Brücke von Altdorf wurde 1999 abgerissen und aus Beton neu gebaut.".encode()


@pytest.fixture
def bot(settings_factory):
    settings = settings_factory()
    (settings.corpus_dir / "bruecke.txt").write_bytes(ORIGINAL)
    bot = Assistant(settings)
    bot.index()
    return bot


@pytest.mark.slow
def test_same_name_different_content_is_refused_and_nothing_changes(bot):
    corpus = bot.settings.corpus_dir
    with pytest.raises(UploadError, match="bruecke.txt already exists") as info:
        bot.add_document("bruecke.txt", OTHER)
    assert "replace" in str(info.value)
    assert (corpus / "bruecke.txt").read_bytes() == ORIGINAL
    assert "1887" in bot.ask("Wann wurde die Brücke von Altdorf gebaut?").citations[0].quote


@pytest.mark.slow
def test_replace_true_replaces_and_says_so(bot):
    report = bot.add_document("bruecke.txt", OTHER, replace=True)
    assert report.replaced == ["bruecke.txt"] and report.added == [] and report.unchanged == []
    assert "replaced bruecke.txt" in report.summary()
    assert (bot.settings.corpus_dir / "bruecke.txt").read_bytes() == OTHER
    answer = bot.ask("Wann wurde die Brücke von Altdorf abgerissen?")
    assert "1999" in answer.citations[0].quote


@pytest.mark.slow
def test_identical_content_under_a_new_name_is_a_duplicate(bot):
    with pytest.raises(UploadError, match="same content as bruecke.txt"):
        bot.add_document("kopie.txt", ORIGINAL)
    assert not (bot.settings.corpus_dir / "kopie.txt").exists()
    report = bot.add_documents([("kopie.txt", ORIGINAL), ("neu.txt", OTHER)])
    assert report.added == ["neu.txt"]
    assert report.rejected == [("kopie.txt", "kopie.txt: same content as bruecke.txt")]


@pytest.mark.slow
def test_the_same_file_again_is_unchanged(bot):
    mtime = (bot.settings.corpus_dir / "bruecke.txt").stat().st_mtime_ns
    report = bot.add_document("bruecke.txt", ORIGINAL)
    assert report.unchanged == ["bruecke.txt"] and report.added == report.replaced == []
    assert "bruecke.txt unchanged" in report.summary()
    assert (bot.settings.corpus_dir / "bruecke.txt").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_two_uploads_in_one_batch_with_one_name(bot):
    report = bot.add_documents([("neu.txt", OTHER), ("neu.txt", b"Etwas ganz anderes hier.")])
    assert report.added == ["neu.txt"]
    assert report.rejected[0][0] == "neu.txt" and "already" in report.rejected[0][1]


@pytest.mark.slow
def test_the_report_still_unpacks_as_index_report_and_rejected(bot):
    index_report, rejected = bot.add_documents([("neu.txt", OTHER), ("x.exe", b"MZ")])
    assert index_report.added == ["neu.txt"]
    assert rejected[0][0] == "x.exe"


@pytest.mark.parametrize(
    "name, message",
    [
        ("....txt", "no name before .txt"),
        (".txt", "no name before .txt"),
        ("  .  .md", "no name before .md"),
        ("notes", "no file extension"),
        ("bild.png", "unsupported file type .png"),
        ("", "empty file name"),
    ],
)
def test_bad_names_say_what_is_wrong(name, message):
    with pytest.raises(UploadError, match=message):
        safe_upload_name(name)


@pytest.mark.parametrize(
    "name, safe",
    [
        ("../../ausbruch.txt", "ausbruch.txt"),
        ("C:\\Users\\x\\bericht.PDF", "bericht.PDF"),
        (".versteckt.md", "versteckt.md"),
        ('a"b<c>\nd.txt', "a_b_c__d.txt"),
    ],
)
def test_names_are_made_safe(name, safe):
    assert safe_upload_name(name) == safe
