"""Grow an index to N chunks from real embedded chunks, for latency at scale.

Embedding 100k chunks on two cores would take hours, so the large indexes are built
from the XQuAD index's real chunks (with their sentence vectors), copied
under new file names with every vector perturbed by small Gaussian noise (sigma 0.01,
renormalised) so the HNSW graph does not collapse onto exact duplicates.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from assistant.store.chunks import ChunkStore
from assistant.store.records import FileEntry, StoredChunk, chunk_id

NOISE = 0.01


def _perturb(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = vectors + rng.normal(0, NOISE, vectors.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def replicate(source: ChunkStore, target: ChunkStore, n_chunks: int, embed_id: str) -> int:
    """Fill ``target`` with ~n_chunks copies of ``source``'s chunks; returns the count."""
    rng = np.random.default_rng(0)
    manifest = source.manifest()
    col = source.collection()
    chunks = col.get(include=["documents", "metadatas", "embeddings"])
    by_chunk = source.sentence_vectors(chunks["ids"])
    chunk_vecs = np.asarray(chunks["embeddings"], dtype=np.float32)
    per_copy = len(chunks["ids"])
    copies = max(1, -(-n_chunks // per_copy))
    target.collection(create=True, embed_id=embed_id)
    new_manifest: dict[str, FileEntry] = {}
    written = 0
    for k in range(copies):
        take = min(per_copy, n_chunks - written)
        if take <= 0:
            break
        ids, docs, metas = [], [], []
        with_sentences = []
        for i in range(take):
            meta = dict(chunks["metadatas"][i])
            src = f"copy{k:05d}/{meta['source']}"
            new_id = chunk_id(src, meta["version"], int(meta["ordinal"]))
            if "_node_content" in meta:  # an index written before records dropped it
                node = json.loads(meta["_node_content"])
                node["id_"] = new_id
                node["metadata"]["source"] = src
                meta["_node_content"] = json.dumps(node)
            meta["source"] = src
            ids.append(new_id)
            docs.append(chunks["documents"][i])
            metas.append(meta)
            stored = by_chunk.get(chunks["ids"][i])
            if stored:
                copy = StoredChunk.from_record(new_id, chunks["documents"][i], meta)
                rows = _perturb(np.asarray([v.vector for v in stored], dtype=np.float32), rng)
                moved = [
                    replace(v, chunk=new_id, source=src, vector=row.tolist())
                    for v, row in zip(stored, rows)
                ]
                with_sentences.append((copy, moved))
            entry = manifest[chunks["metadatas"][i]["source"]]
            if src not in new_manifest:
                new_manifest[src] = FileEntry(
                    entry.version, entry.size, entry.mtime_ns, 0, entry.lang
                )
            new_manifest[src].chunks += 1
        vecs = _perturb(chunk_vecs[:take], rng)
        for a in range(0, len(ids), 2000):
            target.collection().add(
                ids=ids[a : a + 2000],
                documents=docs[a : a + 2000],
                metadatas=metas[a : a + 2000],
                embeddings=vecs[a : a + 2000],
            )
        target.add_sentences(with_sentences)
        written += take
    target.commit(new_manifest, embed_id)
    return written
