"""Errors a user can act on; the CLI prints their message as one line, no traceback."""


class AssistantError(Exception):
    """Base class: anything with a message meant for the user."""


class QuestionError(AssistantError, ValueError):
    """The question is empty, whitespace-only or too long."""


class CorpusError(AssistantError):
    """The corpus folder is missing, empty, or a file cannot be taken in."""


class IndexStateError(AssistantError):
    """The index is missing, corrupt, locked, or built with another embedding model."""


class ConfigError(AssistantError):
    """The settings ask for something that cannot work (e.g. generative mode, no server)."""


class LLMError(AssistantError):
    """The LLM server is unreachable, keeps failing, hangs or answers something broken.

    ``str(error)`` is English; ``in_language(lang)`` gives the same message in the
    question's language for notices inside answers. ``transient`` errors are retried.
    """

    def __init__(self, message: str, *, de: str | None = None, transient: bool = False):
        super().__init__(message)
        self.de = de or message
        self.transient = transient

    def in_language(self, lang: str) -> str:
        return self.de if lang == "de" else str(self)


class UploadError(AssistantError):
    """An uploaded file is rejected (type, size, name, content)."""


class HistoryError(QuestionError):
    """The conversation history has a shape the assistant does not accept."""


class FeedbackError(AssistantError, ValueError):
    """A rating is not +1 or -1, or the rated answer has a shape that is not accepted."""
