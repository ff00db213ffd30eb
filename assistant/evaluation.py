"""`assistant eval`: retrieval, answer and citation quality per question language.

Metrics follow ALCE (Gao et al. 2023) in spirit: an answer is correct when it is not
declined and one of its cited quotes contains a gold answer (for generative answers, the
text too); a citation supports it when its quote contains a gold answer. Questions whose
gold document is not in the corpus count as unanswerable: the assistant should decline
them. Unanswerable rows with a "pattern" are reported by kind: near-miss questions (on
the documents' topics) apart from off-topic ones and non-questions.

The threshold curve (in report.png) shows what moving the decision point would do:
for each point, how many questions would be answered and how many of those wrongly.

Two input formats, one JSON object per line:
- XQuAD (``../shared/bench/xquad/questions.jsonl``): ``q_de``/``q_en``, ``answer_de``/
  ``answer_en``, ``doc``, ``paragraph_start``/``paragraph_end``; each line asks twice.
- own: ``{"question", "answers": [...], "answerable": bool}`` plus optional ``language``
  and ``source`` (file the answer must come from). A row with ``"rejected": [quotes]``
  (a thumbs-down from ``assistant feedback export``, see ``feedback.py``) asks for anything
  but that answer: such rows are counted apart, as ``rejected`` and ``rejected_repeated``.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.question.language import detect_language


@dataclass
class QAItem:
    id: str
    question: str
    language: str
    answers: list[str]  # the strings that count as correct in the answer and the quote
    answerable: bool = True
    source: str | None = None
    span: tuple[int, int] | None = None
    alt_answers: list[str] = field(default_factory=list)  # generative may translate
    kind: str = "answerable"  # "answerable" | "near-miss" | "off-topic"
    split: str | None = None  # "fit" | "heldout" where the file says (or by document)
    corpus: str = ""  # which development corpus the question is about ("xquad", "laws", …)
    rejected: list[str] | None = None  # quotes a user rated down: must not come again
    rejected_outcome: str = ""  # the outcome rated down ("declined": must not decline)


OFF_TOPIC_PATTERNS = {"off-topic", "non-question", "other-language", "prompt-injection"}


def _kind(row: dict) -> str:
    if row.get("answerable", True):
        return "answerable"
    return "off-topic" if row.get("pattern") in OFF_TOPIC_PATTERNS else "near-miss"


def load_qa(path: Path, corpus_files: set[str] | None = None) -> list[QAItem]:
    """Read either format; questions on documents outside the corpus are unanswerable
    (about another domain: what "not in the documents" is measured on)."""
    items: list[QAItem] = []
    # the corpus a file's own-format rows are about: its name's first part ("laws_…")
    stem = path.stem.split("_")[0]
    corpus = {"nearmiss": "xquad", "questions": "xquad"}.get(stem, stem)
    text = path.read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    # XQuAD rows carry no split: every other document (sorted) is "fit", the rest "heldout"
    docs = sorted({r["doc"] for r in rows if "q_de" in r})
    for n, row in enumerate(rows):
        if "q_de" in row:
            present = corpus_files is None or row["doc"] in corpus_files
            span = (row["paragraph_start"], row["paragraph_end"])
            split = "fit" if docs.index(row["doc"]) % 2 == 0 else "heldout"
            for lang in ("de", "en"):
                items.append(
                    QAItem(
                        id=f"{row['id']}-{lang}",
                        question=row[f"q_{lang}"],
                        language=lang,
                        answers=[row["answer_de"]],
                        answerable=present,
                        source=row["doc"],
                        span=span,
                        alt_answers=[row["answer_en"]],
                        kind="answerable" if present else "off-corpus",
                        split=split,
                        corpus="xquad",
                    )
                )
        elif "rejected" in row:
            items.append(_rejected_item(row, n, corpus))
        else:
            # a question about a document the corpus lacks asks about another domain
            absent = bool(corpus_files is not None and row.get("source"))
            absent = absent and row["source"] not in corpus_files
            items.append(
                QAItem(
                    id=str(row.get("id", n)),
                    question=row["question"],
                    language=row.get("language") or detect_language(row["question"]),
                    answers=list(row.get("answers", [])),
                    answerable=bool(row.get("answerable", True)) and not absent,
                    source=row.get("source"),
                    kind="off-corpus" if absent else _kind(row),
                    split=row.get("split"),
                    corpus=row.get("corpus") or corpus,
                )
            )
    return items


def _rejected_item(row: dict, n: int, corpus: str) -> QAItem:
    """A thumbs-down: neither answerable nor not, only the rejected answer is known."""
    return QAItem(
        id=str(row.get("id", n)),
        question=row["question"],
        language=row.get("language") or detect_language(row["question"]),
        answers=[],
        answerable=False,
        kind="rejected",
        split=row.get("split"),
        corpus=row.get("corpus") or corpus,
        rejected=[str(q) for q in row.get("rejected") or []],
        rejected_outcome=str(row.get("rejected_outcome") or "answered"),
    )


def repeats_rejected(item: QAItem, ans: Any) -> bool:
    """Whether the answer is again the one a user rated down: declined again, or quoting
    (a passage inside or around) a rejected quote."""
    if item.rejected is None:
        return False
    if item.rejected_outcome == "declined" or not item.rejected:
        return ans.outcome == item.rejected_outcome
    if ans.outcome == "declined":
        return False
    quotes = [c.quote for c in ans.citations]
    return any(
        contains_any(q, item.rejected) or contains_any(r, [q])
        for q in quotes
        for r in item.rejected
    )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def contains_any(text: str, answers: list[str]) -> bool:
    t = _norm(text)
    return any(_norm(a) in t for a in answers if a.strip())


def retrieval_rank(item: QAItem, hits: list[Any]) -> int | None:
    """1-based rank of the first chunk that holds the answer (in the gold paragraph)."""
    for rank, hit in enumerate(hits, 1):
        c = hit.chunk
        if item.source and c.source != item.source:
            continue
        if item.span and not (c.start < item.span[1] and c.end > item.span[0]):
            continue
        if contains_any(c.text, item.answers):
            return rank
    return None


@dataclass
class Outcome:
    id: str
    language: str
    answerable: bool
    declined: bool
    correct: bool
    citations: int
    supporting: int
    rank: int | None
    seconds: float
    answer: str
    kind: str = "answerable"
    outcome: str = "answered"
    probability: float = 0.0  # the answerer's belief in its best passage (for the curve)
    closest_correct: bool = False  # whether that best passage holds the gold answer
    corpus: str = ""
    # the gold answer is in what the user sees: the answer's quote or a hedge's passages
    shown: bool = False
    repeated: bool = False  # a rejected answer (thumbs-down) was given again


def evaluate(bot: Any, items: list[QAItem], progress: bool = True) -> list[Outcome]:
    from assistant.ingest.progress import ProgressBar

    bar = ProgressBar(quiet=not progress)
    generative = bot.mode == "generative"
    out = []
    for i, item in enumerate(items):
        bar("eval", i, len(items))
        began = time.perf_counter()
        ans = bot.ask(item.question)
        seconds = time.perf_counter() - began
        golds = item.answers + (item.alt_answers if generative else [])
        support = sum(contains_any(c.quote, item.answers) for c in ans.citations)
        cited = support > 0 or (generative and contains_any(ans.text, golds))
        closest = ans.closest
        out.append(
            Outcome(
                id=item.id,
                language=item.language,
                answerable=item.answerable,
                declined=ans.declined,
                correct=item.answerable and not ans.declined and cited,
                citations=len(ans.citations),
                supporting=support,
                rank=retrieval_rank(item, ans.retrieved) if item.answerable else None,
                seconds=seconds,
                answer=ans.text,
                kind=item.kind,
                outcome=ans.outcome,
                probability=ans.probability,
                closest_correct=bool(
                    item.answerable
                    and closest is not None
                    and (item.source is None or closest.source == item.source)
                    and contains_any(closest.quote, item.answers)
                ),
                corpus=item.corpus,
                shown=item.answerable and ans.outcome != "declined" and cited,
                repeated=repeats_rejected(item, ans),
            )
        )
    bar("eval", len(items), len(items))
    bar.close()
    return out


def _share(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def summarise(outcomes: list[Outcome]) -> dict[str, dict]:
    """Metrics per question language, per corpus and language ("laws-en"), and overall."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.language, []).append(o)
    for o in outcomes:
        if o.corpus:
            groups.setdefault(f"{o.corpus}-{o.language}", []).append(o)
    groups["all"] = list(outcomes)
    return {key: _metrics(rows) for key, rows in groups.items()}


def _metrics(rows: list[Outcome]) -> dict:
    ans = [o for o in rows if o.answerable]
    unans = [o for o in rows if not o.answerable and o.kind != "rejected"]
    rejected = [o for o in rows if o.kind == "rejected"]
    near = [o for o in unans if o.kind == "near-miss"]
    off = [o for o in unans if o.kind in ("off-topic", "off-corpus")]
    answered = [o for o in ans if o.outcome == "answered"]
    n_cit = sum(o.citations for o in answered)
    secs = [o.seconds for o in rows]
    return {
        "questions": len(rows),
        "answerable": len(ans),
        "hit@1": _share(sum(o.rank == 1 for o in ans), len(ans)),
        "hit@5": _share(sum(o.rank is not None and o.rank <= 5 for o in ans), len(ans)),
        "mrr": round(sum(1 / o.rank for o in ans if o.rank) / len(ans), 3) if ans else None,
        # answered, with the gold answer in a cited quote (recall of right answers)
        "answer_accuracy": _share(sum(o.correct for o in ans), len(ans)),
        # of the answered answerable questions, the share whose quote holds the answer
        "answer_precision": _share(sum(o.correct for o in answered), len(answered)),
        "citation_precision": _share(sum(o.supporting for o in answered), n_cit),
        # the answer is in front of the user: in the quote, or among a hedge's passages
        "answer_shown": _share(sum(o.shown for o in ans), len(ans)),
        "answered_rate": _share(len(answered), len(ans)),
        "hedged_answerable": _share(sum(o.outcome == "hedged" for o in ans), len(ans)),
        # "not in the documents" said of a question the documents answer
        "false_not_in_documents": _share(sum(o.outcome == "declined" for o in ans), len(ans)),
        "false_decline_rate": _share(sum(o.declined for o in ans), len(ans)),
        "unanswerable": len(unans),
        "decline_rate": _share(sum(o.declined for o in unans), len(unans)),
        "near_miss": len(near),
        "near_miss_answered": _share(sum(o.outcome == "answered" for o in near), len(near)),
        "near_miss_decline_rate": _share(sum(o.declined for o in near), len(near)),
        "off_topic": len(off),
        "off_topic_decline_rate": _share(sum(o.outcome == "declined" for o in off), len(off)),
        "off_topic_answered": _share(sum(o.outcome == "answered" for o in off), len(off)),
        "hedged": _share(sum(o.outcome == "hedged" for o in rows), len(rows)),
        # thumbs-down questions (assistant feedback export) and how many got that answer again
        "rejected": len(rejected),
        "rejected_repeated": _share(sum(o.repeated for o in rejected), len(rejected)),
        "latency_p50_s": round(statistics.median(secs), 3) if secs else None,
        "latency_p95_s": round(_pct(secs, 0.95), 3) if secs else None,
    }


def threshold_curve(outcomes: list[Outcome], points: int = 41) -> list[dict]:
    """Answered questions and wrong answers among them, were the answer point at t.

    A question counts as answered at t when its best passage's probability reaches t;
    the answer is wrong unless that passage holds the gold answer of an answerable one.
    Thumbs-down rows (no gold answer, only a rejected one) are left out.
    """
    outcomes = [o for o in outcomes if o.kind != "rejected"]
    curve = []
    for i in range(points):
        t = i / (points - 1)
        answered = [o for o in outcomes if o.probability >= t]
        wrong = sum(not o.closest_correct for o in answered)
        curve.append({"threshold": round(t, 3), "answered": len(answered), "wrong": wrong})
    return curve


METRICS = [
    "hit@1",
    "hit@5",
    "mrr",
    "answer_accuracy",
    "answer_precision",
    "citation_precision",
    "answer_shown",
    "answered_rate",
    "hedged_answerable",
    "false_not_in_documents",
    "false_decline_rate",
    "decline_rate",
    "near_miss",
    "near_miss_answered",
    "near_miss_decline_rate",
    "off_topic",
    "off_topic_decline_rate",
    "off_topic_answered",
    "hedged",
    "rejected",
    "rejected_repeated",
    "latency_p50_s",
    "latency_p95_s",
]


def to_markdown(table: dict[str, dict], title: str) -> str:
    langs = [k for k in ("de", "en", "all") if k in table] + [
        k for k in table if k not in ("de", "en", "all")
    ]
    lines = [
        f"# {title}",
        "",
        "| metric | " + " | ".join(langs) + " |",
        "|---" * (len(langs) + 1) + "|",
    ]
    for key in ["questions", "answerable", "unanswerable", *METRICS]:
        cells = [
            str(table[lang].get(key)) if table[lang].get(key) is not None else "–" for lang in langs
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(table: dict[str, dict], outcomes: list[Outcome], path: Path) -> None:
    """Quality bars per language, and the wrong-vs-answered curve per language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        "hit@5",
        "answer_accuracy",
        "answer_precision",
        "answer_shown",
        "false_not_in_documents",
        "near_miss_answered",
    ]
    langs = [k for k in ("de", "en") if k in table] or ["all"]
    fig, (ax, curve_ax) = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / len(langs)
    for i, lang in enumerate(langs):
        vals = [table[lang].get(k) or 0 for k in keys]
        ax.bar([x + i * width for x in range(len(keys))], vals, width, label=lang)
    ax.set_xticks([x + width * (len(langs) - 1) / 2 for x in range(len(keys))])
    ax.set_xticklabels(keys, rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("answer and citation quality per question language")
    for lang in langs:
        rows = [o for o in outcomes if lang == "all" or o.language == lang]
        curve = threshold_curve(rows)
        curve_ax.plot(
            [p["answered"] for p in curve], [p["wrong"] for p in curve], marker=".", label=lang
        )
    curve_ax.set_xlabel("questions answered")
    curve_ax.set_ylabel("wrong answers among them")
    curve_ax.set_title("moving the decision point (all questions)")
    curve_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_eval(
    bot: Any,
    qa_files: Path | list[Path],
    out_dir: Path,
    limit: int | None = None,
    reindex: bool = True,
    split: str | None = None,
) -> dict:
    """Index (incrementally), ask every question, write report.json/.md/.png, print a table.

    ``split`` keeps only rows of that split ("fit" or "heldout"); rows without one stay.
    """
    from assistant.ingest.progress import ProgressBar

    qa_list = [qa_files] if isinstance(qa_files, Path) else list(qa_files)
    if reindex:
        bar = ProgressBar()
        try:
            print(bot.index(progress=bar).summary())
        finally:
            bar.close()
    files = {d["source"] for d in bot.documents()}
    items = [item for qa in qa_list for item in load_qa(qa, files)]
    if split:
        items = [i for i in items if i.split in (None, split)]
    items = items[:limit] if limit else items
    qa_file = qa_list[0]
    outcomes = evaluate(bot, items)
    table = summarise(outcomes)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "qa_files": [str(q) for q in qa_list],
        "split": split,
        "corpus": str(bot.settings.corpus_dir),
        "mode": bot.mode,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "metrics": table,
        "threshold_curve": {
            lang: threshold_curve([o for o in outcomes if lang == "all" or o.language == lang])
            for lang in ("de", "en", "all")
        },
        "questions": [asdict(o) for o in outcomes],
    }
    (out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    from assistant.feedback import against_ratings

    md = to_markdown(table, f"assistant eval: {qa_file.name} ({bot.mode})")
    md += against_ratings(items, outcomes)
    (out_dir / "report.md").write_text(md)
    chart(table, outcomes, out_dir / "report.png")
    print(md)
    return report
