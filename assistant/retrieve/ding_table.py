"""The compiled form of the Ding dictionary: a sorted text table, memory-mapped.

Parsing the ~206,000 lines takes seconds, so the parse is written once (per file size,
mtime and format) and every later process memory-maps it and binary-searches: opening it
takes well under a millisecond.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
import tempfile
import time
from pathlib import Path

from assistant.retrieve.ding import FORMAT_VERSION, STORED_TRANSLATIONS

logger = logging.getLogger(__name__)


class Table:
    """English word -> German words and stem -> English words, held in dicts."""

    def __init__(self, words: dict[str, list[str]], stems: dict[str, list[str]]):
        self.words, self.stems = words, stems
        self._german: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self.words)

    def translations(self, word: str) -> list[str]:
        return self.words.get(word, [])

    def members(self, stem: str) -> list[str]:
        return self.stems.get(stem, [])

    def german_words(self) -> frozenset[str]:
        """Every German word a translation names (common nouns, verbs, adjectives)."""
        return frozenset(g for german in self.words.values() for g in german)

    def is_german(self, word: str) -> bool:
        """Whether ``word`` is among :meth:`german_words` (the set made on first use)."""
        if self._german is None:  # two threads at once make the same set: no lock needed
            self._german = self.german_words()
        return word in self._german


_MEMO_WORDS = 50_000  # words whose is_german answer a table remembers (a few MB at most)


class _MappedTable(Table):
    """The same, read by binary search from a memory-mapped compiled file: opening it
    costs nothing, a lookup reads a few pages (see ``write_table``)."""

    def __init__(self, buffer: bytes | mmap.mmap, count: int):
        self.buffer, self.count = buffer, count
        self._german_memo: dict[str, bool] = {}
        self.start = buffer.find(b"\n") + 1

    def __len__(self) -> int:
        return self.count

    def _find(self, key: bytes) -> list[str]:
        buf, lo, hi = self.buffer, self.start, len(self.buffer)
        while lo < hi:  # lo and hi are line starts
            mid = (lo + hi) // 2
            start = buf.rfind(b"\n", lo, mid) + 1 or lo
            end = buf.find(b"\n", start)
            line = buf[start:end]
            if line.startswith(key):
                return line[len(key) :].decode("utf-8").split(" ")
            if line < key:
                lo = end + 1
            else:
                hi = start
        return []

    def translations(self, word: str) -> list[str]:
        return self._find(b"e\t" + word.encode("utf-8") + b"\t") if word.isascii() else []

    def members(self, stem: str) -> list[str]:
        return self._find(b"s\t" + stem.encode("utf-8") + b"\t") if stem.isascii() else []

    def german_words(self) -> frozenset[str]:
        out: set[str] = set()
        for line in bytes(self.buffer[self.start :]).split(b"\n"):
            if line.startswith(b"g\t"):
                out.add(line[2:-1].decode("utf-8"))
        return frozenset(out)

    def is_german(self, word: str) -> bool:
        """One binary search for the word's own line: no set of ~100,000 words to build
        (a scan of the whole table, over a second on the first German question). The
        answers are remembered: the same names come back in every candidate sentence."""
        known = self._german_memo.get(word)
        if known is None:
            known = bool(self._find(b"g\t" + word.encode("utf-8") + b"\t"))
            if len(self._german_memo) >= _MEMO_WORDS:
                self._german_memo.clear()
            self._german_memo[word] = known
        return known


# -- the compiled cache ---------------------------------------------------------------------

_HEADER = b"ding-de-en %d\n"
_TRAILER = b"~end\n"  # sorts after every record: a file without it is incomplete


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "doc-assistant"


def cache_file(source: Path, stat: os.stat_result, folder: Path) -> Path:
    """The compiled form of ``source`` as it is now: named by its path, size, mtime and
    the format, so a changed file or a new parser compiles anew."""
    name = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    version = f"{stat.st_size}-{stat.st_mtime_ns}-v{FORMAT_VERSION}-{STORED_TRANSLATIONS}"
    return folder / f"ding-{name}-{version}.tsv"


def table_bytes(words: dict[str, list[str]], stems: dict[str, list[str]]) -> bytes:
    """The compiled file: a header, then sorted lines ``e<TAB>word<TAB>german ...``,
    ``s<TAB>stem<TAB>english ...`` and ``g<TAB>german<TAB>`` (each German word of the
    ``e`` lines once, for ``is_german``), then a trailer. Pure."""
    lines = [f"e\t{w}\t{' '.join(g)}" for w, g in words.items() if w.isascii() and g]
    german = {g for line in lines for g in line.split("\t", 2)[2].split(" ")}
    lines += [f"s\t{s}\t{' '.join(m)}" for s, m in stems.items() if s.isascii() and m]
    lines += [f"g\t{g}\t" for g in german]
    body = sorted(line.encode("utf-8") for line in lines)
    return _HEADER % len(words) + b"\n".join(body) + b"\n" + _TRAILER


def open_table(path: Path) -> _MappedTable | None:
    """The compiled file memory-mapped, or None when it is missing or incomplete."""
    try:
        with open(path, "rb") as f:
            buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):  # ValueError: an empty file
        return None
    except OSError as exc:
        logger.warning("cannot open the compiled dictionary %s: %s", path, exc)
        return None
    head = buffer[: buffer.find(b"\n") + 1]
    if not head.startswith(b"ding-de-en ") or not buffer[-len(_TRAILER) - 1 :].endswith(
        b"\n" + _TRAILER
    ):
        logger.warning("ignoring the damaged compiled dictionary %s", path)
        return None
    return _MappedTable(buffer, int(head.split()[1]))


def write_table(
    path: Path, words: dict[str, list[str]], stems: dict[str, list[str]]
) -> _MappedTable | None:
    """Write the compiled file atomically (a temporary file renamed into place, so two
    processes compiling at once both end with a whole one), drop the older compilations
    of the same source, and open it; None when the folder is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ding-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(table_bytes(words, stems))
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        logger.warning("cannot cache the compiled dictionary in %s: %s", path.parent, exc)
        return None
    _prune(path)
    return open_table(path)


_KEEP_OTHER_FORMATS = 30 * 24 * 3600  # seconds


def _prune(current: Path) -> None:
    """Drop the compilations of an older state of the same file in this format. Another
    format's stay a month: another version of the code (a second checkout, a server not
    yet restarted) may still use them, and would otherwise compile anew each start."""
    same_source = "-".join(current.name.split("-")[:2]) + "-"
    same_format = f"-v{FORMAT_VERSION}-{STORED_TRANSLATIONS}.tsv"
    for old in current.parent.glob(same_source + "*.tsv"):
        if old == current:
            continue
        with contextlib.suppress(OSError):
            if old.name.endswith(same_format) or (
                time.time() - old.stat().st_mtime > _KEEP_OTHER_FORMATS
            ):
                old.unlink()
