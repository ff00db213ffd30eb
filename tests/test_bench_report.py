"""bench/report.py: the rendering of `make bench` results (pure; no index, no model)."""

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from report import (  # noqa: E402
    profile_rows,
    render_results,
    render_scaling,
    scaling_values,
    speed_note,
    summary,
    under_load,
)

EARLIER = json.loads((BENCH / "RESULTS-2026-11-27.json").read_text())


def _now() -> dict:
    """A small run in the current format: XQuAD figures, one size, one profile."""
    return {
        "version": 2,
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "date": "2026-11-28",
            "load_start": [1.0, 0.5, 0.25],
            "load_end": [2.0, 1.0, 0.5],
        },
        "runs": 1,
        "sizes": [100000],
        "questions": 10,
        "embed": [{"tokens_per_s": 1500.0}],
        "index": [
            {
                "seconds": 20.0,
                "answerable_after_s": 8.0,
                "chunks": 138,
                "tokens": 90000,
                "peak_mb": 300,
            }
        ],
        "shape": {
            "texts_per_chunk": 10.0,
            "chunk_chars": 1000,
            "chunk_bytes": 1020,
            "terms_per_chunk": 100,
        },
        "baseline": [
            {
                "seconds": 10.0,
                "chunks": 44,
                "tokens": 28000,
                "hit5_de": 0.9,
                "hit5_en": 0.8,
                "p50": 0.01,
                "p95": 0.02,
            }
        ],
        "queries": {"answer_p95": 0.03, "retrieve_p50": 0.012},
        "start": {
            "ask": [{"seconds": 1.5, "peak_mb": 250}, {"seconds": 1.7, "peak_mb": 260}],
            "imports": [{"seconds": 1.0}, {"seconds": 1.2}],
        },
        "quality": {
            "items": 632,
            "seconds": 60,
            "metrics": {"de": {"answer_accuracy": 0.71}, "en": {"answer_accuracy": 0.6}},
        },
        "scale": [
            {
                "n": 100000,
                "backend": "embedded",
                "open_first": {"open_s": 3.0, "peak_mb": 900},
                "open_cached": [{"open_s": 0.5, "peak_mb": 400}],
                "ask": [{"seconds": 2.0, "peak_mb": 500}],
                "imports": [{"seconds": 1.0}],
                "answer_p95": 0.045,
                "peak_mb": 1100.0,
                "disk_mb": 2048.0,
            },
        ],
        "profile": [
            {
                "n": 100000,
                "backend": "embedded",
                "answers": 10,
                "wall_p50": 0.05,
                "rows": [
                    {"piece": "whole answer (`Assistant.ask`)", "ms": 50.0, "calls": 1.0},
                    {"piece": "dense Chroma query (`ChunkStore.query`)", "ms": 10.0, "calls": 1.0},
                    {"piece": "lexical search (BM25)", "ms": 4.0, "calls": 1.0},
                    {"piece": "sentence-vector fetch", "ms": None, "calls": None},
                ],
            },
        ],
    }


def test_profile_rows_follow_renamed_functions_and_show_missing_ones():
    stats = {
        ("/x/assistant/api.py", 1, "ask"): (10, 1.0),
        ("/x/assistant/retrieve/lexical.py", 5, "search"): (10, 0.2),  # the refactored home counts
        ("/x/assistant/retrieve/lexical.py", 50, "search"): (
            20,
            0.15,
        ),  # its namesake inside it: once
        ("/x/assistant/retrieve/retriever.py", 5, "search"): (10, 0.3),  # not added on top of it
        ("/x/assistant/answer/judge.py", 7, "score"): (80, 0.05),
        ("/x/assistant/answer/judge.py", 9, "probability"): (80, 0.05),
        ("/x/chromadb/api/models/Collection.py", 3, "count"): (20, 0.1),
        ("/x/other/store.py", 3, "query"): (10, 9.0),  # not ours: another package's store.py
    }
    rows = {r["piece"]: r for r in profile_rows(stats, answers=10)}
    assert rows["whole answer (`Assistant.ask`)"]["ms"] == 100.0
    assert rows["lexical search (BM25)"]["ms"] == 20.0
    assert rows["the decision (ranker, decider, selection)"] == {
        "piece": "the decision (ranker, decider, selection)",
        "ms": 10.0,
        "calls": 16.0,
    }
    assert rows["Chroma `count()` calls"]["calls"] == 2.0
    assert rows["dense Chroma query (`ChunkStore.query`)"]["ms"] is None
    assert rows["sentence-vector fetch"]["ms"] is None


def test_earlier_format_is_read_for_the_earlier_column():
    old = summary(EARLIER)
    assert round(old["idx.seconds"], 1) == 44.8
    assert round(old["start.ask_s"], 2) == 1.75
    row = old["scale"]["100000/embedded"]
    assert round(row["open_first_s"], 1) == 14.2 and round(row["answer_p95_ms"], 1) == 107.6
    assert row["open_cached_s"] is None and row["ask_s"] is None


def test_results_put_now_beside_earlier_and_quickstart_with_ratios():
    text = render_results(_now(), EARLIER, "RESULTS-2026-11-27.json")
    assert "Test CPU, 2 cores" in text and "1.00, 0.50, 0.25 / 2.00, 1.00, 0.50" in text
    assert "| wall time, complete index | 20.0 s | 44.8 s | 0.45x | 10.0 s | 2.00x |" in text
    assert "| time until answerable | 8.0 s | - | - | 10.0 s | 0.80x |" in text
    assert "| `assistant ask --json` cold, wall time | 1.60 s | 1.75 s | 0.92x |" in text
    assert "| ask / bare imports | 1.45x |" in text
    assert "| answer p95 | 45.0 ms | 107.6 ms | 0.42x |" in text
    assert "| open, cached | 0.50 s | 14.21 s | 0.04x |" in text
    assert "| answer p95 at 100,000 chunks, embedded | 45.0 ms | ≤ 50.0 ms | met |" in text
    assert "| open at 100,000 chunks, embedded (cached) | 0.50 s | ≤ 2.00 s | met |" in text
    assert "| answer accuracy | 0.710 | 0.723 | 0.600 | 0.607 |" in text
    assert "| sentence-vector fetch | - | - | - |" in text
    assert "| lexical search (BM25) | 4.0 ms | 1.0 | 8% |" in text
    assert "not run: `bench/threads.py` does not exist" in text


class TestSpeedNote:
    def test_names_this_run_engine_speed_against_the_earlier_run(self):
        note = speed_note({"emb.tokens_per_s": 1500.0}, {"emb.tokens_per_s": 2000.0})
        assert "1,500 tokens/s" in note and "0.75x the earlier run's 2,000" in note

    def test_without_an_earlier_figure_only_this_run(self):
        note = speed_note({"emb.tokens_per_s": 1500.0}, {})
        assert "1,500 tokens/s on this run." in note and "earlier" not in note

    def test_no_engine_figure_no_note(self):
        assert speed_note({}, {}) == ""

    def test_the_results_carry_it_under_the_goals(self):
        text = render_results(_now(), EARLIER, "RESULTS-2026-11-27.json")
        goals, indexing = text.index("## Goals"), text.index("## Indexing")
        note = text.index("Machine speed: the embedding engine alone ran at 1,500 tokens/s")
        assert goals < note < indexing


class TestUnderLoad:
    """The goals' under-load rows, from bench/threads.py's last output line."""

    TABLE = {
        "idle/passive/1": {"answer_p95": 50.0, "parallel20_p95": 640.0},
        "loaded/passive/1": {"answer_p95": 95.0, "parallel20_p95": 1116.0},
        "loaded/active/2": {"answer_p95": 880.0, "parallel20_p95": 2606.0},
    }

    def test_the_default_setting_s_ratio_and_parallel_p95(self):
        out = under_load({"rc": 0, "stdout": "table\n" + json.dumps(self.TABLE)})
        assert out["load.p95_ratio"] == 1.9 and out["load.parallel20_p95_ms"] == 1116.0

    def test_rendered_as_goals_busy_start_included(self):
        raw = _now()
        raw["threads"] = {"rc": 0, "stdout": json.dumps(self.TABLE)}
        raw["start"] |= {"busy_ask": [{"seconds": 3.0}], "busy_imports": [{"seconds": 2.0}]}
        text = render_results(raw, EARLIER, "RESULTS-2026-11-27.json")
        assert (
            "| answer p95 beside two CPU hogs / idle" in text
            and "| 1.90x | ≤ 2.00x | met |" in text
        )
        assert "p95 (XQuAD index, `bench/threads.py`) | 1116.0 ms | ≤ 1000.0 ms | not met |" in text
        assert "| `assistant ask` cold / bare imports, two CPU hogs beside both | 1.50x |" in text

    def test_no_or_garbled_output_gives_no_figures(self):
        assert under_load(None) == {} and under_load({"rc": 1, "stdout": "Traceback"}) == {}


def test_scaling_doc_fills_measured_and_extrapolated_figures():
    template = "{{open_cached_s_100k_emb}} {{disk_100k_emb}} {{hnsw_1m}} {{sentences_1m}} {{lexical_ms_10m}} {{dense_ms_1m}} {{open_first_s_10k_srv}} {{nonsense}}"
    text = render_scaling(template, _now())
    # graph: 1672 B x 1M = 1.6 GB; (9 sentence vectors x 388 B + a 530 B row) x 1M = 3.7 GB;
    # lexical 4 ms x 100; dense 10 ms x ln(1e6)/ln(1e5)
    assert text == "0.50 s 2.0 GB 1.6 GB 3.7 GB 400.0 ms 12.0 ms - -"
    values = scaling_values(_now())
    assert values["bm25_kb_per_chunk"] == "0.78 kB" and values["texts_per_chunk"] == "10.0"


def test_the_shipped_template_has_no_unknown_placeholders():
    import re

    values = scaling_values(_now())
    names = set(re.findall(r"\{\{(\w+)\}\}", (BENCH / "scaling_template.md").read_text()))
    sizes = {n for n in names if re.search(r"_(1k|10k|100k)_(emb|srv)$", n)}
    assert names - sizes <= set(values) | {"mb_slope_emb", "mb_1m_emb"}, names - sizes - set(values)
