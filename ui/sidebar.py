"""The conversations of this browser in a side panel: new, open, rename, delete; each
listed with its date, most recent first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ui.conversations import (
    conversation_choices,
    find,
    new_conversation,
    renamed,
    valid,
)
from ui.render import chat_messages, sources_html
from ui.shared import Shared
from ui.text import t


class ConversationPanel:
    """The side panel; ``show`` redraws chat and sources for a conversation."""

    def __init__(self, shared: Shared):
        self.shared = shared

    def render(self) -> None:
        with gr.Sidebar(label=t("en", "conversations_title"), open=False, elem_id="sidebar"):
            self.heading = gr.Markdown(f"### {t('en', 'conversations_title')}")
            self.new = gr.Button(t("en", "new"), size="sm", elem_id="new", variant="primary")
            self.search = gr.Textbox(
                placeholder=t("en", "search_conversations"),
                show_label=False,
                max_lines=1,
                elem_id="conv-search",
            )
            self.list = gr.Radio(
                [],
                label=t("en", "conversations", n=0),
                info=t("en", "no_conversations"),
                elem_id="conversations",
            )
            self.title_box = gr.Textbox(
                label=t("en", "rename_box"), max_lines=1, elem_id="rename-box"
            )
            with gr.Row():
                self.rename = gr.Button(t("en", "rename"), size="sm", elem_id="rename")
                self.delete = gr.Button(
                    t("en", "delete_conversation"),
                    size="sm",
                    variant="stop",
                    elem_id="delete-conversation",
                )

    def labelled(self) -> list:
        return [self.heading, self.new, self.search, self.title_box, self.rename, self.delete]

    def relabel(self, lang: str, conv: dict) -> tuple:
        return (
            f"### {t(lang, 'conversations_title')}",
            gr.Button(value=t(lang, "new")),
            gr.Textbox(placeholder=t(lang, "search_conversations")),
            gr.Textbox(label=t(lang, "rename_box"), value=conv.get("title") or ""),
            gr.Button(value=t(lang, "rename")),
            gr.Button(value=t(lang, "delete_conversation")),
        )

    def list_update(self, saved: list, conv: dict, lang: str, query: str = ""):
        choices = conversation_choices(saved, lang, query)
        current = conv["id"] if any(v == conv["id"] for _, v in choices) else None
        return gr.Radio(
            choices=choices,
            value=current,
            label=t(lang, "conversations", n=len(choices)),
            info=None if choices else t(lang, "no_conversations"),
        )

    def show(self, conv: dict, saved: list, lang: str) -> tuple:
        """Chat, sources, state, list and title box for ``conv``."""
        titles = self.shared.titles()
        return (
            chat_messages(conv["turns"], lang, titles=titles),
            sources_html(conv["turns"], lang, titles),
            conv,
            self.list_update(saved, conv, lang),
            gr.Textbox(value=conv.get("title") or ""),
        )

    def open_conversation(self, conv_id: str, saved: list, lang: str):
        return self.show(find(saved, conv_id) or new_conversation(), saved, lang)

    def start_new(self, saved: list, lang: str):
        return (*self.show(new_conversation(), saved, lang), "")

    def delete_conversation(self, conv: dict, saved: list, lang: str):
        saved = [c for c in valid(saved) if c.get("id") != conv["id"]]
        return (*self.show(new_conversation(), saved, lang), saved)

    def rename_conversation(self, title: str, conv: dict, saved: list, lang: str):
        conv, saved = renamed(saved, conv, title)
        return conv, saved, self.list_update(saved, conv, lang)

    def wire(self, chat_outputs: list, conv: Any, saved: Any, lang: Any, box: Any) -> None:
        """Events; ``chat_outputs`` = [chatbot, sources] of the chat panel."""
        private: dict[str, Any] = {"api_visibility": "private"}
        shown = [*chat_outputs, conv, self.list, self.title_box]
        self.new.click(self.start_new, [saved, lang], [*shown, box], **private)
        self.list.input(self.open_conversation, [self.list, saved, lang], shown, **private)
        self.delete.click(self.delete_conversation, [conv, saved, lang], [*shown, saved], **private)
        self.search.input(
            self.list_update,
            [saved, conv, lang, self.search],
            [self.list],
            trigger_mode="always_last",  # the last keystroke's filter wins
            **private,
        )
        rename: Callable = self.rename_conversation
        for trigger in (self.rename.click, self.title_box.submit):
            trigger(
                rename, [self.title_box, conv, saved, lang], [conv, saved, self.list], **private
            )
