"""The measured large-index section of docs/scaling.md: bench/million.py's figures beside
what the doc's arithmetic (from the `make bench` run in bench/RESULTS.json) predicts.

The section sits between two markers in bench/scaling_template.md (and so survives
`bench/run.py --render`) and in docs/scaling.md; ``python bench/million.py --render-doc
RESULTS-1m-<date>.json`` rewrites both.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from report import HNSW_BYTES_PER_VECTOR, SENTENCE_DISK_BYTES, SENTENCE_ROW_BYTES

START, END = "<!-- million:start -->", "<!-- million:end -->"
WHOLE_INDEX_KB = 14.2  # per chunk, measured 2026-12-07 at 5,000 chunks (docs/scaling.md)
DENSE, LEXICAL = "dense Chroma query (`ChunkStore.query`)", "lexical search (BM25)"


def _rows(raw: dict, backend: str = "embedded") -> dict[int, dict]:
    return {r["n"]: r for r in raw.get("scale", []) if r["backend"] == backend}


def _piece(profile: dict | None, name: str) -> float | None:
    for row in (profile or {}).get("rows", []):
        if row["piece"] == name:
            return row["ms"]
    return None


def predictions(bench: dict, n: int) -> dict[str, float | None]:
    """What docs/scaling.md's arithmetic gives at ``n`` chunks (embedded Chroma)."""
    rows = _rows(bench)
    lo, hi = sorted(rows)[-2:]
    a, b = rows[lo], rows[hi]
    cached = [statistics.median(o["open_s"] for o in r["open_cached"]) for r in (a, b)]
    open_s = cached[1] + (cached[1] - cached[0]) / (hi - lo) * (n - hi)
    rss = b["peak_mb"] + (b["peak_mb"] - a["peak_mb"]) / (hi - lo) * (n - hi)
    prof = next((p for p in bench.get("profile", []) if p["backend"] == "embedded"), None)
    dense0, lex0 = _piece(prof, DENSE), _piece(prof, LEXICAL)
    n0 = prof["n"] if prof else hi
    dense = dense0 * math.log(n) / math.log(n0) if dense0 else None
    lexical = lex0 * n / n0 if lex0 else None
    p95 = None
    if dense is not None and lexical is not None:
        p95 = 1000 * b["answer_p95"] + (dense - dense0) + (lexical - lex0)
    v, terms = bench["shape"]["texts_per_chunk"], bench["shape"]["terms_per_chunk"]
    return {
        "open_cached_s": open_s,
        "answer_p95_ms": p95,
        "dense_ms": dense,
        "lexical_ms": lexical,
        "peak_mb": rss,
        "hnsw_mb": n * HNSW_BYTES_PER_VECTOR / 2**20,
        "sentences_mb": n * ((v - 1) * SENTENCE_DISK_BYTES + SENTENCE_ROW_BYTES) / 2**20,
        "lexical_mb": n * terms * 8 / 2**20,
        "total_mb": n * WHOLE_INDEX_KB * 1000 / 2**20,
    }


def measurements(million: dict) -> dict[str, float | None]:
    row = million["row"]
    d = row["disk_mb"]
    prof = row.get("profile")
    return {
        "open_first_s": row["open_first"]["open_s"],
        "open_cached_s": statistics.median(o["open_s"] for o in row["open_cached"]),
        "ask_s": statistics.median(a["seconds"] for a in row["ask"]),
        "answer_p50_ms": 1000 * row["answer_p50"],
        "answer_p95_ms": 1000 * row["answer_p95"],
        "dense_ms": _piece(prof, DENSE),
        "lexical_ms": _piece(prof, LEXICAL),
        "peak_mb": row["peak_mb"],
        "ask_mb": max(a["peak_mb"] for a in row["ask"]),
        "hnsw_mb": d["hnsw"],
        "sentences_mb": d["sentences"],
        "lexical_mb": d["lexical"],
        "chroma_sqlite_mb": d["chroma_sqlite"],
        "total_mb": d["total"],
    }


def linear(y0: float | None, x0: int, y1: float | None, x1: int, x: int) -> float | None:
    """The value at ``x`` on the line through (x0, y0) and (x1, y1)."""
    if y0 is None or y1 is None or x1 == x0:
        return None
    return y1 + (y1 - y0) / (x1 - x0) * (x - x1)


def _f(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "mb":
        return f"{v / 1024:,.2f} GB" if v >= 1024 else f"{v:,.0f} MB"
    if unit == "s":
        return f"{v:.2f} s"
    return f"{v:.1f} ms"


LINES = [  # label, key, unit, goal at 1M (in the unit), predicted?
    ("open, first process (lexical cache written by the build)", "open_first_s", "s", None),
    ("open, cached", "open_cached_s", "s", 1.0),
    ("`assistant ask --json`, cold process", "ask_s", "s", None),
    ("answer p50", "answer_p50_ms", "ms", None),
    ("answer p95", "answer_p95_ms", "ms", 80.0),
    ("dense Chroma query (cProfile, per answer)", "dense_ms", "ms", None),
    ("lexical search (cProfile, per answer)", "lexical_ms", "ms", None),
    ("peak memory of the answering process", "peak_mb", "mb", 2048.0),
    ("peak memory of a cold `assistant ask`", "ask_mb", "mb", None),
    ("HNSW folder on disk (in memory where Chroma runs)", "hnsw_mb", "mb", None),
    ("sentence file", "sentences_mb", "mb", None),
    ("lexical cache (postings, ids, vocabulary, words)", "lexical_mb", "mb", None),
    ("chroma.sqlite3", "chroma_sqlite_mb", "mb", None),
    ("index on disk, total", "total_mb", "mb", None),
]


LINEAR = {"open_first_s", "open_cached_s", "lexical_ms", "peak_mb", "ask_mb", "hnsw_mb"}
LINEAR |= {"sentences_mb", "lexical_mb", "chroma_sqlite_mb", "total_mb"}


def section(million: dict, bench: dict) -> str:
    """The markdown between the markers."""
    b = million["build"]
    n = b["chunks"]
    got, want = measurements(million), predictions(bench, n)
    ref = million.get("reference")
    seen = measurements({"row": ref}) if ref else {}
    ref_head = f" {ref['chunks']:,} chunks, same run |" if ref else ""
    lift = ref is not None and n < 10**6  # a line through both sizes, out to 1M
    if lift:
        ref_head += " 1M, linear through both |"
    lines = [
        START,
        f"## Measured at {n:,} chunks (bulk-built, `bench/million.py`)",
        "",
        f"Measured on {million['machine']['date']} by `{million['command']}` "
        f"(bench/RESULTS-1m-{million['machine']['date']}.json; load average at start / end "
        f"{', '.join(f'{x:.1f}' for x in million['machine']['load_start'])} / "
        f"{', '.join(f'{x:.1f}' for x in million['machine'].get('load_end', []))}). "
        f"The index holds the 138 real XQuAD chunks and {n - 138:,} varied copies: words "
        "swapped, numbers changed, invented words added at Heaps' law's rate (BM25 "
        f"vocabulary {b['vocabulary'].get('de', 0):,} stems; {b['files']:,} files), with "
        "the real chunk and sentence vectors perturbed. Embedded Chroma, extractive answers, "
        f"each figure from a fresh process. Built in {b['seconds'] / 60:.0f} min"
        + (f" (stopped by its time budget before {b['target']:,})" if n < b["target"] else "")
        + ". Predicted: this doc's arithmetic above at the same size (open and memory "
        "linear from the two largest `make bench` sizes, query pieces scaled as stated, "
        "p95 = the 100k p95 plus the predicted growth of those two pieces). The machine "
        "was shared with other jobs: times are inflated; the smaller index, measured "
        "interleaved with the large one, shows by how much.",
        "",
        "| | measured | predicted | measured / predicted |" + ref_head + " goal at 1M |",
        "|---|---|---|---|---|" + ("---|" if ref else "") + ("---|" if lift else ""),
    ]
    for label, key, unit, goal in LINES:
        m, p = got.get(key), want.get(key)
        ratio = f"{m / p:.2f}" if m is not None and p else "-"
        goal_text = "-" if goal is None else f"≤ {_f(goal, unit)}"
        extra = f" {_f(seen.get(key), unit)} |" if ref else ""
        if lift:  # latencies of a loaded machine are too noisy for a line
            at = linear(seen.get(key), ref["chunks"], m, n, 10**6) if key in LINEAR else None
            extra += f" {_f(at, unit)} |"
        lines.append(f"| {label} | {_f(m, unit)} | {_f(p, unit)} | {ratio} |{extra} {goal_text} |")
    lines += ["", END]
    return "\n".join(lines)


def insert(text: str, block: str, after: str = "## The arithmetic") -> str:
    """``text`` with the block between the markers replaced (or put before ``after``)."""
    if START in text:
        head, rest = text.split(START, 1)
        return head + block + rest.split(END, 1)[1]
    head, tail = text.split(after, 1)
    return head + block + "\n\n" + after + tail


def render(million_json: Path, bench_json: Path, targets: list[Path]) -> None:
    block = section(json.loads(million_json.read_text()), json.loads(bench_json.read_text()))
    for path in targets:
        path.write_text(insert(path.read_text(), block))
