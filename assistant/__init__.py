"""Document chat assistant: answers about your documents with checkable citations.

``from assistant import Assistant`` is the public API; imports are lazy so that
``assistant --help`` does not pay for llama-index and Chroma.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import _env  # noqa: F401  (offline switches before anything else loads)

# A library logs; the application decides where it goes (nothing printed by default).
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["Answer", "AnswerStream", "Assistant", "Citation", "Settings", "Status"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .answering import Answer, AnswerStream, Status
    from .api import Assistant
    from .citations import Citation
    from .settings import Settings


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from .api import Assistant

        return Assistant
    if name == "Answer":
        from .answering import Answer

        return Answer
    if name == "Status":
        from .answering import Status

        return Status
    if name == "AnswerStream":
        from .answering import AnswerStream

        return AnswerStream
    if name == "Citation":
        from .citations import Citation

        return Citation
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
