"""Fit the answerability models (assistant/answer/judge.py) on the development set.

    python bench/fit_answerability.py            # index, dump evidence, fit, report held-out
    python bench/fit_answerability.py --write    # ... and write the coefficients into the code
    python bench/fit_answerability.py --reuse    # refit from the dump

Two development corpora, each indexed on its own, as users' folders are:
- "mixed": the 24 XQuAD articles plus the nine English documents of mixed-en;
- "laws": the eleven German laws of laws-de plus the same nine English documents.
Questions: XQuAD (answerable, German and English), our near-miss questions over XQuAD
(bench/data/nearmiss.jsonl), English-document questions in both languages
(bench/data/mixed_answerable.jsonl), our questions over the laws (laws_answerable.jsonl,
laws_nearmiss.jsonl, German and English), and off-topic/non-questions (offtopic.jsonl).
Each corpus is also asked the other corpus's questions: those are about another domain,
the examples the topic judge learns "not in the documents" from ("foreign").
Every question has a split, by document: "fit" or "heldout". Only "fit" rows are used
to fit; "heldout" rows are reported.

Three models, fitted in order:
- the ranker (conditional logit over each question's candidate sentences);
- the decider (logistic regression: does the best sentence hold the answer?). Its answer
  point is the most permissive one at which answered questions of the fit split keep
  PRECISION_TARGET and near-misses are answered at most NEAR_MISS_ANSWERED of the time;
  below it the answer shows the closest passages ("hedged") instead;
- the topic judge (logistic regression on question-level evidence: is anything retrieved
  about the question's subject?). Its decline point is the strictest one at which at most
  FALSE_NOT_IN_DOCUMENTS of the answerable fit questions (each language) would be told
  "not in the documents".

The dump keeps each candidate's similarity drop for each of the question's four rarest
words, so any number of ablated words up to four is fitted from one dump; ``--write``
writes that number (``ABLATED_WORDS``) with the coefficients. bench/ablation.py compares
the settings.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "bench"
DATA = ROOT / "bench" / "data"
PRECISION_TARGET = 0.93  # of the answered questions, this share quotes the answer (fit split)
NEAR_MISS_ANSWERED = 0.30  # at most this share of near-miss questions answered (fit split)
FALSE_NOT_IN_DOCUMENTS = 0.01  # answerable fit questions told "not in the documents", at most
CLOSEST = 3  # passages a hedge shows (assistant.extractive.CLOSEST_PASSAGES)
FOREIGN_SAMPLE = 200  # questions of the other corpus asked of each one
CORPORA = {
    "mixed": (SHARED / "xquad" / "docs", SHARED / "mixed-en" / "docs"),
    "laws": (SHARED / "laws-de" / "docs", SHARED / "mixed-en" / "docs"),
}
ON_TOPIC = {"xquad", "nearmiss", "mixed", "laws", "lawsnm"}
NEAR_MISS = {"nearmiss", "lawsnm"}
ANSWERABLE = {"xquad", "mixed", "laws"}

from assistant.answer.judge import (  # noqa: E402
    ABLATED_WORDS,
    DECIDE_FEATURES,
    DECIDER,
    RANK_FEATURES,
    RANKER,
    TOPIC,
    TOPIC_FEATURES,
    Decider,
    Ranker,
    TopicJudge,
    ablation_evidence,
    rank_evidence,
    topic_evidence,
)

MAX_ABLATED = 4  # the dump keeps this many drops per candidate


def with_ablated_words(rows: list[dict], k: int) -> list[dict]:
    """The rows as if the answerer left out only the ``k`` rarest words (the dump holds
    the drop for each word, rarest first): ablation_min/mean recomputed from those."""
    out = []
    for r in rows:
        cands = []
        for c in r["candidates"]:
            low, mean = ablation_evidence(c["drops"][:k])
            cands.append(
                {**c, "evidence": {**c["evidence"], "ablation_min": low, "ablation_mean": mean}}
            )
        out.append({**r, "candidates": cands})
    return out


def split_of(doc: str | None, row_id: str = "") -> str:
    """Every other document (sorted) is fit, the rest held out; off-topic rows by id."""
    xquad = sorted(p.name for p in (SHARED / "xquad" / "docs").iterdir())
    mixed = sorted(p.name for p in (SHARED / "mixed-en" / "docs").iterdir())
    for names in (xquad, mixed):
        if doc in names:
            return "fit" if names.index(doc) % 2 == 0 else "heldout"
    digits = re.sub(r"\D", "", row_id) or "0"
    return "fit" if int(digits) % 2 == 0 else "heldout"


def _own_rows(name: str, group: str) -> list[dict]:
    rows = []
    for line in (DATA / name).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            r["doc"] = r.get("doc") or r.get("source")
            r["group"] = group
            rows.append(r)
    return rows


def questions(corpus: str = "mixed") -> list[dict]:
    """The questions asked of ``corpus``: its own (by group), then a sample of the other
    corpus's answerable ones as "foreign" (about another domain)."""
    xquad = []
    for line in (SHARED / "xquad" / "questions.jsonl").read_text().splitlines():
        r = json.loads(line)
        for lang in ("de", "en"):
            xquad.append(
                {
                    "id": f"{r['id']}-{lang}",
                    "question": r[f"q_{lang}"],
                    "language": lang,
                    "answerable": True,
                    "answers": [r["answer_de"]],
                    "doc": r["doc"],
                    "group": "xquad",
                }
            )
    laws = (
        _own_rows("laws_answerable.jsonl", "laws")
        if (DATA / "laws_answerable.jsonl").exists()
        else []
    )
    laws_nm = (
        _own_rows("laws_nearmiss.jsonl", "lawsnm")
        if (DATA / "laws_nearmiss.jsonl").exists()
        else []
    )
    nearmiss = _own_rows("nearmiss.jsonl", "nearmiss")
    shared = _own_rows("mixed_answerable.jsonl", "mixed") + _own_rows("offtopic.jsonl", "offtopic")
    if corpus == "mixed":
        own, other = xquad + nearmiss, laws + laws_nm
    else:
        own, other = laws + laws_nm, xquad + nearmiss
    foreign = [
        {**r, "group": "foreign", "answerable": False, "answers": []}
        for r in other[:: max(1, len(other) // FOREIGN_SAMPLE)]
    ]
    rows = own + shared + foreign
    for r in rows:
        r["split"] = r.get("split") or split_of(r["doc"], r["id"])
        r["corpus"] = corpus
    return rows


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def dump(index_dir: Path, out, corpus: str = "mixed") -> None:
    """Evidence of the candidates of every question asked of ``corpus``, gold-labelled."""
    from assistant import Assistant
    from assistant.question.language import detect_language

    folder = index_dir.parent / "corpus"
    if not folder.exists():
        folder.mkdir(parents=True)
        for docs in CORPORA[corpus]:
            for p in docs.iterdir():
                shutil.copy(p, folder / p.name)
    bot = Assistant(corpus_dir=folder, index_dir=index_dir, answer_mode="extractive")
    bot.index()
    rows = questions(corpus)
    began = time.perf_counter()
    for i, r in enumerate(rows):
        q = r["question"]
        lang = r["language"] if r["language"] in ("de", "en") else detect_language(q)
        hits, q_vec = bot.retrieve(q, lang)
        doc_lang = hits[0].chunk.lang if hits else None  # as Assistant.stream does
        answerer = bot.extractive_answerer(doc_lang)
        answerer.ablated_words = MAX_ABLATED  # every drop, so fewer words can be tried
        ranked = answerer.rank(q, lang, hits, q_vec)
        golds = [_norm(a) for a in r.get("answers", []) if a.strip()]
        cands = [
            {
                "evidence": c.evidence,
                "drops": list(c.ablation_drops),
                "gold": bool(
                    r["answerable"]
                    and c.hit.chunk.source == r["doc"]
                    and any(g in _norm(c.text) for g in golds)
                ),
                "source": c.hit.chunk.source,
                "chunk": c.hit.chunk.id,
                "ordinal": c.ordinal,
                "start": c.start,
                "end": c.end,
                "text": c.text,
            }
            for c in ranked
        ]
        out.write(json.dumps({**r, "lang": lang, "candidates": cands}, ensure_ascii=False))
        out.write("\n")
        if i % 200 == 0:
            print(
                f"dump {corpus} {i}/{len(rows)} {time.perf_counter() - began:.0f}s",
                file=sys.stderr,
            )


def _matrix(cands: list[dict], names: tuple[str, ...]) -> np.ndarray:
    return np.asarray([[c["evidence"][f] for f in names] for c in cands], dtype=np.float64)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 10.0, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Newton's method on the L2-penalised, weighted log-likelihood (intercept not
    penalised); ``weights`` (one per row, mean 1) balance the corpora."""
    weights = np.ones(len(x)) if weights is None else weights
    mean, std = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (weights * (p - y)) + penalty @ w
        hess = (z * (weights * p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    coef = w[1:] / std
    intercept = w[0] - float((w[1:] * mean / std).sum())
    return intercept, coef


def fit_ranker(rows: list[dict], l2: float = 1.0, steps: int = 400) -> Ranker:
    """Conditional logit: per question, a softmax over its candidates; the gold sentences
    should get the probability mass (maximise the log of their summed softmax share)."""
    groups = [
        (_matrix(r["candidates"], RANK_FEATURES), np.asarray([c["gold"] for c in r["candidates"]]))
        for r in rows
        if r["candidates"] and any(c["gold"] for c in r["candidates"])
    ]
    allx = np.vstack([x for x, _ in groups])
    std = allx.std(0) + 1e-9
    w = np.zeros(len(RANK_FEATURES))
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):  # Adam on the standardised features
        grad = l2 * w / len(groups)
        for x, y in groups:
            z = x / std
            s = z @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            gold = p * y
            q = gold / gold.sum()
            grad -= (q - p) @ z / len(groups)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return Ranker(tuple(float(c) for c in w / std))


def best_candidates(rows: list[dict], ranker: Ranker) -> list[dict | None]:
    """The top-ranked candidate of each question, with its rank evidence filled in."""
    out = []
    for r in rows:
        cands = r["candidates"]
        if not cands:
            out.append(None)
            continue
        scores = [ranker.score(c["evidence"]) for c in cands]
        i = int(np.argmax(scores))
        margin, share = rank_evidence(scores)[i]
        top = dict(cands[i])
        top["evidence"] = {**top["evidence"], "rank_margin": margin, "rank_share": share}
        out.append(top)
    return out


def topic_rows(rows: list[dict], ranker: Ranker, decider: Decider) -> list[dict]:
    """The topic judge's evidence of each question (best candidate judged by the decider)."""
    out = []
    for r, top in zip(rows, best_candidates(rows, ranker)):
        p = decider.probability(top["evidence"]) if top else 0.0
        out.append(topic_evidence([c["evidence"] for c in r["candidates"]], p))
    return out


def outcome_of(r: dict, top: dict | None, topic_e: dict, ranker, decider, topic) -> str:
    if top is None or topic.off_topic(topic_e):
        return "declined"
    return "answered" if decider.answers(decider.probability(top["evidence"])) else "hedged"


def shown_passages(r: dict, ranker: Ranker) -> list[dict]:
    """What a hedge shows: the best-ranked candidates that do not overlap, at most CLOSEST."""
    cands = r["candidates"]
    order = np.argsort([ranker.score(c["evidence"]) for c in cands])[::-1]
    shown: list[dict] = []
    for i in order:
        c = cands[i]
        if len(shown) == CLOSEST:
            break
        if not any(
            c["source"] == s["source"] and c["start"] < s["end"] and s["start"] < c["end"]
            for s in shown
        ):
            shown.append(c)
    return shown


def simulate(
    rows: list[dict], ranker: Ranker, decider: Decider, topic: TopicJudge = TOPIC
) -> dict[str, dict[str, float]]:
    """Per group and language: answered right, answered, hedged, declined, answer shown."""
    stats: dict[str, dict[str, list[int]]] = {}
    tops = best_candidates(rows, ranker)
    for r, top, te in zip(rows, tops, topic_rows(rows, ranker, decider)):
        lang = r["language"] if r["language"] in ("de", "en") else "xx"
        key = f"{r['group']}-{lang}"
        s = stats.setdefault(
            key,
            {"correct": [], "answered": [], "declined": [], "hedged": [], "shown": []},
        )
        outcome = outcome_of(r, top, te, ranker, decider, topic)
        gold = any(c["gold"] for cit in quotes(r, ranker) for c in cit)
        s["correct"].append(int(outcome == "answered" and gold))
        s["answered"].append(int(outcome == "answered"))
        s["declined"].append(int(outcome == "declined"))
        s["hedged"].append(int(outcome == "hedged"))
        hedge_gold = any(c["gold"] for c in shown_passages(r, ranker))
        s["shown"].append(
            int((outcome == "answered" and gold) or (outcome == "hedged" and hedge_gold))
        )
    table = {}
    for k, v in sorted(stats.items()):
        row = {m: float(np.mean(v[m])) for m in v} | {"n": len(v["correct"])}
        row["precision"] = (
            float(np.sum(v["correct"]) / np.sum(v["answered"])) if np.sum(v["answered"]) else 1.0
        )
        table[k] = row
    return table


def objective(table: dict[str, dict[str, float]]) -> float:
    """Answered right on answerable questions, averaged over groups and languages."""
    acc = [v["correct"] for k, v in table.items() if k.split("-")[0] in ANSWERABLE]
    return float(np.mean(acc)) if acc else 0.0


def _pooled(table: dict[str, dict[str, float]], groups: set[str], field: str) -> float:
    num = sum(v[field] * v["n"] for k, v in table.items() if k.split("-")[0] in groups)
    den = sum(v["n"] for k, v in table.items() if k.split("-")[0] in groups)
    return num / den if den else 0.0


def quotes(r: dict, ranker: Ranker) -> list[list[dict]]:
    """What the answerer would quote (as in ExtractiveAnswerer.select): lists of joined
    candidates, one list per citation."""
    cands = r["candidates"]
    if not cands:
        return []
    scores = [ranker.score(c["evidence"]) for c in cands]
    order = np.argsort(scores)[::-1]
    best = cands[order[0]]
    if len(cands) < 2:
        return [[best]]
    second = cands[order[1]]
    if second["chunk"] == best["chunk"] and abs(second["ordinal"] - best["ordinal"]) == 1:
        return [[best, second]]
    apart = second["source"] != best["source"] or not (
        best["start"] < second["end"] and second["start"] < best["end"]
    )
    if scores[order[0]] - scores[order[1]] < ranker.second_within and apart:
        return [[best], [second]]
    return [[best]]


def quote_quality(rows: list[dict], ranker: Ranker) -> tuple[float, float]:
    """(share of answerable questions with a gold quote, citation precision), no declines."""
    hit, n_cit, n_sup = [], 0, 0
    for r in rows:
        if not r["answerable"]:
            continue
        cits = quotes(r, ranker)
        sup = [any(c["gold"] for c in cit) for cit in cits]
        hit.append(any(sup))
        n_cit += len(cits)
        n_sup += sum(sup)
    return float(np.mean(hit)), n_sup / max(1, n_cit)


def balance(rows: list[dict]) -> np.ndarray:
    """Row weights that give each group (corpus and kind) a say growing with the square
    root of its size, not its size: XQuAD's 600 questions must not drown the laws' 60."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["group"]] = sizes.get(r["group"], 0) + 1
    w = np.asarray([1.0 / np.sqrt(sizes[r["group"]]) for r in rows])
    return w / w.mean()


def fit(rows: list[dict]) -> tuple[Ranker, Decider, TopicJudge]:
    train = [r for r in rows if r["split"] == "fit"]
    ranker = fit_ranker([r for r in train if r["group"] in ANSWERABLE])
    # the widest second-quote margin that keeps citation precision at 0.8 or more
    for within in (1.0, 0.75, 0.5, 0.25, 0.0):
        candidate = Ranker(ranker.coef, within)
        if quote_quality(train, candidate)[1] >= 0.8 or within == 0.0:
            ranker = candidate
            break
    tops = best_candidates(train, ranker)
    pairs = [(t, r) for t, r in zip(tops, train) if t is not None]
    x = _matrix([t for t, _ in pairs], DECIDE_FEATURES)
    y = np.asarray([bool(t["gold"]) for t, _ in pairs], dtype=np.float64)
    intercept, coef = fit_logistic(x, y, weights=balance([r for _, r in pairs]))
    base = Decider(float(intercept), tuple(float(c) for c in coef), 0.5)
    # the topic judge: on-topic questions (answerable and near-miss) against the others
    evid = topic_rows(train, ranker, base)
    tx = np.asarray([[e[f] for f in TOPIC_FEATURES] for e in evid], dtype=np.float64)
    ty = np.asarray([r["group"] in ON_TOPIC for r in train], dtype=np.float64)
    t_int, t_coef = fit_logistic(tx, ty)
    judge = TopicJudge(float(t_int), tuple(float(c) for c in t_coef), 0.0)
    # its decline point: the strictest that keeps false "not in the documents" in budget
    probs = np.asarray([judge.probability(e) for e in evid])
    answerable = np.asarray([r["group"] in ANSWERABLE for r in train])
    langs = np.asarray([r["language"] for r in train])
    decline_below = 0.0
    for t in np.arange(0.01, 0.95, 0.01):
        worst = max(
            float(np.mean(probs[answerable & (langs == lang)] < t)) for lang in ("de", "en")
        )
        if worst > FALSE_NOT_IN_DOCUMENTS:
            break
        decline_below = float(t)
    judge = TopicJudge(judge.intercept, judge.coef, round(decline_below, 3))
    # the answer point: as permissive as precision and near-miss answers allow
    answer_at = 0.95
    for t in np.arange(0.95, 0.05, -0.01):
        table = simulate(train, ranker, Decider(base.intercept, base.coef, float(t)), judge)
        answered = _pooled(table, ANSWERABLE, "answered")
        precision = _pooled(table, ANSWERABLE, "correct") / answered if answered else 1.0
        near = _pooled(table, NEAR_MISS, "answered")
        if precision < PRECISION_TARGET or near > NEAR_MISS_ANSWERED:
            break
        answer_at = float(t)
    decider = Decider(base.intercept, base.coef, round(answer_at, 3))
    return ranker, decider, judge


def write_model(
    ranker: Ranker, decider: Decider, judge: TopicJudge, ablated_words: int = ABLATED_WORDS
) -> None:
    """Replace the RANKER, DECIDER and TOPIC blocks, one coefficient a line, named, and
    the number of ablated words they were fitted for."""
    path = ROOT / "assistant" / "answer" / "judge.py"
    text = re.sub(
        r"^ABLATED_WORDS = \d+", f"ABLATED_WORDS = {ablated_words}", path.read_text(), flags=re.M
    )

    def lines(coef: tuple[float, ...], names: tuple[str, ...]) -> str:
        return "".join(f"        {c:.4f},  # {n}\n" for c, n in zip(coef, names))

    block = (
        "RANKER = Ranker(\n"
        "    coef=(\n"
        f"{lines(ranker.coef, RANK_FEATURES)}"
        "    ),\n"
        f"    second_within={ranker.second_within},\n"
        ")\n"
        "DECIDER = Decider(\n"
        f"    intercept={decider.intercept:.4f},\n"
        "    coef=(\n"
        f"{lines(decider.coef, DECIDE_FEATURES)}"
        "    ),\n"
        f"    answer_at={decider.answer_at},\n"
        ")\n"
        "TOPIC = TopicJudge(\n"
        f"    intercept={judge.intercept:.4f},\n"
        "    coef=(\n"
        f"{lines(judge.coef, TOPIC_FEATURES)}"
        "    ),\n"
        f"    decline_below={judge.decline_below},\n"
        ")\n"
    )
    start = text.index("RANKER = Ranker(")
    end = text.index(")\n", text.index("decline_below=", start)) + 2
    path.write_text(text[:start] + block + text[end:])


def report(rows: list[dict], ranker: Ranker, decider: Decider, judge: TopicJudge) -> None:
    for split in ("fit", "heldout"):
        part = [r for r in rows if r["split"] == split]
        for lang in ("de", "en"):
            sub = [r for r in part if r["language"] == lang and r["group"] in ANSWERABLE]
            acc, prec = quote_quality(sub, ranker)
            print(f"{split} {lang}: the top quote holds the answer {acc:.3f}, precision {prec:.3f}")
        table = simulate(part, ranker, decider, judge)
        print(f"\n{split}: objective {objective(table):.3f}")
        for k, v in table.items():
            print(
                f"  {k:14s} n={v['n']:4d} right={v['correct']:.3f} "
                f"precision={v['precision']:.3f} shown={v['shown']:.3f} "
                f"hedged={v['hedged']:.3f} not-in-docs={v['declined']:.3f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/answerability", help="corpora, indexes, dumps here")
    ap.add_argument("--reuse", action="store_true", help="fit on the existing dumps")
    ap.add_argument("--dump-only", choices=sorted(CORPORA), help="dump this corpus, fit nothing")
    ap.add_argument("--write", action="store_true", help="write the models into the code")
    ap.add_argument(
        "--ablated-words",
        type=int,
        default=ABLATED_WORDS,
        help=f"rare words left out one at a time for the ablation evidence (0-{MAX_ABLATED})",
    )
    args = ap.parse_args()
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    todo = [args.dump_only] if args.dump_only else ([] if args.reuse else list(CORPORA))
    for corpus in todo:
        with (root / f"evidence-{corpus}.jsonl").open("w") as out:
            dump(root / corpus / "index", out, corpus)
    if args.dump_only:
        return
    dumps = [root / f"evidence-{corpus}.jsonl" for corpus in CORPORA]
    for missing in (d for d in dumps if not d.exists()):
        print(f"warning: no dump {missing}: fitted without that corpus", file=sys.stderr)
    rows = [json.loads(line) for d in dumps if d.exists() for line in d.read_text().splitlines()]
    rows = with_ablated_words(rows, args.ablated_words)
    ranker, decider, judge = fit(rows)
    print("ranker:", dict(zip(RANK_FEATURES, (round(c, 3) for c in ranker.coef))))
    print("decider:", dict(zip(DECIDE_FEATURES, (round(c, 3) for c in decider.coef))))
    print(f"intercept {decider.intercept:.3f} answer_at {decider.answer_at}")
    print("topic:", dict(zip(TOPIC_FEATURES, (round(c, 3) for c in judge.coef))))
    print(f"intercept {judge.intercept:.3f} decline_below {judge.decline_below}")
    report(rows, ranker, decider, judge)
    held = [r for r in rows if r["split"] == "heldout"]
    current = simulate(held, RANKER, DECIDER, TOPIC)
    print(f"\nheld-out objective with the models in the code now: {objective(current):.3f}")
    if args.write:
        write_model(ranker, decider, judge, args.ablated_words)
        print("written to assistant/answer/judge.py")


if __name__ == "__main__":
    main()
