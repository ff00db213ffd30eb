"""Browser chat on top of the public ``assistant`` API.

Answers stream into the chat, each with its outcome (answered, not answered directly,
not in the documents) and a plain-words certainty; every [n] in an answer links to that
passage in the Sources panel beside it (on a phone: under the answer), highlighted in its
surrounding text, with a link to a reading view of the document scrolled to it. A
picker limits questions to some documents. Conversations live in the browser's local
storage (a side panel lists them with dates; rename, delete), so they survive a reload
and a server restart. The Documents tab lists what is indexed, deletes (after a
confirmation) and takes uploads dropped on it. The UI speaks German or English, picked
from the browser and switchable (Gradio's own strings follow the switch); answers follow
the question's language.

Endpoints for ``gradio_client``: ``/chat`` (message and optional document list in, answer
text out; the conversation is kept per client session), ``/ask`` (the same, returning the
Answer's ``to_dict()``), ``/upload`` (files in, status and table out) and ``/remove`` (a
file name in, status out). ``GET /document/NAME`` serves an indexed document read-only,
``GET /view/NAME?start=&end=`` its text with a passage marked.

With users set up (``assistant users add``) every one of these needs a log-in
(``ui/auth.py``); readers ask and read, only editors upload, replace and delete, and
each upload, replacement and deletion goes into the audit trail beside the index.
"""

# ruff: noqa: I001  (assistant is imported before gradio: it switches analytics off first)
from __future__ import annotations

import html
import os
import sys
from typing import Any

from assistant import Assistant  # sets the offline switches before gradio loads
from assistant.errors import AssistantError

import gradio as gr

from ui.auth import Gate, check_serving, gate_for
from ui.chat import ChatPanel
from ui.conversations import MAX_SAVED, new_conversation, save_conversation, valid
from ui.documents import TYPES, DocumentsPanel
from ui.page import CSS, DETAILS_JS, DETECT_LANGUAGE_JS, HEAD, SWITCH_LANGUAGE_JS
from ui.render import (
    chat_messages,
    document_label,
    document_url,
    linked_answer,
    md_escape,
    sources_html,
)
from ui.routes import document_route, view_route
from ui.shared import Shared
from ui.sidebar import ConversationPanel
from ui.text import pick_language, t

__all__ = [
    "MAX_SAVED",
    "TYPES",
    "build_app",
    "chat_messages",
    "document_label",
    "document_url",
    "launch_options",
    "linked_answer",
    "md_escape",
    "save_conversation",
    "serve",
    "sources_html",
]

# The conversations stay in the user's own browser; a fixed key (not a random one per
# server start) is what lets them survive a server restart.
STORAGE_SECRET = "dokumenten-assistent-conversations"
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
# Gradio's own strings its German translation lacks (they would show in English there);
# the language switch selects Gradio's locale, these fill the gaps
GRADIO_GAPS = gr.I18n(
    de={"chatbot.copy_message": "Nachricht kopieren", "chatbot.copied_message": "Kopiert"},
    en={"chatbot.copy_message": "Copy message", "chatbot.copied_message": "Copied"},
)


def mode_line(bot: Assistant, lang: str) -> str:
    s = bot.settings
    if bot.mode == "generative":
        return t(lang, "mode_generative", model=s.llm_model, where=s.openai_base_url or "OpenAI")
    return t(lang, "mode_extractive")


def who_html(user: str, role: str, lang: str) -> str:
    """Who is logged in, and a link that logs out (in this tab)."""
    text = t(lang, "signed_in", user=user, role=t(lang, f"role_{role}"))
    return (
        f'<p class="who">{html.escape(text)} · <a href="logout" target="_self" '
        f'id="logout">{html.escape(t(lang, "logout"))}</a></p>'
    )


class App:
    """The page: header, chat tab (with the conversations' side panel), documents tab,
    hidden parts for the program endpoints; and the language switch over all of it."""

    def __init__(self, bot: Assistant, gate: Gate | None = None):
        self.shared = Shared(bot, gate)
        self.sidebar = ConversationPanel(self.shared)
        self.chat = ChatPanel(self.shared, self.sidebar.list_update)
        self.docs = DocumentsPanel(self.shared)

    # -- layout ----------------------------------------------------------------------
    def render(self) -> gr.Blocks:
        bot = self.shared.bot
        with gr.Blocks(title="Dokumenten-Assistent", analytics_enabled=False) as demo:
            self.lang = gr.State("en")
            self.conv = gr.State(new_conversation())
            self.saved = gr.BrowserState(
                [], storage_key="assistant-conversations", secret=STORAGE_SECRET
            )
            self.sidebar.render()
            with gr.Row(elem_id="header"):
                with gr.Column(scale=3, min_width=240):
                    self.title = gr.Markdown(f"{t('en', 'title')}\n{t('en', 'intro')}")
                    self.mode = gr.Markdown(mode_line(bot, "en"), elem_id="mode")
                    self.who = gr.HTML("", elem_id="who")
                self.switch = gr.Radio(
                    [("Deutsch", "de"), ("English", "en")],
                    value="en",
                    show_label=False,
                    elem_id="lang",
                    scale=0,
                    min_width=250,
                )
            with gr.Tabs():
                with (
                    gr.Tab(t("en", "tab_chat"), id="chat-tab") as self.chat_tab,
                    gr.Row(equal_height=False),
                ):
                    with gr.Column(scale=3, min_width=340):
                        self.chat.render_chat()
                    with gr.Column(scale=2, min_width=300, elem_id="sources-col"):
                        self.chat.render_sources()
                with gr.Tab(t("en", "tab_docs"), id="docs-tab") as self.docs_tab:
                    self.docs.render()
            self.render_api()
            self.wire()
            demo.load(
                self.on_load,
                [self.switch, self.saved],
                self.labelled(),
                js=DETECT_LANGUAGE_JS,
                **PRIVATE,
            )
        return demo

    def render_api(self) -> None:
        """Hidden parts for the program endpoints; the conversation kept per session."""
        self.api_in = gr.Textbox(visible=False)
        self.api_docs = gr.JSON(value=[], visible=False)
        self.api_out = gr.Textbox(visible=False)
        self.api_json = gr.JSON(visible=False)
        self.api_files = gr.File(file_count="multiple", visible=False)
        self.api_replace = gr.Checkbox(visible=False)
        self.api_table = gr.Dataframe(
            headers=["file", "chunks", "language", "title"], visible=False
        )
        self.api_conversation = gr.State([])
        self.api_buttons = {
            n: gr.Button(visible=False) for n in ("chat", "ask", "upload", "remove")
        }

    # -- language --------------------------------------------------------------------
    def labelled(self) -> list:
        head = [self.lang, self.switch, self.title, self.mode, self.who, self.chat_tab]
        tail = [self.docs_tab, self.conv, self.sidebar.list]
        return [
            *head,
            *tail,
            *self.chat.labelled(),
            *self.sidebar.labelled(),
            *self.docs.labelled(),
            *self.docs.labelled_edit(),
        ]

    def labels(self, lang: str, conv: dict, saved: list, request: gr.Request = None) -> tuple:
        """Every app-owned string of the page in ``lang`` (outputs of ``labelled``), and
        what this user's role may see: upload and delete, the audit trail."""
        lang = pick_language(lang)
        conv = conv or new_conversation()
        can_edit = self.shared.may(request, "upload")
        user = self.shared.user_of(request)
        role = self.shared.gate.role_of(user)
        return (
            lang,
            gr.Radio(value=lang, label=t(lang, "language")),
            f"{t(lang, 'title')}\n{t(lang, 'intro')}",
            mode_line(self.shared.bot, lang),
            who_html(user, role, lang) if user and role else "",
            gr.Tab(label=t(lang, "tab_chat")),
            gr.Tab(label=t(lang, "tab_docs")),
            conv,
            self.sidebar.list_update(saved, conv, lang),
            *self.chat.relabel(lang, conv),
            *self.sidebar.relabel(lang, conv),
            *self.docs.relabel(lang, can_edit),
            *self.docs.relabel_edit(lang, can_edit),
        )

    def on_load(self, lang: str, saved: list, request: gr.Request = None) -> tuple:
        saved = valid(saved)
        conv = saved[0] if saved else new_conversation()  # reopen the latest conversation
        return self.labels(lang, conv, saved, request)

    # -- events ----------------------------------------------------------------------
    def wire(self) -> None:
        chat, lang, conv, saved = self.chat, self.lang, self.conv, self.saved
        labelled = self.labelled()
        self.switch.input(None, [self.switch], None, js=SWITCH_LANGUAGE_JS, **PRIVATE)
        self.switch.input(self.labels, [self.switch, conv, saved], labelled, **PRIVATE)
        answer_inputs = [chat.box, conv, saved, lang, chat.scope]
        answer_outputs = [chat.chatbot, chat.box, chat.sources, conv, saved, self.sidebar.list]
        for trigger in (chat.box.submit, chat.send.click):
            trigger(chat.respond, answer_inputs, answer_outputs, concurrency_limit=None, **PRIVATE)
        chat.examples.click(
            lambda sample: sample[0], [chat.examples], [chat.box], queue=False, **PRIVATE
        ).then(chat.respond, answer_inputs, answer_outputs, **PRIVATE)
        chat.chatbot.retry(chat.retry, [conv, saved, lang, chat.scope], answer_outputs, **PRIVATE)
        chat.chatbot.like(chat.feedback, [conv, lang], None, **PRIVATE)
        chat.details.change(None, [chat.details], [chat.details], js=DETAILS_JS, **PRIVATE)
        self.sidebar.wire([chat.chatbot, chat.sources], conv, saved, lang, chat.box)
        self.docs.wire(lang, chat.scope, chat.scope_update)
        self.wire_api()

    def wire_api(self) -> None:
        b, conv = self.api_buttons, self.api_conversation
        asking = {"concurrency_limit": None}
        index = {"concurrency_limit": 1, "concurrency_id": "index"}
        inputs = [self.api_in, conv, self.api_docs]
        b["chat"].click(self.chat.chat_api, inputs, [self.api_out, conv], api_name="chat", **asking)
        b["ask"].click(self.chat.ask_api, inputs, [self.api_json, conv], api_name="ask", **asking)
        b["upload"].click(
            self.docs.upload_api,
            [self.api_files, self.api_replace],
            [self.api_out, self.api_table],
            api_name="upload",
            **index,
        )
        b["remove"].click(
            self.docs.remove_api, [self.api_in], [self.api_out], api_name="remove", **index
        )


def build_app(bot: Assistant, gate: Gate | None = None) -> gr.Blocks:
    """The Gradio Blocks app; it talks to ``bot`` only, ``gate`` says who may do what."""
    return App(bot, gate).render()


def launch_options(bot: Assistant, gate: Gate | None = None) -> dict[str, Any]:
    """Look, limits, routes and log-in of the served app (system fonts: no font CDN)."""
    gate = gate or gate_for(bot)
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "monospace"],
    )
    return {
        "theme": theme,
        "css": CSS,
        "head": HEAD,
        "ssr_mode": False,
        "show_error": True,
        # a hard stop well above our own limit, so users normally see our clear message
        "max_file_size": f"{int(bot.settings.max_upload_mb * 2) + 1}mb",
        "footer_links": ["api"],
        "i18n": GRADIO_GAPS,
        # read-only documents for the "open document" links and the log-in page,
        # registered before Gradio's own routes
        "app_kwargs": {
            "routes": [document_route(bot, gate), view_route(bot, gate), *gate.routes()],
            "exception_handlers": gate.exception_handlers(),
        },
    } | gate.launch_kwargs()


def serve(bot: Assistant, host: str = "127.0.0.1", port: int = 7860, **kwargs: Any) -> None:
    """Serve the chat; binds to loopback unless told otherwise, and beyond loopback only
    with log-in (users beside the index) or ``open_access`` (a :class:`ConfigError`)."""
    check_serving(bot.settings, host)
    gate = gate_for(bot)
    demo = build_app(bot, gate)
    demo.queue(default_concurrency_limit=4)
    n = len(gate.users.users())
    access = f"log-in required, {n} user{'s' * (n != 1)}" if gate.required else "open: no log-in"
    print(
        f"Open http://{host}:{port} in your browser ({bot.describe_mode()}; {access}).",
        flush=True,
    )
    # quiet: Gradio's own banner tells people to call launch(share=True), which they don't
    options = launch_options(bot, gate) | {"quiet": True} | kwargs
    demo.launch(server_name=host, server_port=port, **options)


def main() -> int:
    """``python -m ui.app``: index what changed and serve; a setting or corpus problem is
    one line on stderr (exit 2), as in the CLI."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        bot = Assistant()
        check_serving(bot.settings, bot.settings.host)  # before indexing
        bot.ensure_index()
        serve(bot, bot.settings.host, bot.settings.port)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
