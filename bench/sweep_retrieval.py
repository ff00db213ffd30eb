"""Sweep the retrieval numbers on the fit split; report the choice on the held-out split.

    python bench/sweep_retrieval.py --root /tmp/assistant-dev [--corpus mixed laws]
        [--only candidates,rrf_k] [--k1-corpus laws]

The two development corpora of bench/fit_answerability.py ("mixed": XQuAD's German
articles and the English mixed-en documents; "laws": the German laws and mixed-en), each
indexed once under ``--root`` as ``make eval-heldout`` lays them out. The answerable
questions (XQuAD, mixed_answerable, laws_answerable; German and English) are split by
document into "fit" and "heldout" (``fit_answerability.split_of``).

One number at a time moves over a small grid around its current value, the others stay
at theirs. A hit is what bench/mixed_retrieval.py counts: a retrieved chunk of the gold
document holding the gold answer; hit@k is the share of questions with a hit among the
``top_k`` chunks retrieval returns. Each question is embedded once and its dense
candidates are read once per candidate count, so a configuration costs the lexical leg
and the fusion only. BM25's k1 is swept by rebuilding the lexical indexes in memory.

The choice per number: the value with the best fit hit@k averaged over the eight
directions (two corpora, question and document language; hit@1 breaks ties); it
replaces the current one only if it beats it by ``MARGIN`` on the fit split and the
held-out split agrees (better there too). ``top_k`` is reported, not chosen: hit@k grows
with k by construction, and what more passages cost is the answerer's reading time.
Results: ``bench/out/sweep_retrieval.json`` and a Markdown report on stdout
(``--render <json>`` prints the report of a saved run again).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fit_answerability import questions  # noqa: E402
from mixed_retrieval import _hit  # noqa: E402

from assistant.retrieve import retriever as retrieval  # noqa: E402
from assistant.retrieve.lexical import K1, B, LanguageIndex, Lexicon  # noqa: E402
from assistant.retrieve.retriever import HybridRetriever, Snapshot  # noqa: E402

MARGIN = 0.01  # pooled fit hit@k a new value must gain to replace the current one

CURRENT = {
    "lexical_weight_same_language": 1.5,
    "lexical_weight_cross_language": 0.0,
    "lexical_weight_translated": 1.5,
    "lexical_gate": 0.05,
    "candidates": 20,
    "top_k": 5,
    "dense_kept": retrieval.DENSE_KEPT,
    "rrf_k": retrieval.RRF_K,
    "k1": K1,
}
GRID = {
    "lexical_weight_same_language": [0.5, 1.0, 1.5, 2.0, 3.0],
    "lexical_weight_cross_language": [0.0, 0.25, 0.5],
    "lexical_weight_translated": [0.0, 0.5, 1.0, 1.5, 2.0],
    "lexical_gate": [0.0, 0.025, 0.05, 0.1],
    "candidates": [10, 20, 40],
    "top_k": [3, 5, 8],
    "dense_kept": [0, 1, 2, 3],
    "rrf_k": [20, 60, 100],
    "k1": [0.9, 1.2, 1.5, 2.0],
}
SETTINGS = {
    "lexical_weight_same_language",
    "lexical_weight_cross_language",
    "lexical_weight_translated",
    "lexical_gate",
    "candidates",
    "top_k",
}


class DenseCache:
    """The chunk store as retrieval reads it, each dense query answered once: the same
    question embedding asked for the same number of candidates gets the same list."""

    def __init__(self, store):
        self._store = store
        self._queries: dict[tuple, list] = {}

    def query(self, embedding, k, sources=None):
        key = (np.asarray(embedding, dtype=np.float32).tobytes(), k, tuple(sources or ()))
        if key not in self._queries:
            self._queries[key] = self._store.query(embedding, k, sources)
        return self._queries[key]

    def chunks(self, ids):
        return self._store.chunks(ids)

    def embeddings(self, ids):
        return self._store.embeddings(ids)


class Corpus:
    """One development corpus: its index, its questions, their embeddings."""

    def __init__(self, root: Path, name: str):
        from assistant import Assistant

        here = root / name
        self.name = name
        self.bot = Assistant(
            answer_mode="extractive", corpus_dir=here / "corpus", index_dir=here / "index"
        )
        began = time.perf_counter()
        self.bot.index()
        print(f"{name}: index ready in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        self.rows = [r for r in questions(name) if r["group"] in ("xquad", "mixed", "laws")]
        self.store = DenseCache(self.bot.store)
        self.snapshot = self.bot.state.snapshot()
        self._lexicons: dict[float, Snapshot] = {K1: self.snapshot}
        began = time.perf_counter()
        self.vectors = self._embedded(here)
        print(
            f"{name}: {len(self.rows)} questions embedded in {time.perf_counter() - began:.0f} s",
            file=sys.stderr,
        )

    def _embedded(self, here: Path) -> list[list[float]]:
        """Each question's embedding, kept beside the index for the next run."""
        texts = [r["question"] for r in self.rows]
        key = hashlib.sha1(json.dumps(texts).encode()).hexdigest()[:12]
        path = here / f"questions-{key}.npy"
        if path.exists():
            return [list(map(float, v)) for v in np.load(path)]
        vectors = [self.bot.embedder.get_query_embedding(t) for t in texts]
        np.save(path, np.asarray(vectors, dtype=np.float32))
        return vectors

    def with_k1(self, k1: float) -> Snapshot:
        """The committed state with its lexical indexes rebuilt for BM25's ``k1``."""
        if k1 not in self._lexicons:
            manifest = self.snapshot.manifest
            indexes = {}
            for lang in self.snapshot.lexicon.indexes:
                sources = [s for s, e in manifest.items() if e.lang == lang]
                chunks = ((c.id, c.text) for c in self.bot.store.iter_chunks(manifest, sources))
                indexes[lang] = LanguageIndex.build(lang, chunks, k1=k1, b=B)
            self._lexicons[k1] = Snapshot(manifest, Lexicon(indexes))
        return self._lexicons[k1]

    def ranks(self, config: dict, split: str) -> dict[str, list[int | None]]:
        """Per direction ("de question, en document"): each question's first hit rank."""
        settings = self.bot.settings.updated(**{k: config[k] for k in SETTINGS})
        snap = self.with_k1(config["k1"])
        retriever = HybridRetriever(
            settings,
            self.store,
            self.bot.embedder,
            lambda: snap,
            None,
            self.bot.translator,
            rrf_k=config["rrf_k"],
            dense_kept=config["dense_kept"],
        )
        out: dict[str, list[int | None]] = {}
        for row, vec in zip(self.rows, self.vectors, strict=True):
            if row["split"] != split:
                continue
            hits, _ = retriever.search(row["question"], row["language"], q_vec=vec)
            doc_lang = "en" if row["group"] == "mixed" else "de"
            key = f"{self.name}: {row['language']} q, {doc_lang} doc"
            out.setdefault(key, []).append(_hit([h.chunk for h in hits], row))
        return out


def at(ranks: list[int | None], k: int) -> float:
    return sum(r is not None and r <= k for r in ranks) / max(1, len(ranks))


def summary(cells: dict[str, list[int | None]], k: int) -> dict:
    """hit@1 and hit@k pooled over all questions and averaged over the directions
    (macro: each corpus and language pair counts once), and hit@k per direction."""
    pooled = [r for ranks in cells.values() for r in ranks]
    return {
        "n": len(pooled),
        "hit@1": at(pooled, 1),
        "hit@k": at(pooled, k),
        "macro@1": float(np.mean([at(r, 1) for r in cells.values()])),
        "macro@k": float(np.mean([at(r, k) for r in cells.values()])),
        "cells": {c: {"n": len(r), "hit@k": at(r, k)} for c, r in sorted(cells.items())},
    }


def measure(corpora: list[Corpus], config: dict, split: str) -> dict:
    cells: dict[str, list[int | None]] = {}
    for corpus in corpora:
        cells.update(corpus.ranks(config, split))
    return summary(cells, config["top_k"])


def choose(name: str, fit: dict[float, dict]) -> float:
    """The best value on fit (macro hit@k, then macro hit@1); the current one unless it
    gains MARGIN."""
    current = CURRENT[name]
    best = max(fit, key=lambda v: (fit[v]["macro@k"], fit[v]["macro@1"], v == current))
    if name == "top_k" or fit[best]["macro@k"] < fit[current]["macro@k"] + MARGIN:
        return current
    return best


def sweep(
    corpora: list[Corpus], names: list[str], only_k1: set[str], save: Callable[[dict], None]
) -> dict:
    results: dict = {}
    for name in names:
        use = [c for c in corpora if c.name in only_k1] if name == "k1" and only_k1 else corpora
        fit: dict[float, dict] = {}
        for value in GRID[name]:
            began = time.perf_counter()
            fit[value] = measure(use, {**CURRENT, name: value}, "fit")
            print(
                f"{name}={value}: fit macro hit@k {fit[value]['macro@k']:.3f} "
                f"({time.perf_counter() - began:.0f} s)",
                file=sys.stderr,
            )
        chosen = choose(name, fit)
        held = {v: measure(use, {**CURRENT, name: v}, "heldout") for v in GRID[name]}
        agrees = held[chosen]["macro@k"] > held[CURRENT[name]]["macro@k"]
        results[name] = {
            "current": CURRENT[name],
            "chosen": chosen if (chosen == CURRENT[name] or agrees) else CURRENT[name],
            "fit_choice": chosen,
            "fit": {str(v): r for v, r in fit.items()},
            "heldout": {str(v): r for v, r in held.items()},
        }
        save(results)
    return results


def overview(results: dict) -> list[str]:
    """One row per number: the current value and the fit split's best, both splits."""
    lines = [
        "| number | grid | current: fit / held-out macro hit@k | fit's best "
        "| best: fit / held-out macro hit@k | value now |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cur = {float(v): v for v in r["fit"]}[float(r["current"])]
        score = {v: (f["macro@k"], f["macro@1"]) for v, f in r["fit"].items()}
        tops = [v for v in r["fit"] if score[v] == max(score.values())]
        top = tops[0]
        changed = " (changed)" if r["chosen"] != r["current"] else ""
        lines.append(
            f"| {name} | {', '.join(r['fit'])} "
            f"| {r['fit'][cur]['macro@k']:.3f} / {r['heldout'][cur]['macro@k']:.3f} "
            f"| {', '.join(tops)} "
            f"| {r['fit'][top]['macro@k']:.3f} / {r['heldout'][top]['macro@k']:.3f} "
            f"| {r['chosen']}{changed} |"
        )
    return lines + [""]


def report(results: dict, command: str) -> str:
    lines = [f"Command: `{command}`", f"Date: {datetime.date.today().isoformat()}", ""]
    lines += overview(results)
    for name, r in results.items():
        lines += [
            f"### {name} (current {r['current']}, fit's choice {r['fit_choice']}, "
            f"kept/changed to {r['chosen']})",
            "",
            "| value | fit macro hit@1 | fit macro hit@k | fit pooled hit@k (n) "
            "| held-out macro hit@1 | held-out macro hit@k | held-out pooled hit@k (n) |",
            "|---|---|---|---|---|---|---|",
        ]
        for v, f in r["fit"].items():
            h = r["heldout"][v]
            mark = " (current)" if float(v) == float(r["current"]) else ""
            lines.append(
                f"| {v}{mark} | {f['macro@1']:.3f} | {f['macro@k']:.3f} "
                f"| {f['hit@k']:.3f} ({f['n']}) | {h['macro@1']:.3f} | {h['macro@k']:.3f} "
                f"| {h['hit@k']:.3f} ({h['n']}) |"
            )
        lines += ["", "Per direction, hit@k (fit / held-out):", ""]
        cells = sorted(next(iter(r["fit"].values()))["cells"])
        lines += ["| value | " + " | ".join(cells) + " |", "|---" * (len(cells) + 1) + "|"]
        for v, f in r["fit"].items():
            row = [
                f"{f['cells'][c]['hit@k']:.2f} / {r['heldout'][v]['cells'][c]['hit@k']:.2f}"
                for c in cells
            ]
            lines.append(f"| {v} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/assistant-dev")
    ap.add_argument("--corpus", nargs="+", default=["mixed", "laws"])
    ap.add_argument("--only", default="", help="comma-separated numbers to sweep (default all)")
    ap.add_argument("--k1-corpus", default="", help="sweep k1 on these corpora only")
    ap.add_argument("--render", metavar="JSON", help="only print the report of a saved run")
    args = ap.parse_args()
    if args.render:
        print(report(json.loads(Path(args.render).read_text()), "(rendered) " + args.render))
        return
    names = [n for n in args.only.split(",") if n] or list(GRID)
    corpora = [Corpus(Path(args.root), name) for name in args.corpus]
    out = ROOT / "bench" / "out" / "sweep_retrieval.json"
    out.parent.mkdir(exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}

    def save(results: dict) -> None:
        out.write_text(json.dumps({**previous, **results}, indent=1))

    only_k1 = {c for c in args.k1_corpus.split(",") if c}
    results = sweep(corpora, names, only_k1, save)
    print(report(results, "python " + " ".join(sys.argv)))


if __name__ == "__main__":
    main()
