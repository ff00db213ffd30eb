"""A 1M-chunk index built in bulk from the real XQuAD chunks, for the scaling figures.

Embedding a million chunks on two cores would take days, and bench/replicate.py (exact
copies of the 138 XQuAD chunks) gives BM25 a vocabulary that never grows. Here every
generated chunk is a real chunk varied at the word level: words swapped for words of
other chunks, numbers changed, invented words added at the rate Heaps' law gives
(vocabulary ~ V0 x (N / N0)^0.55), so the postings, the vocabulary and the chunk-id
arrays grow as a real corpus's would. Vectors are the real chunk and sentence vectors
perturbed and renormalised. The real chunks stay in, unchanged, under their own file
names, so XQuAD questions keep their answers.

Written in the store format the app reads: the Chroma collection (5,000 records a
call), the manifest, the sentence file (rows written directly, one transaction a
batch) and the lexical cache (postings built with numpy, keyed as the app keys it).

    python bench/million.py --n 1000000                 # build (cached) and measure
    python bench/million.py --n 2000 --build-only --cache /tmp/m
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from assistant.retrieve.lexical import (  # noqa: E402
    _TOKEN,
    STEMMERS,
    LanguageIndex,
    PostingsBuilder,
    language_key,
    tokenize,
)
from assistant.store.records import FileEntry, chunk_id, text_hash  # noqa: E402
from assistant.store.sentences import checksum, quantise  # noqa: E402

logger = logging.getLogger(__name__)

BATCH = 5000  # records per Chroma call (its limit is 5,461)
HEAPS_BETA = 0.55  # vocabulary growth exponent (German text with compounds: ~0.5-0.6)
SWAP = 0.12  # share of a varied chunk's words swapped for words of other chunks
SYLLABLES = (
    "ber lin gau mar sten hof ka ri tor wal den ling au ze bach feld wald burg ha nau "
    "el mo rin ta vik sor ul dra fen gor hel is jun kel lum mer nis ob pra qui rus sal"
).split()


def log(msg: str) -> None:
    print(f"[million {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- the base
class Base:
    """The real chunks of an index: texts, metadata, vectors, sentence rows, word spans."""

    def __init__(self, store) -> None:
        col = store.collection()
        got = col.get(include=["documents", "metadatas", "embeddings"])
        order = sorted(
            range(len(got["ids"])),
            key=lambda i: (got["metadatas"][i]["source"], int(got["metadatas"][i]["ordinal"])),
        )
        self.ids = [got["ids"][i] for i in order]
        self.texts = [got["documents"][i] for i in order]
        self.metas = [got["metadatas"][i] for i in order]
        self.vectors = np.asarray([got["embeddings"][i] for i in order], dtype=np.float32)
        self.manifest = store.manifest()
        self.embed_id = store.embed_model()
        stored = store.sentence_vectors(self.ids)
        self.sentences = []  # per chunk: (relative spans [(s, e, kind)], float32 matrix)
        for cid, meta in zip(self.ids, self.metas):
            vecs = stored.get(cid, [])
            base = int(meta["start"])
            spans = [(v.start - base, v.end - base, v.kind) for v in vecs]
            matrix = np.asarray([v.vector for v in vecs], dtype=np.float32).reshape(len(vecs), -1)
            self.sentences.append((spans, matrix))
        self.words = [[(m.start(), m.end()) for m in _TOKEN.finditer(t)] for t in self.texts]
        self.pool = [t[s:e] for t, spans in zip(self.texts, self.words) for s, e in spans]
        self.vocabulary = len({w.lower() for w in self.pool})
        self.by_source: dict[str, list[int]] = {}
        for i, meta in enumerate(self.metas):
            self.by_source.setdefault(meta["source"], []).append(i)


# --------------------------------------------------------------------------- variation
class Varier:
    """Varies real chunk texts so that the corpus vocabulary follows Heaps' law."""

    def __init__(self, base: Base, seed: int = 0) -> None:
        self.base = base
        self.rng = np.random.default_rng(seed)
        self.pool = list(base.pool)  # invented words join it each time they are used
        self.invented = 0
        self.made = 0  # chunks generated so far

    def _target(self, chunks: int) -> int:
        """Invented words the corpus should hold after ``chunks`` generated chunks."""
        n0 = len(self.base.texts)
        return int(self.base.vocabulary * (((n0 + chunks) / n0) ** HEAPS_BETA - 1.0))

    def _invent(self) -> str:
        k = int(self.rng.integers(2, 5))
        word = "".join(SYLLABLES[int(i)] for i in self.rng.integers(0, len(SYLLABLES), k))
        word += str(self.invented % 97) if self.rng.random() < 0.3 else ""
        self.invented += 1
        return word.capitalize() if self.rng.random() < 0.6 else word

    def _number(self, word: str) -> str:
        low = 10 ** (len(word) - 1) if len(word) > 1 else 0
        return str(int(self.rng.integers(low, 10 ** len(word))))

    def vary(self, i: int) -> tuple[str, np.ndarray, np.ndarray]:
        """A varied text of base chunk ``i``, with :func:`apply`'s offset map."""
        text, spans = self.base.texts[i], self.base.words[i]
        self.made += 1
        new = self._target(self.made) - self._target(self.made - 1)
        n_swap = int(len(spans) * SWAP) + new
        picks = self.rng.choice(len(spans), size=min(len(spans), n_swap), replace=False)
        repl: dict[int, str] = {}
        for j, p in enumerate(picks.tolist()):
            s, e = spans[p]
            if j < new:
                word = self._invent()
                self.pool.append(word)
            elif text[s:e].isdigit():
                word = self._number(text[s:e])
            else:
                word = self.pool[int(self.rng.integers(0, len(self.pool)))]
                if word[0].isupper() and len(self.pool) > len(self.base.pool):
                    self.pool.append(word)  # rich get richer: used words recur
            repl[p] = word
        for p, (s, e) in enumerate(spans):  # numbers drift in every copy
            if p not in repl and text[s:e].isdigit() and self.rng.random() < 0.5:
                repl[p] = self._number(text[s:e])
        return apply(text, [(spans[p][0], spans[p][1], w) for p, w in sorted(repl.items())])


def apply(text: str, edits: list[tuple[int, int, str]]) -> tuple[str, np.ndarray, np.ndarray]:
    """``text`` with the (start, end, word) edits made (sorted, disjoint); the edits' ends
    and the cumulative length change after each, to move offsets (:func:`moved`)."""
    parts, at, ends, deltas, delta = [], 0, [], [], 0
    for s, e, word in edits:
        parts += [text[at:s], word]
        at = e
        delta += len(word) - (e - s)
        ends.append(e)
        deltas.append(delta)
    parts.append(text[at:])
    return "".join(parts), np.asarray(ends, dtype=np.int64), np.asarray(deltas, dtype=np.int64)


def moved(offset: int, ends: np.ndarray, deltas: np.ndarray) -> int:
    """Where ``offset`` of the original text lies in the edited one (edits end before it)."""
    k = int(np.searchsorted(ends, offset, side="right"))
    return offset + (int(deltas[k - 1]) if k else 0)


def perturb(matrix: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = matrix + rng.normal(0, sigma, matrix.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


# --------------------------------------------------------------------------- lexical
class Postings:
    """One language's lexical index, fed chunk by chunk (``lexical.PostingsBuilder``: the
    app's own arithmetic, without holding the texts)."""

    def __init__(self, lang: str) -> None:
        import Stemmer

        self.stemmer = Stemmer.Stemmer(STEMMERS.get(lang, "english"))
        self.lang = lang
        self.builder = PostingsBuilder()
        self.ids: list[str] = []
        self.words: set[str] = set()

    @property
    def vocab(self) -> dict[str, int]:
        return self.builder.vocab

    def add(self, cid: str, text: str) -> None:
        self.ids.append(cid)
        self.builder.add(self.stemmer.stemWords(tokenize(text)))
        self.words.update(m.group(0).lower() for m in _TOKEN.finditer(text))

    def index(self) -> LanguageIndex:
        vocab, indptr, doc, weights = self.builder.postings()
        ids = np.asarray(self.ids, dtype=str)
        return LanguageIndex(self.lang, ids, vocab, indptr, doc, weights, frozenset(self.words))


# --------------------------------------------------------------------------- the build
class Writer:
    """Batches of chunks into the Chroma collection, the sentence file and the postings."""

    def __init__(self, store, base: Base) -> None:
        self.store = store
        self.col = store.collection(create=True, embed_id=base.embed_id)
        self.sentences = store.sentences()
        self.postings: dict[str, Postings] = {}
        self.rows: list[tuple] = []
        self.batch: dict[str, list] = {k: [] for k in ("ids", "docs", "metas", "vecs")}
        self.written = 0
        # Chroma's add runs in Rust; the next batch is generated meanwhile
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending: Future | None = None

    def add(self, cid: str, text: str, meta: dict, vec: np.ndarray, spans, matrix) -> None:
        self.batch["ids"].append(cid)
        self.batch["docs"].append(text)
        self.batch["metas"].append(meta)
        self.batch["vecs"].append(vec)
        lang = meta["lang"]
        if lang not in self.postings:
            self.postings[lang] = Postings(lang)
        self.postings[lang].add(cid, text)
        if spans:
            values, scales = quantise(matrix)
            data = scales.astype("<f4").tobytes() + values.tobytes()
            rel = ";".join(f"{s}:{e}:{k}" for s, e, k in spans)
            self.rows.append((cid, meta["h"], meta["source"], meta["version"], meta["start"],
                              rel, int(values.shape[1]), data, checksum(rel, data)))  # fmt: skip
        if len(self.batch["ids"]) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None
        if self.batch["ids"]:
            self.pending = self.pool.submit(
                self.col.add,
                ids=self.batch["ids"],
                documents=self.batch["docs"],
                metadatas=self.batch["metas"],
                embeddings=np.asarray(self.batch["vecs"], dtype=np.float32),
            )
            self.written += len(self.batch["ids"])
            self.batch = {k: [] for k in self.batch}
        if self.rows:
            conn = self.sentences._open(write=True)
            with conn:  # one transaction a batch
                conn.executemany(
                    "INSERT OR REPLACE INTO vectors (id, h, source, version, start, spans, dim,"
                    " data, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self.rows,
                )
            self.rows = []


def record(base: Base, i: int, source: str, version: str, text: str, vec_id: str) -> dict:
    """The Chroma metadata of a generated chunk, as ``ChunkStore.add`` writes it (and the
    llama-index node JSON too when the base index is from before records dropped it)."""
    meta = dict(base.metas[i])
    start = int(meta["start"])
    inner = {"source": source, "version": version, "h": text_hash(text), "end": start + len(text)}
    if "_node_content" in meta:
        node = json.loads(meta["_node_content"])
        node.update(id_=vec_id, metadata=dict(node["metadata"], **inner), end_char_idx=inner["end"])
        meta["_node_content"] = json.dumps(node)
    meta.update(inner)
    return meta


def build(src_store, dst_store, n: int, deadline: float | None = None) -> dict:
    """Fill ``dst_store`` with the base's real chunks and varied ones up to ``n``; stops
    early (committing what it has) at ``deadline`` (time.time()). Returns the counts."""
    began = time.time()
    base = Base(src_store)
    varier = Varier(base)
    rng = np.random.default_rng(1)
    writer = Writer(dst_store, base)
    manifest: dict[str, FileEntry] = {}
    for i, cid in enumerate(base.ids):  # the real chunks, unchanged
        spans, matrix = base.sentences[i]
        writer.add(cid, base.texts[i], base.metas[i], base.vectors[i], spans, matrix)
    manifest.update(base.manifest)
    sources = sorted(base.by_source)
    copy = 0
    report = 50_000
    while writer.written + len(writer.batch["ids"]) < n:
        if deadline and time.time() > deadline:
            log(f"deadline reached at {writer.written + len(writer.batch['ids']):,} chunks")
            break
        real = sources[copy % len(sources)]
        source = f"v{copy // len(sources):06d}/{real}"
        version = hashlib.sha256(source.encode()).hexdigest()
        entry = base.manifest[real]
        members = base.by_source[real][: n - writer.written - len(writer.batch["ids"])]
        for ordinal, i in enumerate(members):
            text, ends, deltas = varier.vary(i)
            spans, matrix = base.sentences[i]
            spans = [(moved(s, ends, deltas), moved(e, ends, deltas), k) for s, e, k in spans]
            new_id = chunk_id(source, version, ordinal)
            meta = record(base, i, source, version, text, new_id)
            vec = perturb(base.vectors[i : i + 1], float(rng.uniform(0.02, 0.05)), rng)[0]
            mat = perturb(matrix, 0.02, rng) if len(matrix) else matrix
            writer.add(new_id, text, meta, vec, spans, mat)
        manifest[source] = FileEntry(version, entry.size, entry.mtime_ns, len(members), entry.lang)
        copy += 1
        if writer.written >= report:
            report += 50_000
            rate = writer.written / (time.time() - began)
            log(f"{writer.written:,} chunks, {rate:.0f}/s, +{varier.invented:,} invented words")
    writer.flush()
    writer.flush()  # waits for the last Chroma call
    log(f"{writer.written:,} chunks in Chroma after {time.time() - began:.0f} s; lexical index")
    lexical_s = write_lexical(dst_store, manifest, writer.postings)
    dst_store.commit(manifest, base.embed_id)
    return {
        "chunks": writer.written,
        "files": len(manifest),
        "invented_words": varier.invented,
        "vocabulary": {k: len(p.vocab) for k, p in writer.postings.items()},
        "lexical_s": lexical_s,
        "seconds": time.time() - began,
    }


def write_lexical(store, manifest: dict[str, FileEntry], postings: dict[str, Postings]) -> float:
    """The lexical cache where the app looks for it: ``lexical/<lang>-<key of the files>``."""
    began = time.time()
    folder = Path(store.settings.index_dir) / "lexical"
    for lang, acc in postings.items():
        files = [(s, e.version) for s, e in manifest.items() if e.lang == lang]
        target = folder / f"{lang}-{language_key(files)}"
        shutil.rmtree(target, ignore_errors=True)
        acc.index().save(target)
        log(f"lexical {lang}: {len(acc.ids):,} chunks, {len(acc.vocab):,} terms")
    return time.time() - began


if __name__ == "__main__":
    from million_measure import main

    sys.exit(main(argparse.ArgumentParser(description=__doc__.split("\n\n")[0])))
