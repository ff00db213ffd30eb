"""Progress for long work (indexing, evaluation), on stderr, with an estimate of the time left.

A 5 MB file means tens of thousands of texts to embed; the user should know whether
that is minutes or hours, so every progress line carries an ETA once there is a rate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def eta_seconds(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left at the average rate so far; None before anything is done."""
    if done <= 0 or total <= 0 or elapsed <= 0:
        return None
    return max(0.0, elapsed / done * (total - done))


def format_duration(seconds: float) -> str:
    """Short human duration: "45 s", "12 min", "2 h 05 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class ProgressBar:
    """Progress on stderr (stdout stays clean for --json): a tqdm bar with its ETA on a
    terminal; in logs and CI a line every 10% or every ``every`` seconds, with the time
    left."""

    STAGES = ("loading", "embedding", "sentences", "eval")

    def __init__(
        self,
        quiet: bool = False,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        every: float = 30.0,
    ):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.clock = clock
        self.every = every
        self.bar = None
        self.stage: str | None = None
        self.shown = -1
        self.began = 0.0
        self.last_line = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "answerable" and not self.quiet:
            self.close()
            self.stage = stage
            print(
                "answerable: the new files can be asked from now on; still completing: "
                "their sentence vectors (answers meanwhile embed the sentences they read)",
                file=self.stream,
                flush=True,
            )
            return
        if self.quiet or stage not in self.STAGES or not total:
            return
        unit = {"embedding": "texts", "sentences": "texts", "eval": "questions"}.get(stage, "files")
        now = self.clock()
        if stage != self.stage:
            self.close()
            self.stage, self.shown = stage, -1
            self.began = self.last_line = now
            if self.tty:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=total, desc=stage, unit=unit[:-1], file=self.stream, leave=False
                )
        if self.bar is not None:
            self.bar.update(done - self.bar.n)  # update(), not n=: tqdm's rate and ETA
            return
        tenth = done * 10 // total
        if tenth > self.shown or (0 < done < total and now - self.last_line >= self.every):
            self.shown, self.last_line = max(tenth, self.shown), now
            line = f"{stage}: {done}/{total} {unit}"
            left = eta_seconds(now - self.began, done, total)
            if left is not None and done < total and now - self.began >= 2:  # no "0 s left"
                line += f", {format_duration(now - self.began)} so far, about "
                line += f"{format_duration(left)} left"
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
