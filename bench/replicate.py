"""Grow an index to N chunks from real embedded chunks, for latency at scale.

Embedding 100k chunks on two cores would take hours, so the large indexes are built
from the XQuAD index's real chunks (with their sentence and window vectors), copied
under new file names with every vector perturbed by small Gaussian noise (sigma 0.01,
renormalised) so the HNSW graph does not collapse onto exact duplicates.
"""

from __future__ import annotations

import json

import numpy as np

from assistant.records import FileEntry, chunk_id
from assistant.store import ChunkStore

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
    sents = source.sentences().get(include=["metadatas", "embeddings"])
    by_chunk: dict[str, list[int]] = {}
    for i, meta in enumerate(sents["metadatas"]):
        by_chunk.setdefault(meta["chunk"], []).append(i)
    chunk_vecs = np.asarray(chunks["embeddings"], dtype=np.float32)
    sent_vecs = np.asarray(sents["embeddings"], dtype=np.float32)
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
        s_ids, s_metas, s_rows = [], [], []
        for i in range(take):
            meta = dict(chunks["metadatas"][i])
            src = f"copy{k:05d}/{meta['source']}"
            new_id = chunk_id(src, meta["version"], int(meta["ordinal"]))
            node = json.loads(meta["_node_content"])
            node["id_"] = new_id
            node["metadata"]["source"] = src
            meta["_node_content"] = json.dumps(node)
            meta["source"] = src
            ids.append(new_id)
            docs.append(chunks["documents"][i])
            metas.append(meta)
            for j in by_chunk.get(chunks["ids"][i], []):
                smeta = dict(sents["metadatas"][j], chunk=new_id, source=src)
                s_ids.append(f"{new_id}:{sents['ids'][j].split(':', 1)[1]}")
                s_metas.append(smeta)
                s_rows.append(j)
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
        svecs = _perturb(sent_vecs[s_rows], rng) if s_rows else sent_vecs[:0]
        for a in range(0, len(s_ids), 2000):
            target.sentences().add(
                ids=s_ids[a : a + 2000],
                metadatas=s_metas[a : a + 2000],
                embeddings=svecs[a : a + 2000],
            )
        written += take
    target.commit(new_manifest, embed_id)
    return written
