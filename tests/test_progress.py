"""Progress lines carry an estimate of the time left (a 5 MB file embeds for a long while)."""

import io
import re

import pytest

from assistant.ingest.progress import ProgressBar, eta_seconds, format_duration


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    "elapsed, done, total, left",
    [(10, 100, 1000, 90), (0, 0, 10, None), (5, 0, 10, None), (7, 10, 10, 0)],
)
def test_eta_is_the_average_rate_so_far(elapsed, done, total, left):
    assert eta_seconds(elapsed, done, total) == left


@pytest.mark.parametrize(
    "seconds, text", [(4.4, "4 s"), (59, "59 s"), (600, "10 min"), (7500, "2 h 05 min")]
)
def test_durations_read_well(seconds, text):
    assert format_duration(seconds) == text


def test_log_lines_show_the_time_left_every_tenth_and_every_half_minute():
    clock, out = Clock(), io.StringIO()
    bar = ProgressBar(stream=out, clock=clock, every=30)
    total = 50_000
    bar("embedding", 0, total)
    for done in range(1, 2000, 100):  # 2% in 5 minutes: no new tenth, lines by time
        clock.now += 15
        bar("embedding", done, total)
    clock.now += 15
    bar("embedding", 5000, total)  # a tenth
    bar("embedding", total, total)
    lines = out.getvalue().splitlines()
    assert lines[0] == "embedding: 0/50000 texts"
    assert "about" not in lines[0]  # no rate yet, no guess
    assert lines[1] == "embedding: 101/50000 texts, 30 s so far, about 4 h 07 min left"
    assert 8 <= len(lines) <= 14  # by time, not one line per call
    assert lines[-2] == "embedding: 5000/50000 texts, 5 min so far, about 47 min left"
    assert lines[-1] == "embedding: 50000/50000 texts"


def test_short_stages_do_not_guess():
    clock, out = Clock(), io.StringIO()
    bar = ProgressBar(stream=out, clock=clock)
    for done in range(4):
        clock.now += 0.1
        bar("loading", done, 4)
    assert out.getvalue().splitlines() == [f"loading: {i}/4 files" for i in range(4)]


def test_quiet_and_unknown_stages_print_nothing():
    out = io.StringIO()
    ProgressBar(quiet=True, stream=out)("embedding", 1, 10)
    ProgressBar(stream=out)("committing", 0, 1)
    assert out.getvalue() == ""


def test_terminal_bar_shows_rate_and_time_left():
    import time

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    bar = ProgressBar(stream=out)
    for done in (0, 10, 20, 30):
        bar("embedding", done, 100)
        time.sleep(0.15)
    bar.close()
    shown = out.getvalue()
    # elapsed<left and a rate, whatever the machine's load made the times
    assert re.search(r"[123]0/100 \[\d\d:\d\d<\d\d:\d\d", shown) and "text/s" in shown


def test_both_indexing_phases_show_and_the_moment_the_files_are_answerable():
    out = io.StringIO()
    bar = ProgressBar(stream=out, clock=Clock())
    bar("embedding", 0, 4)
    bar("embedding", 4, 4)
    bar("answerable", 1, 1)
    bar("sentences", 0, 30)
    bar("sentences", 30, 30)
    lines = out.getvalue().splitlines()
    assert lines == [
        "embedding: 0/4 texts",
        "embedding: 4/4 texts",
        "answerable: the new files can be asked from now on; still completing: their sentence "
        "vectors (answers meanwhile embed the sentences they read)",
        "sentences: 0/30 texts",
        "sentences: 30/30 texts",
    ]
    quiet = io.StringIO()
    ProgressBar(quiet=True, stream=quiet)("answerable", 1, 1)
    assert quiet.getvalue() == ""
