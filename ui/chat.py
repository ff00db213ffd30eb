"""The chat panel: question box, document picker, streamed answers with their outcome,
the Sources panel beside them, thumbs up/down; and ``/chat`` and ``/ask`` for programs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from assistant.api import validate_question
from assistant.errors import AssistantError, IndexStateError, QuestionError
from ui.conversations import follow_up_history, new_conversation, save_conversation, short_title
from ui.render import chat_messages, make_turn, sources_html
from ui.shared import Shared, skip
from ui.text import examples, t

logger = logging.getLogger(__name__)


def scoped(scope: Any) -> list[str]:
    """The document names a question is limited to (empty: all)."""
    if isinstance(scope, str):
        scope = [scope]
    return [str(s) for s in scope or [] if str(s).strip()]


def scope_kwargs(scope: list[str]) -> dict[str, Any]:
    """``documents=`` for the library: the names, or None for all."""
    return {"documents": scope or None}


def refusal_key(exc: AssistantError) -> str:
    return "refused_index" if isinstance(exc, IndexStateError) else "refused_other"


class ChatPanel:
    """Chat, picker and sources; ``list_update(saved, conv, lang)`` redraws the saved
    conversations after an answer (the sidebar's)."""

    def __init__(self, shared: Shared, list_update: Callable[[list, dict, str], Any]):
        self.shared = shared
        self.list_update = list_update

    # -- layout ----------------------------------------------------------------------
    def render_chat(self) -> None:
        self.chatbot = gr.Chatbot(
            show_label=False,
            height="max(320px, calc(100vh - 360px))",  # the question row stays on screen
            elem_id="chat",
            buttons=["copy"],
            placeholder=t("en", "chat_placeholder"),
            feedback_options=("Like", "Dislike"),
        )
        with gr.Row(elem_id="input-row"):
            self.box = gr.Textbox(
                placeholder=t("en", "box_placeholder"),
                show_label=False,
                scale=5,
                elem_id="question",
                max_lines=4,
            )
            self.send = gr.Button(t("en", "send"), variant="primary", scale=1, elem_id="send")
        self.scope = gr.Dropdown(
            choices=self.shared.document_choices(),
            value=[],
            multiselect=True,
            label=t("en", "scope"),
            elem_id="scope",
        )
        self.examples = gr.Dataset(
            components=[gr.Textbox(visible=False)],
            samples=[[q] for q in examples("en")],
            label=t("en", "examples"),
            elem_id="examples",
        )

    def render_sources(self) -> None:
        self.sources_head = gr.Markdown(t("en", "sources"))
        self.details = gr.Checkbox(label=t("en", "details"), value=False, elem_id="details")
        self.sources = gr.HTML(sources_html([], "en"), elem_id="sources")

    def labelled(self) -> list:
        return [
            self.chatbot,
            self.box,
            self.send,
            self.scope,
            self.examples,
            self.sources_head,
            self.details,
            self.sources,
        ]

    def relabel(self, lang: str, conv: dict) -> tuple:
        titles = self.shared.titles()
        return (
            gr.Chatbot(
                value=chat_messages(conv["turns"], lang, titles=titles),
                placeholder=t(lang, "chat_placeholder"),
            ),
            gr.Textbox(placeholder=t(lang, "box_placeholder")),
            gr.Button(value=t(lang, "send")),
            gr.Dropdown(label=t(lang, "scope"), choices=self.shared.document_choices()),
            gr.Dataset(label=t(lang, "examples"), samples=[[q] for q in examples(lang)]),
            t(lang, "sources"),
            gr.Checkbox(label=t(lang, "details")),
            sources_html(conv["turns"], lang, titles),
        )

    def scope_update(self):
        return gr.Dropdown(choices=self.shared.document_choices())

    # -- answering -------------------------------------------------------------------
    def check(self, text: str, lang: str, request: gr.Request | None) -> bool:
        """Whether ``text`` may be asked now; a toast says why not."""
        if not text:  # an empty submit is ignored
            return False
        if request is not None and not self.shared.may(request, "ask"):
            self.shared.warn(lang, t(lang, "not_logged_in"))
            return False
        max_chars = self.shared.bot.settings.max_question_chars
        try:
            validate_question(text, max_chars)
        except QuestionError:
            self.shared.warn(lang, t(lang, "too_long", n=len(text), max=max_chars))
            return False
        return True

    def respond(
        self,
        message: str,
        conv: dict,
        saved: list,
        lang: str,
        scope: list | None = None,
        request: gr.Request = None,
    ) -> Iterator[tuple]:
        """Answer ``message``; on any refusal the question goes back into the box."""
        conv = conv or new_conversation()
        text = (message or "").strip()
        if not self.check(text, lang, request):
            yield skip(6)
            return
        turns, limit, partial = list(conv["turns"]), scoped(scope), ""
        titles = self.shared.titles()
        yield chat_messages(turns, lang, (text, ""), titles), "", *skip(4)
        history = follow_up_history(turns)
        try:  # the stream is closed if the tab goes away
            with self.shared.bot.stream(text, history, **scope_kwargs(limit)) as stream:
                for piece in stream:
                    partial += piece
                    yield chat_messages(turns, lang, (text, partial), titles), *skip(5)
                answer = stream.answer
        except AssistantError as exc:
            logger.info("question not answered: %s", exc)
            self.shared.warn(lang, t(lang, refusal_key(exc)))
            yield chat_messages(turns, lang, titles=titles), message, *skip(4)
            return
        turns.append(make_turn(text, answer, titles or {}, limit))
        title = conv["title"] or short_title(text)
        conv = {**conv, "turns": turns, "title": title, "updated": time.time()}
        saved = save_conversation(saved, conv)
        yield (
            chat_messages(turns, lang, titles=titles),
            gr.skip(),
            sources_html(turns, lang, titles),
            conv,
            saved,
            self.list_update(saved, conv, lang),
        )

    def retry(self, conv: dict, saved: list, lang: str, scope: list, request: gr.Request = None):
        """Ask the last question again (the last answer is replaced)."""
        conv = conv or new_conversation()
        if not conv["turns"]:
            yield skip(6)
            return
        last = conv["turns"][-1]
        trimmed = {**conv, "turns": conv["turns"][:-1]}
        yield from self.respond(last["q"], trimmed, saved, lang, scope, request)

    def feedback(self, conv: dict, lang: str, evt: gr.LikeData, request: gr.Request = None):
        """Thumbs up or down on an answer, stored through the library."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        turns = (conv or {}).get("turns") or []
        k = int(index) // 2
        if k >= len(turns) or evt.liked not in (True, False):
            return
        turn = turns[k]
        answer = {
            "answer": turn["answer"],
            "outcome": turn["outcome"],
            "confidence": turn.get("confidence", 0.0),
            "citations": turn["citations"],
            "scope": turn.get("scope") or [],
        }
        user = self.shared.user_of(request) or ""
        try:
            self.shared.bot.record_feedback(turn["q"], answer, 1 if evt.liked else -1, user=user)
        except AssistantError as exc:
            logger.warning("feedback not stored: %s", exc)
            self.shared.warn(lang, t(lang, "refused_other"))
            return
        self.shared.info(lang, t(lang, "feedback_thanks"))

    # -- programs --------------------------------------------------------------------
    def chat_api(
        self, message: str, conversation: list, documents: Any = None, request: gr.Request = None
    ):
        """`/chat` for programs: the answer text with [n] markers, streamed; ``documents``
        limits the search to those files."""
        if not self.shared.may(request, "ask"):
            raise gr.Error(self.shared.refusal(request))
        conversation = list(conversation or [])
        text = ""
        try:
            limit = scoped(documents)
            with self.shared.bot.stream(message, conversation, **scope_kwargs(limit)) as stream:
                for piece in stream:
                    text += piece
                    yield text, conversation
                answer = stream.answer
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        conversation += [{"role": "user", "content": message}, answer.to_message()]
        yield answer.text, conversation

    def ask_api(
        self, message: str, conversation: list, documents: Any = None, request: gr.Request = None
    ):
        """`/ask` for programs: the Answer's to_dict() (outcome, declined, confidence)."""
        if not self.shared.may(request, "ask"):
            raise gr.Error(self.shared.refusal(request))
        conversation = list(conversation or [])
        try:
            answer = self.shared.bot.ask(message, conversation, **scope_kwargs(scoped(documents)))
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        conversation += [{"role": "user", "content": message}, answer.to_message()]
        return answer.to_dict(), conversation
