"""Document chat assistant: answers about your documents with checkable citations.

``from assistant import Assistant`` is the public API; imports are lazy so that
``assistant --help`` does not pay for llama-index and Chroma.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from assistant import _env  # noqa: F401  (offline switches before anything else loads)

# A library logs; the application decides where it goes (nothing printed by default).
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["Answer", "AnswerStream", "Assistant", "Citation", "Settings", "Status"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from assistant.answer.citations import Citation
    from assistant.answer.types import Answer, AnswerStream, Status
    from assistant.api import Assistant
    from assistant.settings import Settings


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from assistant.api import Assistant

        return Assistant
    if name == "Answer":
        from assistant.answer.types import Answer

        return Answer
    if name == "Status":
        from assistant.answer.types import Status

        return Status
    if name == "AnswerStream":
        from assistant.answer.types import AnswerStream

        return AnswerStream
    if name == "Citation":
        from assistant.answer.citations import Citation

        return Citation
    if name == "Settings":
        from assistant.settings import Settings

        return Settings
    raise AttributeError(name)
