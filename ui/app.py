"""Browser chat on top of the public ``assistant`` API only.

Every answer streams into the chat with its [n] markers; under it, a collapsible
"Sources" message shows each cited passage highlighted inside its surrounding text, with
file, page and score. The documents tab lists what is indexed and takes uploads.

Endpoints for ``gradio_client``: ``/chat`` (message in, answer text out; the
conversation is kept per client session) and ``/upload`` (files in, status out).
"""

# ruff: noqa: I001  (assistant is imported before gradio: it switches analytics off first)
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from assistant import Answer, Assistant  # sets the offline switches before gradio loads
from assistant.errors import AssistantError

import gradio as gr

EXAMPLES = [
    "Wer ist der CEO des Pakistan Crypto Council?",
    "Mit welcher US-Botschafterin wurden Pläne besprochen?",
    "Who is the CEO of the Pakistan Crypto Council?",
    "Why is India watching the partnership with mixed feelings?",
]
TYPES = ".txt .md .html .pdf .docx"

CSS = """
.sources mark { background: #fde68a; padding: 0 2px; border-radius: 3px; }
.sources blockquote { margin: 4px 0 12px 0; }
#mode { font-size: 0.95em; }
"""


CONTEXT_CHARS = 280
_MD_ACTIVE = re.compile(r"([\\`*_\[\]()!<>|#])")


def md_escape(text: str) -> str:
    """Render document text literally: no links, images or HTML from untrusted files."""
    return _MD_ACTIVE.sub(r"\\\1", text).replace("://", ":\\/\\/")  # no autolinks either


def _trim(before: str, after: str) -> tuple[str, str]:
    """Keep about CONTEXT_CHARS of surrounding text on each side, cut at word boundaries."""
    before, after = " ".join(before.split()), " ".join(after.split())
    if len(before) > CONTEXT_CHARS:
        before = "… " + before[-CONTEXT_CHARS:].split(" ", 1)[-1]
    if len(after) > CONTEXT_CHARS:
        after = after[:CONTEXT_CHARS].rsplit(" ", 1)[0] + " …"
    return before, after


def sources_markdown(answer: Answer) -> str:
    """The cited passages, each highlighted inside its chunk; document text is escaped."""
    parts = []
    for c in answer.citations:
        before, quote, after = c.quote_in_context
        before, after = _trim(before, after)
        where = f"**[{c.n}] {md_escape(c.source)}**"
        if c.page:
            where += f" · Seite/page {c.page}"
        where += f" · Zeichen/characters {c.start}–{c.end} · score {c.score:.3f}"
        # inside an HTML block markdown is not parsed: HTML-escaping alone keeps it literal
        context = (
            html.escape(before)
            + f" <mark>{html.escape(' '.join(quote.split()))}</mark> "
            + html.escape(after)
        )
        parts.append(f'{where}\n\n<blockquote class="sources">{context.strip()}</blockquote>')
    return "\n\n".join(parts)


def _history(messages: list[dict]) -> list[dict]:
    """The conversation for follow-ups: user and answer turns, not the sources notes."""
    return [
        {"role": m["role"], "content": m["content"]}
        for m in messages or []
        if isinstance(m, dict) and not (m.get("metadata") or {}).get("title")
    ]


def _documents_table(bot: Assistant) -> list[list[Any]]:
    try:
        return [[d["source"], d["chunks"], d["language"]] for d in bot.documents()]
    except AssistantError:
        return []


def build_app(bot: Assistant) -> gr.Blocks:
    """The Gradio Blocks app; it talks to ``bot`` only."""

    def respond(message: str, messages: list[dict]):
        messages = list(messages or [])
        history = _history(messages)
        messages += [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        yield messages, ""
        try:
            for piece in bot.stream(message, history):
                if isinstance(piece, Answer):
                    messages[-1]["content"] = md_escape(piece.text)
                    if piece.citations:
                        messages.append(
                            {
                                "role": "assistant",
                                "content": sources_markdown(piece),
                                "metadata": {
                                    "title": f"Quellen / Sources ({len(piece.citations)})",
                                    "status": "done",
                                },
                            }
                        )
                else:
                    messages[-1]["content"] += md_escape(piece)
                yield messages, ""
        except AssistantError as exc:
            messages[-1]["content"] = f"⚠️ {md_escape(str(exc))}"
            yield messages, ""

    def chat_api(message: str, conversation: list[dict]):
        """`/chat` for programs: the answer text with [n] markers, streamed."""
        conversation = list(conversation or [])
        text = ""
        try:
            for piece in bot.stream(message, conversation):
                if isinstance(piece, Answer):
                    text = piece.text
                else:
                    text += piece
                    yield text, conversation
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        conversation += [
            {"role": "user", "content": message},
            {"role": "assistant", "content": text},
        ]
        yield text, conversation

    def upload(files: list[str] | None, progress=gr.Progress()):  # noqa: B008
        if not files:
            return "Keine Datei gewählt / no file chosen.", _documents_table(bot)
        items = [(Path(p).name, Path(p).read_bytes()) for p in files]
        uploaded = {name for name, _ in items}

        def report(stage: str, done: int, total: int) -> None:
            if total:
                progress(done / total, desc=f"{stage} {done}/{total}")

        lines = []
        try:
            result, rejected = bot.add_documents(items, progress=report)
        except AssistantError as exc:
            return f"❌ {exc}", _documents_table(bot)
        if result is not None:
            for name in result.added + result.updated:
                lines.append(f"✅ indexed {name}")
            for name in result.unchanged:
                if name in uploaded:
                    lines.append(f"✅ {name} is already indexed (unchanged)")
            for skipped in result.skipped:
                lines.append(f"⚠️ skipped {skipped.source}: {skipped.reason}")
        for name, reason in rejected:
            lines.append(f"❌ rejected {name}: {reason}")
        return "\n\n".join(lines), _documents_table(bot)

    with gr.Blocks(title="Dokumenten-Assistent", analytics_enabled=False) as demo:
        gr.Markdown(
            "## Dokumenten-Assistent · Document assistant\n"
            "Fragen auf Deutsch oder Englisch; jede Antwort nennt ihre Quellen [n]. "
            "Ask in German or English; every answer cites its sources [n]."
        )
        gr.Markdown(f"**Mode:** {bot.describe_mode()}", elem_id="mode")
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(
                label="Chat",
                height=620,
                elem_id="chat",
                buttons=["copy"],
                placeholder="Frag deine Dokumente · Ask your documents",
            )
            with gr.Row():
                box = gr.Textbox(
                    placeholder="Frage eingeben · Type a question",
                    show_label=False,
                    scale=5,
                    autofocus=True,
                    elem_id="question",
                    max_lines=4,
                )
                send = gr.Button("Senden / Send", variant="primary", scale=1, elem_id="send")
            new_chat = gr.Button("Neues Gespräch / New conversation", size="sm", elem_id="new")
            gr.Examples(EXAMPLES, inputs=box, label="Beispiele / Examples")
        with gr.Tab("Dokumente / Documents"):
            docs = gr.Dataframe(
                headers=["file", "chunks", "language"],
                value=_documents_table(bot),
                interactive=False,
                label="Indexed documents",
                elem_id="docs",
            )
            files = gr.File(
                file_count="multiple",
                label=f"Upload ({TYPES}, at most {bot.settings.max_upload_mb:g} MB each)",
                elem_id="upload",
            )
            status = gr.Markdown(elem_id="upload-status")
        # programmatic chat: hidden parts, conversation kept per client session
        api_in = gr.Textbox(visible=False)
        api_out = gr.Textbox(visible=False)
        conversation = gr.State([])
        api_go = gr.Button(visible=False)

        for trigger in (box.submit, send.click):
            trigger(
                respond,
                [box, chatbot],
                [chatbot, box],
                api_visibility="private",
                concurrency_limit=None,
            )
        new_chat.click(lambda: ([], ""), None, [chatbot, box], api_visibility="private")
        api_go.click(
            chat_api,
            [api_in, conversation],
            [api_out, conversation],
            api_name="chat",
            concurrency_limit=None,
        )
        files.upload(
            upload,
            [files],
            [status, docs],
            api_name="upload",
            concurrency_limit=1,
            concurrency_id="index",
        )
        demo.load(lambda: _documents_table(bot), None, docs, api_visibility="private")
    return demo


def launch_options(bot: Assistant) -> dict[str, Any]:
    """Look and limits of the served app (system fonts: no request to a font CDN)."""
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "monospace"],
    )
    return {
        "theme": theme,
        "css": CSS,
        "ssr_mode": False,
        "show_error": True,
        # a hard stop well above our own limit, so users normally see our clear message
        "max_file_size": f"{int(bot.settings.max_upload_mb * 2) + 1}mb",
        "footer_links": ["api"],
    }


def serve(bot: Assistant, host: str = "127.0.0.1", port: int = 7860, **kwargs: Any) -> None:
    """Serve the chat; binds to loopback unless told otherwise."""
    demo = build_app(bot)
    demo.queue(default_concurrency_limit=4)
    print(f"Open http://{host}:{port} in your browser ({bot.describe_mode()}).", flush=True)
    demo.launch(server_name=host, server_port=port, **(launch_options(bot) | kwargs))


def main() -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    bot = Assistant()
    bot.ensure_index()
    serve(bot, bot.settings.host, bot.settings.port)


if __name__ == "__main__":
    main()
