"""How many question words the answerability ablation needs: held-out quality and cost.

    python bench/fit_answerability.py --index I        # the dump (every drop kept)
    python bench/ablation.py --index I --words 4,2,1,0 # refit per setting, compare

For each number of left-out words the model is refitted on the fit split of the same
dump (bench/fit_answerability.py, like for like) and judged on the held-out split. The
noise: a paired bootstrap over held-out questions of each setting's difference to the
first one (95% interval), and the spread of held-out figures between refits of the first
setting on bootstrap resamples of the fit split. Latency: retrieval + extractive answer
per question, the settings interleaved question by question; plus the engine alone, the
variants in their own call or in one call with the question.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import fit_answerability as fa  # noqa: E402

METRICS = (
    ("acc", "xquad", "correct"),
    ("false_decl", "xquad", "declined"),
    ("nearmiss_decl", "nearmiss", "declined"),
    ("mixed_acc", "mixed", "correct"),
)


def outcomes(rows: list[dict], ranker, decider, judge) -> list[dict]:
    """Per held-out question: group, language, answered correctly, not answered."""
    out = []
    tops = fa.best_candidates(rows, ranker)
    for r, top, te in zip(rows, tops, fa.topic_rows(rows, ranker, decider)):
        outcome = fa.outcome_of(r, top, te, ranker, decider, judge)
        gold = any(c["gold"] for cit in fa.quotes(r, ranker) for c in cit)
        out.append(
            {
                "group": r["group"],
                "lang": r["language"],
                "correct": int(outcome == "answered" and gold),
                "declined": int(outcome != "answered"),
            }
        )
    return out


def figures(outs: list[dict], idx: np.ndarray | None = None) -> dict[str, float]:
    sel = outs if idx is None else [outs[i] for i in idx]
    res = {}
    for name, group, field in METRICS:
        for lang in ("de", "en"):
            vals = [o[field] for o in sel if o["group"] == group and o["lang"] == lang]
            res[f"{name}_{lang}"] = float(np.mean(vals)) if vals else float("nan")
    return res


def quality(dump: Path, words: list[int], boot: int, refits: int) -> dict:
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    held = [r for r in rows if r["split"] == "heldout"]
    per_k, outs_k = {}, {}
    for k in words:
        rows_k = fa.with_ablated_words(rows, k)
        ranker, decider, judge = fa.fit(rows_k)
        held_k = [r for r in rows_k if r["split"] == "heldout"]
        outs_k[k] = outcomes(held_k, ranker, decider, judge)
        per_k[k] = {"figures": figures(outs_k[k]), "answer_at": decider.answer_at}
        print(k, json.dumps(per_k[k]), file=sys.stderr, flush=True)
    rng = np.random.default_rng(0)
    base = words[0]
    n = len(held)
    samples = [rng.integers(0, n, n) for _ in range(boot)]
    for k in words[1:]:
        diffs: dict[str, list[float]] = {}
        for idx in samples:
            a, b = figures(outs_k[k], idx), figures(outs_k[base], idx)
            for m in a:
                diffs.setdefault(m, []).append(a[m] - b[m])
        per_k[k]["diff_ci95"] = {
            m: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
            for m, v in diffs.items()
        }
    # refit noise: the first setting fitted on bootstrap resamples of the fit split
    spread: dict[str, list[float]] = {}
    fit_rows = fa.with_ablated_words([r for r in rows if r["split"] == "fit"], base)
    held_base = fa.with_ablated_words(held, base)
    for i in range(refits):
        pick = np.random.default_rng(100 + i).integers(0, len(fit_rows), len(fit_rows))
        ranker, decider, judge = fa.fit([fit_rows[j] for j in pick])
        for m, v in figures(outcomes(held_base, ranker, decider, judge)).items():
            spread.setdefault(m, []).append(v)
        print("refit", i, file=sys.stderr, flush=True)
    if refits:
        per_k["refit_sd"] = {m: float(np.std(v)) for m, v in spread.items()}
    return per_k


def latency(corpus: Path, index: Path, words: list[int], n: int) -> dict:
    from assistant import Assistant
    from assistant.answer.judge import ablation_variants
    from assistant.question.language import detect_language

    bot = Assistant(corpus_dir=corpus, index_dir=index, answer_mode="extractive")
    answerer = bot.extractive_answerer()
    qs = [r["question"] for r in fa.questions() if r["split"] == "heldout"]
    random.Random(0).shuffle(qs)
    qs = qs[:n]
    times: dict[str, list[float]] = {str(k): [] for k in words}
    for k in words:
        if k:
            times |= {f"engine_separate_{k}": [], f"engine_joint_{k}": []}
    bot.ask(qs[0])
    emb = bot.embedder
    for q in qs:
        lang = detect_language(q)
        for k in random.Random(q).sample(words, len(words)):
            answerer.ablated_words = k
            began = time.perf_counter()
            hits, q_vec = bot.retrieve(q, lang)
            answerer.answer(q, lang, hits, q_vec)
            times[str(k)].append(1000 * (time.perf_counter() - began))
        weights = answerer.lexicon.term_weights(q)
        for k in (k for k in words if k):
            variants = ablation_variants(q, weights, answerer.lexicon.stem, k)
            if not variants:
                continue
            began = time.perf_counter()
            emb.get_query_embedding(q)
            emb.query_many(variants)
            times[f"engine_separate_{k}"].append(1000 * (time.perf_counter() - began))
            began = time.perf_counter()
            emb.query_many([q, *variants])
            times[f"engine_joint_{k}"].append(1000 * (time.perf_counter() - began))
    return {
        k: {"p50": statistics.median(v), "p95": fa_pct(v, 0.95), "n": len(v)}
        for k, v in times.items()
    }


def fa_pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=Path("/tmp/answerability/index"))
    ap.add_argument("--dump", type=Path, default=Path("/tmp/answerability/evidence.jsonl"))
    ap.add_argument("--words", default="4,2,1,0")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--refits", type=int, default=5)
    ap.add_argument("--latency-questions", type=int, default=80)
    ap.add_argument("--skip", default="", help="quality or latency")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    words = [int(w) for w in args.words.split(",")]
    result: dict = {}
    if "quality" not in args.skip:
        result["quality"] = quality(args.dump, words, args.bootstrap, args.refits)
    if "latency" not in args.skip:
        corpus = args.index.parent / "corpus"
        result["latency_ms"] = latency(corpus, args.index, words, args.latency_questions)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
