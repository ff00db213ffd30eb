"""Ablation texts embedded ahead (on a second core, while the question is embedded and
retrieved) against one after the other: answer latency, and that the answers are equal.

    python bench/ahead.py                       # XQuAD docs, index in $TMPDIR/xquad-index
    python bench/ahead.py --questions 100 --out ahead.json

Both ways answer the same questions, interleaved one by one, so they share the machine's
state; the ratio of the two is the result. Mirrors ``Assistant._answer_events``: retrieve,
then the extractive answerer of the top hit's language.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

XQUAD = ROOT.parent / "shared" / "bench" / "xquad"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(XQUAD / "docs"))
    parser.add_argument("--index", default=str(Path(tempfile.gettempdir()) / "xquad-index"))
    parser.add_argument("--questions", type=int, default=100, help="XQuAD rows (x2 languages)")
    parser.add_argument("--out")
    args = parser.parse_args()

    settings = Settings(_env_file=None, corpus_dir=Path(args.corpus), index_dir=Path(args.index))
    bot = Assistant(settings)
    bot.ensure_index()
    rows = [json.loads(line) for line in (XQUAD / "questions.jsonl").open(encoding="utf-8")]
    questions = [(r[k], k[-2:]) for r in rows[: args.questions] for k in ("q_de", "q_en")]
    pool = ThreadPoolExecutor(os.cpu_count() or 1)

    def answer(question: str, lang: str, ahead_too: bool):
        began = time.perf_counter()
        ahead = bot.extractive_answerer().embed_ahead(question, pool) if ahead_too else None
        hits, q_vec = bot.retrieve(question, lang)
        doc_lang = hits[0].chunk.lang if hits else None
        got = bot.extractive_answerer(doc_lang).answer(question, lang, hits, q_vec, ahead)
        return time.perf_counter() - began, got

    answer(*questions[0], True)  # warm: model, index, lexicon
    times: dict[str, list[float]] = {"after": [], "ahead": []}
    differ = 0
    for question, lang in questions:
        t_after, a = answer(question, lang, False)
        t_ahead, b = answer(question, lang, True)
        times["after"].append(t_after)
        times["ahead"].append(t_ahead)
        differ += (a.text, a.outcome) != (b.text, b.outcome)
    result = {
        "questions": len(questions),
        "cores": os.cpu_count(),
        "load_start": os.getloadavg(),
        "answers_that_differ": differ,
    }
    for name, values in times.items():
        result[name] = {
            "p50_ms": round(1000 * percentile(values, 0.5), 1),
            "p95_ms": round(1000 * percentile(values, 0.95), 1),
        }
    for q in ("p50_ms", "p95_ms"):
        result[f"ratio_{q[:3]}"] = round(result["ahead"][q] / result["after"][q], 2)
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
