"""What every panel of the app needs: the assistant, who is asking and what they may do,
the audit trail, and toasts in the UI's language."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import Assistant
from assistant.access.audit import AuditLog
from assistant.errors import AssistantError
from ui.auth import Gate, gate_for
from ui.text import t

logger = logging.getLogger(__name__)


class Shared:
    """The assistant and the gate, seen from one request."""

    def __init__(self, bot: Assistant, gate: Gate | None = None):
        self.bot = bot
        self.gate = gate or gate_for(bot)
        self.audit = AuditLog.for_settings(bot.settings)
        self._opening: dict[tuple[str, Any], str] = {}  # (file, size) -> opening words

    def user_of(self, request: gr.Request | None) -> str | None:
        return getattr(request, "username", None) if self.gate.required else None

    def may(self, request: gr.Request | None, action: str) -> bool:
        return self.gate.allows(self.user_of(request), action)

    @staticmethod
    def client_of(request: gr.Request | None) -> str | None:
        return getattr(getattr(request, "client", None), "host", None)

    def refusal(self, request: gr.Request | None) -> str:
        """Why a program may not do this (English, for gradio_client)."""
        if self.gate.required and not self.user_of(request):
            return "not allowed: log in first"
        return "not allowed: uploading, replacing and deleting need the editor role"

    def refusal_text(self, request: gr.Request | None, lang: str) -> str:
        if self.gate.required and not self.user_of(request):
            return t(lang, "not_logged_in")
        return t(lang, "not_allowed")

    def record(self, action: str, name: str, request: gr.Request | None) -> None:
        self.audit.append(action, self.user_of(request), name, self.client_of(request))

    def titles(self) -> dict[str, str] | None:
        """File name -> title; a document without one in the index is titled by its
        opening words (read once per file version), never by its file name. None when
        the index cannot be read (nothing is then called removed)."""
        try:
            docs = self.bot.documents()
        except AssistantError:
            return None
        titles = {}
        for d in docs:
            key = (d["source"], d.get("bytes"))
            if not d.get("title") and key not in self._opening:
                try:
                    self._opening[key] = self.bot.document_text(d["source"])["title"]
                except AssistantError:
                    self._opening[key] = ""
            titles[d["source"]] = d.get("title") or self._opening.get(key) or ""
        return titles

    def documents(self) -> list[dict]:
        try:
            return self.bot.documents()
        except AssistantError:
            return []

    def document_choices(self) -> list[tuple[str, str]]:
        """(title, file) for pickers."""
        titles = self.titles() or {}
        return [(titles.get(d["source"]) or d["source"], d["source"]) for d in self.documents()]

    def modified(self, source: str) -> float | None:
        """When a corpus file last changed (for the documents list), None if unknown."""
        try:
            return (Path(self.bot.settings.corpus_dir) / source).stat().st_mtime
        except OSError:
            return None

    @staticmethod
    def warn(lang: str, text: str) -> None:
        """A toast in the UI's language (its title too; Gradio's default is English)."""
        gr.Warning(text, title=t(lang, "toast_warning"))

    @staticmethod
    def info(lang: str, text: str) -> None:
        gr.Info(text, title=t(lang, "toast_info"))


def skip(n: int) -> tuple[Any, ...]:
    return tuple(gr.skip() for _ in range(n))
