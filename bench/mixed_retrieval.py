"""Retrieval on a mixed German/English corpus: hybrid (ours) against dense alone, and
hybrid without the bilingual dictionary.

    python bench/mixed_retrieval.py --root /tmp/assistant-dev --corpus mixed|laws [--split heldout]

Corpora (bench/fit_answerability.py): "mixed", the 24 German XQuAD articles plus the nine
English mixed-en documents; "laws", the eleven German laws plus the same English
documents. Four directions: German and English questions about the German documents,
German and English questions about the English documents.
A hit is a retrieved chunk of the gold document that contains the gold answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fit_answerability import questions  # noqa: E402


def _hit(chunks, row) -> int | None:
    golds = [a.lower() for a in row.get("answers", []) if a.strip()]
    for rank, c in enumerate(chunks, 1):
        if c.source == row["doc"] and any(g in c.text.lower() for g in golds):
            return rank
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/assistant-dev")
    ap.add_argument("--corpus", default="mixed", choices=["mixed", "laws"])
    ap.add_argument("--split", default=None, help="only this split (fit or heldout)")
    args = ap.parse_args()
    from assistant import Assistant
    from assistant.retrieve.translation import DictionaryTranslator

    index = Path(args.root) / args.corpus / "index"
    where = {"corpus_dir": index.parent / "corpus", "index_dir": index}
    bot = Assistant(answer_mode="extractive", **where)
    bot.index()
    plain = Assistant(answer_mode="extractive", translator=DictionaryTranslator("off"), **where)
    k = bot.settings.top_k
    table: dict[str, dict[str, list]] = {}
    for row in questions(args.corpus):
        if row["group"] not in ("xquad", "mixed", "laws"):
            continue
        if args.split and row["split"] != args.split:
            continue
        doc_lang = "en" if row["group"] == "mixed" else "de"
        key = f"{row['language']} question, {doc_lang} document"
        hits, q_vec = bot.retrieve(row["question"], row["language"])
        plain_hits, _ = plain.retrieve(row["question"], row["language"])
        dense = [c for c, _ in bot.store.query(q_vec, k)]
        t = table.setdefault(key, {"hybrid": [], "dense": [], "no_dictionary": []})
        t["hybrid"].append(_hit([h.chunk for h in hits], row))
        t["dense"].append(_hit(dense, row))
        t["no_dictionary"].append(_hit([h.chunk for h in plain_hits], row))
    print(
        "| direction | n | hybrid hit@1 | dense hit@1 | hybrid hit@5 | dense hit@5 "
        "| no dictionary hit@5 |"
    )
    print("|---|---|---|---|---|---|---|")
    out = {}

    def at(ranks: list, j: int) -> float:
        return sum(r is not None and r <= j for r in ranks) / len(ranks)

    for key, t in sorted(table.items()):
        n = len(t["hybrid"])
        out[key] = {m: {"hit@1": at(r, 1), "hit@5": at(r, 5)} for m, r in t.items()}
        print(
            f"| {key} | {n} | {at(t['hybrid'], 1):.3f} | {at(t['dense'], 1):.3f} | "
            f"{at(t['hybrid'], 5):.3f} | {at(t['dense'], 5):.3f} | "
            f"{at(t['no_dictionary'], 5):.3f} |"
        )
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    name = f"mixed_retrieval-{args.corpus}.json"
    (ROOT / "bench" / "out" / name).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
