"""Progress for long work (indexing, evaluation), on stderr."""

from __future__ import annotations

import sys


class ProgressBar:
    """Progress on stderr (stdout stays clean for --json): a tqdm bar on a terminal,
    a line every 10% in logs and CI."""

    STAGES = ("loading", "embedding", "eval")

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.bar = None
        self.stage = None
        self.shown = -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet or stage not in self.STAGES or not total:
            return
        unit = {"embedding": "texts", "eval": "questions"}.get(stage, "files")
        if stage != self.stage:
            self.close()
            self.stage, self.shown = stage, -1
            if self.tty:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=total, desc=stage, unit=unit[:-1], file=sys.stderr, leave=False
                )
        if self.bar is not None:
            self.bar.n = done
            self.bar.refresh()
        elif (tenth := done * 10 // total) > self.shown:
            self.shown = tenth
            print(f"{stage}: {done}/{total} {unit}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
