"""Process-wide offline switches, set before any library that might phone home loads."""

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


offline_env()
