"""Errors a user can act on; the CLI prints their message as one line, no traceback."""


class AssistantError(Exception):
    """Base class: anything with a message meant for the user."""


class QuestionError(AssistantError, ValueError):
    """The question is empty, whitespace-only or too long."""


class CorpusError(AssistantError):
    """The corpus folder is missing, empty, or a file cannot be taken in."""


class IndexStateError(AssistantError):
    """The index is missing, corrupt, locked, or built with another embedding model."""


class LLMError(AssistantError):
    """The LLM server is unreachable or keeps failing."""


class UploadError(AssistantError):
    """An uploaded file is rejected (type, size, name, content)."""


class HistoryError(QuestionError):
    """The conversation history has a shape the assistant does not accept."""
