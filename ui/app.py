"""Browser chat on top of the public ``assistant`` API only.

Answers stream into the chat; every [n] in an answer is a link to that passage in the
Sources panel beside it (highlighted inside its surrounding text, with a link that opens
the document, for PDFs at the cited page). Conversations live in the browser's local
storage, so they survive a reload and a server restart. The Documents tab lists what is
indexed, deletes (after a confirmation) and takes uploads. The UI speaks German or
English, picked from the browser and switchable; answers follow the question's language.

Endpoints for ``gradio_client``: ``/chat`` (message in, answer text out; the
conversation is kept per client session), ``/ask`` (the same, returning the Answer's
``to_dict()``: outcome, declined, confidence, citations), ``/upload`` (files in, status
and table out) and ``/remove`` (a file name in, status out). ``GET /document/NAME``
serves an indexed document read-only.

With users set up (``assistant users add``) every one of these needs a log-in
(``ui/auth.py``); readers ask and read, only editors upload, replace and delete, and
each upload, replacement and deletion goes into the audit trail beside the index.
"""

# ruff: noqa: I001  (assistant is imported before gradio: it switches analytics off first)
from __future__ import annotations

import html
import mimetypes
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from assistant import Answer, Assistant  # sets the offline switches before gradio loads
from assistant.api import validate_question
from assistant.access.audit import AuditLog
from assistant.errors import AssistantError, QuestionError
from assistant.ingest.limits import check_upload
from assistant.ingest.loaders import FORMAT_NAMES, FORMATS, SUPPORTED_SUFFIXES

import gradio as gr
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from ui.auth import Gate, check_serving, gate_for, not_logged_in
from ui.text import pick_language, t

EXAMPLES = [
    "Wer ist der CEO des Pakistan Crypto Council?",
    "Mit welcher US-Botschafterin wurden Pläne besprochen?",
    "Which company did Bilal bin Saqib partner with?",
    "Which country views the cooperation with mixed feelings?",
]
TYPES = FORMAT_NAMES
# Served back as sandboxed plain text: a hostile HTML or markdown file cannot run script.
SHOWN_AS_TEXT = FORMATS["txt"] + FORMATS["md"] + FORMATS["html"]
CONTEXT_CHARS = 280
MAX_SAVED = 50  # conversations kept in a browser; the oldest go first
# The conversations stay in the user's own browser; a fixed key (not a random one per
# server start) is what lets them survive a server restart.
STORAGE_SECRET = "dokumenten-assistent-conversations"

CSS = """
#sources .answer-sources > h4 { margin: 0 0 6px 0; font-size: 0.95em; }
#sources details.source { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 6px 10px; margin: 0 0 8px 0; scroll-margin-top: 12px; }
#sources details.source.flash { outline: 3px solid #f59e0b; }
#sources summary { cursor: pointer; font-weight: 600; }
#sources .title { font-weight: 600; }
#sources .file { font-weight: 400; color: var(--body-text-color-subdued); }
#sources blockquote { margin: 6px 0; padding-left: 8px; border-left: 3px solid #d1d5db; }
#sources mark { background: #fde68a; color: #111827; padding: 0 2px; border-radius: 3px; }
#sources .dev { display: none; color: var(--body-text-color-subdued); font-size: 0.9em; }
#sources.show-details .dev { display: inline; }
#sources .none { color: var(--body-text-color-subdued); }
.outcome { display: inline-block; font-size: 0.85em; font-weight: 600; padding: 1px 8px;
  border-radius: 10px; background: #fef3c7; color: #92400e; border: 1px solid #f59e0b; }
#chat a.cite { font-weight: 600; text-decoration: none; }
#mode { font-size: 0.95em; }
#header { align-items: center; }
#lang { max-width: 260px; }
#docs { overflow-x: auto; }
@media (max-width: 700px) {
  #chat { height: 60vh !important; }
  #docs table { font-size: 0.85em; }
}
"""

# A click on [n] (a link to #src-K-N) shows answer K's sources, opens passage N and
# scrolls to it; the link never navigates. Installed once through <head>.
HEAD = """
<script>
(() => {
  function showSource(k, n) {
    const panel = document.getElementById("sources");
    if (!panel) return;
    panel.querySelectorAll("section[data-turn]").forEach((s) => {
      s.hidden = s.dataset.turn !== String(k);
    });
    const item = document.getElementById(`src-${k}-${n}`);
    if (!item) return;
    item.open = true;
    panel.querySelectorAll(".flash").forEach((el) => el.classList.remove("flash"));
    item.classList.add("flash");
    item.scrollIntoView({ behavior: "instant", block: "start" });
  }
  window.assistantShowSource = showSource;
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href*='#src-']");
    if (!link) return;
    const m = link.getAttribute("href").match(/#src-(\\d+)-(\\d+)$/);
    if (!m) return;
    event.preventDefault();
    event.stopPropagation();
    showSource(m[1], m[2]);
  }, true);
})();
</script>
"""

# The UI language on load: the switch's last choice, else the browser's languages.
DETECT_LANGUAGE_JS = """
(lang, saved) => {
  let pick = localStorage.getItem("assistant-ui-lang");
  if (!pick) {
    const prefs = navigator.languages || [navigator.language || "en"];
    const known = prefs.find((l) => /^(de|en)\\b/i.test(l));
    pick = known && known.toLowerCase().startsWith("de") ? "de" : "en";
  }
  document.documentElement.lang = pick;
  return [pick, saved];
}
"""
SWITCH_LANGUAGE_JS = """
(lang) => {
  localStorage.setItem("assistant-ui-lang", lang);
  document.documentElement.lang = lang;
  return lang;
}
"""
DETAILS_JS = """
(on) => {
  const panel = document.getElementById("sources");
  if (panel) panel.classList.toggle("show-details", !!on);
  return on;
}
"""

_MD_ACTIVE = re.compile(r"([\\`*_\[\]()!<>|#~])")
_MARKER = re.compile(r"\[(\d+)\]")


def md_escape(text: str) -> str:
    """Render document text literally: no links, images or HTML from untrusted files."""
    return _MD_ACTIVE.sub(r"\\\1", text).replace("://", ":\\/\\/")  # no autolinks either


# the short answer the assistant itself sets in bold (phrases.FOUND), rendered as bold;
# every other asterisk stays literal (it may come from a document)
_FOUND = re.compile(r"((?:the answer is|die Antwort ist) )\\\*\\\*(.+?)\\\*\\\*(?=:)")


def linked_answer(text: str, turn: int, cited: set[int]) -> str:
    """The answer as markdown whose [n] markers link to passage n of answer ``turn``."""
    out, pos = [], 0
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if n not in cited:
            continue
        out.append(md_escape(text[pos : m.start()]))
        out.append(f"[\\[{n}\\]](#src-{turn}-{n})")
        pos = m.end()
    out.append(md_escape(text[pos:]))
    return _FOUND.sub(r"\1**\2**", "".join(out), count=1)


def _trim(before: str, after: str) -> tuple[str, str]:
    """Keep about CONTEXT_CHARS of surrounding text on each side, cut at word boundaries."""
    before, after = " ".join(before.split()), " ".join(after.split())
    if len(before) > CONTEXT_CHARS:
        before = "… " + before[-CONTEXT_CHARS:].split(" ", 1)[-1]
    if len(after) > CONTEXT_CHARS:
        after = after[:CONTEXT_CHARS].rsplit(" ", 1)[0] + " …"
    return before, after


def document_url(source: str, page: int | None = None) -> str:
    """Where the app serves an indexed document; PDF viewers jump to ``#page=N``."""
    url = "document/" + url_quote(source)
    return f"{url}#page={page}" if page else url


def make_turn(question: str, answer: Answer, titles: dict[str, str]) -> dict:
    """What the browser stores for one question and answer (JSON, no server state)."""
    citations = []
    for c in answer.citations:
        before, quote, after = c.quote_in_context
        before, after = _trim(before, after)
        citations.append(
            {
                "n": c.n,
                "source": c.source,
                "title": titles.get(c.source) or "",
                "page": c.page,
                "start": c.start,
                "end": c.end,
                "score": round(float(c.score), 3),
                "before": before,
                "quote": " ".join(quote.split()),
                "after": after,
            }
        )
    return {
        "q": question,
        "answer": answer.text,
        "outcome": answer.outcome,
        "confidence": round(float(answer.confidence), 3),
        "citations": citations,
    }


def _outcome_label(outcome: str, lang: str) -> str:
    if outcome in ("hedged", "declined"):
        return f'<span class="outcome">{html.escape(t(lang, outcome))}</span>\n\n'
    return ""


def chat_messages(turns: list[dict], lang: str, pending: tuple[str, str] | None = None) -> list:
    """The chat as Gradio messages: questions, and answers with linked [n] markers."""
    messages: list[dict] = []
    for k, turn in enumerate(turns, 1):
        cited = {c["n"] for c in turn["citations"]}
        messages.append({"role": "user", "content": md_escape(turn["q"])})
        messages.append(
            {
                "role": "assistant",
                "content": _outcome_label(turn["outcome"], lang)
                + linked_answer(turn["answer"], k, cited),
            }
        )
    if pending is not None:
        messages.append({"role": "user", "content": md_escape(pending[0])})
        messages.append({"role": "assistant", "content": md_escape(pending[1]) or "…"})
    return messages


def sources_html(turns: list[dict], lang: str) -> str:
    """The Sources panel: every answer's passages; the latest answer's are shown.

    Document text is HTML-escaped; the first passage of each answer starts open.
    """
    if not turns:
        return f'<p class="none">{html.escape(t(lang, "sources_empty"))}</p>'
    sections = []
    for k, turn in enumerate(turns, 1):
        hidden = "" if k == len(turns) else " hidden"
        question = turn["q"] if len(turn["q"]) <= 80 else turn["q"][:79] + "…"
        parts = [
            f'<section class="answer-sources" data-turn="{k}"{hidden}>',
            f"<h4>{html.escape(t(lang, 'sources_of', k=k, q=question))}</h4>",
        ]
        confidence = t(lang, "confidence", c=f"{turn.get('confidence', 0):.2f}")
        parts.append(f'<p class="dev">{html.escape(confidence)}</p>')
        if not turn["citations"]:
            parts.append(f'<p class="none">{html.escape(t(lang, "no_sources"))}</p>')
        for i, c in enumerate(turn["citations"]):
            name = html.escape(c["source"])
            title = html.escape(c.get("title") or "")
            label = f'<span class="title">{title}</span> <span class="file">· {name}</span>'
            if not title:
                label = f'<span class="title">{name}</span>'
            where = [t(lang, "page", p=c["page"])] if c.get("page") else []
            dev = [t(lang, "chars", s=c["start"], e=c["end"]), t(lang, "score", x=c["score"])]
            is_pdf = c["source"].lower().endswith(".pdf")
            link_text = t(lang, "open_page", p=c["page"]) if c.get("page") else t(lang, "open")
            href = document_url(c["source"], c.get("page") if is_pdf else None)
            parts.append(
                f'<details class="source" id="src-{k}-{c["n"]}"{" open" if i == 0 else ""}>'
                f"<summary>[{c['n']}] {label}"
                + (f" · {html.escape(', '.join(where))}" if where else "")
                + "</summary>"
                f"<blockquote>{html.escape(c['before'])} <mark>{html.escape(c['quote'])}</mark>"
                f" {html.escape(c['after'])}</blockquote>"
                f'<a class="open" href="{html.escape(href)}" target="_blank" rel="noopener">'
                f"{html.escape(link_text)}</a> "
                f'<span class="dev">· {html.escape(" · ".join(dev))}</span>'
                "</details>"
            )
        parts.append("</section>")
        sections.append("".join(parts))
    return "".join(sections)


def follow_up_history(turns: list[dict]) -> list[dict]:
    """The conversation for follow-ups: plain questions and answers, no markup."""
    history: list[dict] = []
    for turn in turns:
        history += [
            {"role": "user", "content": turn["q"]},
            {"role": "assistant", "content": turn["answer"]},
        ]
    return history


def new_conversation() -> dict:
    return {"id": uuid.uuid4().hex[:12], "title": "", "turns": [], "updated": 0.0}


def save_conversation(saved: list[dict] | None, conv: dict) -> list[dict]:
    """``saved`` with ``conv`` first (most recent first), at most MAX_SAVED."""
    others = [c for c in saved or [] if isinstance(c, dict) and c.get("id") != conv["id"]]
    return ([conv] + others)[:MAX_SAVED] if conv["turns"] else others


def conversation_choices(saved: list[dict] | None) -> list[tuple[str, str]]:
    return [(c.get("title") or "…", c["id"]) for c in saved or [] if isinstance(c, dict)]


def mode_line(bot: Assistant, lang: str) -> str:
    s = bot.settings
    if bot.mode == "generative":
        return t(lang, "mode_generative", model=s.llm_model, where=s.openai_base_url or "OpenAI")
    return t(lang, "mode_extractive")


def document_label(doc: dict) -> str:
    """The readable title next to the file name; the file name alone when there is none."""
    title = " ".join(str(doc.get("title") or "").split())
    return f"{title} · {doc['source']}" if title and title != doc["source"] else doc["source"]


def who_html(user: str, role: str, lang: str) -> str:
    """Who is logged in, and a link that logs out (in this tab)."""
    text = t(lang, "signed_in", user=user, role=t(lang, f"role_{role}"))
    return (
        f'<p class="who">{html.escape(text)} · <a href="logout" target="_self" '
        f'id="logout">{html.escape(t(lang, "logout"))}</a></p>'
    )


def documents_rows(bot: Assistant, lang: str, can_edit: bool = True) -> list[list[Any]]:
    """Document (title and file), chunks, language, and the delete action (4 columns fit
    a phone; readers see no action)."""
    try:
        docs = bot.documents()
    except AssistantError:
        return []
    action = t(lang, "delete") if can_edit else ""
    return [[document_label(d), d["chunks"], d["language"], action] for d in docs]


def audit_rows(log: AuditLog, lang: str, last: int = 200) -> list[list[str]]:
    """The audit trail for the Documents tab, newest first."""
    rows = []
    for e in reversed(log.entries(last)):
        action = str(e.get("action", ""))
        label = t(lang, f"audit_{action}") if action in ("upload", "replace", "delete") else action
        when = str(e.get("time", "")).replace("T", " ")
        rows.append([when, str(e.get("user", "")), label, str(e.get("file", ""))])
    return rows


def document_titles(bot: Assistant) -> dict[str, str]:
    try:
        return {d["source"]: d.get("title") or "" for d in bot.documents()}
    except AssistantError:
        return {}


def document_route(bot: Assistant, gate: Gate | None = None) -> Route:
    """``GET /document/NAME``: an indexed document, read-only; nothing outside the corpus.

    Only names the index lists are served, and only to a logged-in user when log-in is
    required. HTML and markdown come back as plain text with a sandboxing policy, so a
    hostile document cannot run script on the app's origin.
    """
    gate = gate or gate_for(bot)

    async def endpoint(request: Request) -> Response:
        if not gate.request_allows(request, "read"):
            return not_logged_in()
        name = request.path_params["source"]
        indexed = set(document_titles(bot))
        corpus = Path(bot.settings.corpus_dir).resolve()
        path = (corpus / name).resolve()
        if name not in indexed or not path.is_relative_to(corpus) or not path.is_file():
            return PlainTextResponse("not an indexed document", status_code=404)
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        suffix = path.suffix.lower()
        if suffix in FORMATS["pdf"]:
            media = "application/pdf"
        elif suffix in SHOWN_AS_TEXT:
            media = "text/plain; charset=utf-8"
            headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        else:
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        inline = suffix not in FORMATS["docx"]
        return FileResponse(
            path,
            media_type=media,
            headers=headers,
            filename=path.name,
            content_disposition_type="inline" if inline else "attachment",
        )

    return Route("/document/{source:path}", endpoint, methods=["GET", "HEAD"])


def build_app(bot: Assistant, gate: Gate | None = None) -> gr.Blocks:
    """The Gradio Blocks app; it talks to ``bot`` only, ``gate`` says who may do what."""
    max_chars = bot.settings.max_question_chars
    gate = gate or gate_for(bot)
    audit = AuditLog.for_settings(bot.settings)

    def user_of(request: gr.Request | None) -> str | None:
        return getattr(request, "username", None) if gate.required else None

    def may(request: gr.Request | None, action: str) -> bool:
        return gate.allows(user_of(request), action)

    def client_of(request: gr.Request | None) -> str | None:
        return getattr(getattr(request, "client", None), "host", None)

    def refusal(request: gr.Request | None) -> str:
        """Why a program may not change the documents (English, for gradio_client)."""
        if gate.required and not user_of(request):
            return "not allowed: log in first"
        return "not allowed: uploading, replacing and deleting need the editor role"

    def refusal_text(request: gr.Request | None, lang: str) -> str:
        if gate.required and not user_of(request):
            return t(lang, "not_logged_in")
        return t(lang, "not_allowed")

    # -- chat ------------------------------------------------------------------------
    def respond(message: str, conv: dict, saved: list, lang: str, request: gr.Request = None):
        """Answer ``message``; on any refusal the question goes back into the box."""
        skip = gr.skip()
        conv = conv or new_conversation()
        text = (message or "").strip()
        if not text:  # an empty submit is ignored
            yield skip, skip, skip, skip, skip, skip
            return
        if request is not None and not may(request, "ask"):
            gr.Warning(t(lang, "not_logged_in"))
            yield skip, skip, skip, skip, skip, skip
            return
        try:
            validate_question(text, max_chars)
        except QuestionError:
            gr.Warning(t(lang, "too_long", n=len(text), max=max_chars))
            yield skip, skip, skip, skip, skip, skip
            return
        turns = list(conv["turns"])
        partial = ""
        yield chat_messages(turns, lang, (text, "")), "", skip, skip, skip, skip
        try:
            with bot.stream(text, follow_up_history(turns)) as stream:  # closed if the tab goes
                for piece in stream:
                    partial += piece
                    yield chat_messages(turns, lang, (text, partial)), skip, skip, skip, skip, skip
                answer = stream.answer
        except AssistantError as exc:
            gr.Warning(t(lang, "refused", why=str(exc)))
            yield chat_messages(turns, lang), message, skip, skip, skip, skip
            return
        turns.append(make_turn(text, answer, document_titles(bot)))
        conv = {
            **conv,
            "turns": turns,
            "title": conv["title"] or (text if len(text) <= 60 else text[:59] + "…"),
            "updated": time.time(),
        }
        saved = save_conversation(saved, conv)
        yield (
            chat_messages(turns, lang),
            skip,
            sources_html(turns, lang),
            conv,
            saved,
            conversations_update(saved, conv, lang),
        )

    def retry(conv: dict, saved: list, lang: str, request: gr.Request = None):
        """Ask the last question again (the last answer is replaced)."""
        conv = conv or new_conversation()
        if not conv["turns"]:
            yield (gr.skip(),) * 6
            return
        last = conv["turns"][-1]
        trimmed = {**conv, "turns": conv["turns"][:-1]}
        yield from respond(last["q"], trimmed, saved, lang, request)

    def conversations_update(saved: list, conv: dict, lang: str):
        choices = conversation_choices(saved)
        current = conv["id"] if any(v == conv["id"] for _, v in choices) else None
        return gr.Radio(
            choices=choices,
            value=current,
            label=t(lang, "conversations", n=len(choices)),
            info=None if choices else t(lang, "no_conversations"),
        )

    def show(conv: dict, saved: list, lang: str):
        """Chat, sources, state and list for ``conv``."""
        return (
            chat_messages(conv["turns"], lang),
            sources_html(conv["turns"], lang),
            conv,
            conversations_update(saved, conv, lang),
        )

    def open_conversation(conv_id: str, saved: list, lang: str):
        for c in saved or []:
            if isinstance(c, dict) and c.get("id") == conv_id:
                return show(c, saved, lang)
        return show(new_conversation(), saved, lang)

    def start_new(saved: list, lang: str):
        return (*show(new_conversation(), saved, lang), "")

    def delete_conversation(conv: dict, saved: list, lang: str):
        saved = [c for c in saved or [] if isinstance(c, dict) and c.get("id") != conv["id"]]
        return (*show(new_conversation(), saved, lang), saved)

    # -- language --------------------------------------------------------------------
    def labels(lang: str, conv: dict, saved: list, request: gr.Request = None) -> tuple:
        """Every app-owned string of the page in ``lang`` (outputs of ``labelled``), and
        what this user's role may see: upload and delete, the audit trail."""
        lang = pick_language(lang)
        conv = conv or new_conversation()
        can_edit = may(request, "upload")
        user = user_of(request)
        role = gate.role_of(user)
        who = who_html(user, role, lang) if user and role else ""
        return (
            lang,
            gr.Radio(value=lang, label=t(lang, "language")),
            f"{t(lang, 'title')}\n{t(lang, 'intro')}",
            mode_line(bot, lang),
            gr.Tab(label=t(lang, "tab_chat")),
            gr.Tab(label=t(lang, "tab_docs")),
            gr.Chatbot(
                value=chat_messages(conv["turns"], lang), placeholder=t(lang, "chat_placeholder")
            ),
            gr.Textbox(placeholder=t(lang, "box_placeholder")),
            gr.Button(value=t(lang, "send")),
            gr.Button(value=t(lang, "new")),
            gr.Dataset(label=t(lang, "examples")),
            gr.Button(value=t(lang, "delete_conversation")),
            t(lang, "sources"),
            gr.Checkbox(label=t(lang, "details")),
            docs_update(lang, can_edit),
            gr.UploadButton(
                label=t(lang, "upload", types=TYPES, mb=f"{bot.settings.max_upload_mb:g}")
            ),
            gr.Checkbox(label=t(lang, "replace")),
            gr.Button(value=t(lang, "yes_delete")),
            gr.Button(value=t(lang, "cancel")),
            sources_html(conv["turns"], lang),
            conv,
            conversations_update(saved, conv, lang),
            who,
            gr.Column(visible=can_edit),
            audit_update(lang, can_edit),
        )

    def audit_update(lang: str, can_edit: bool = True):
        return gr.Dataframe(
            value=audit_rows(audit, lang) if can_edit else [],
            headers=[
                t(lang, "col_time"),
                t(lang, "col_user"),
                t(lang, "col_audit_action"),
                t(lang, "col_file"),
            ],
            label=t(lang, "audit_label"),
            visible=can_edit,
        )

    def docs_update(lang: str, can_edit: bool = True):
        return gr.Dataframe(
            value=documents_rows(bot, lang, can_edit),
            headers=[
                t(lang, "col_document"),
                t(lang, "col_chunks"),
                t(lang, "col_lang"),
                t(lang, "col_action"),
            ],
            label=t(lang, "docs_label" if can_edit else "docs_label_reader"),
        )

    def on_load(lang: str, saved: list, request: gr.Request = None):
        saved = [c for c in saved or [] if isinstance(c, dict) and c.get("id")]
        conv = saved[0] if saved else new_conversation()  # reopen the latest conversation
        return labels(lang, conv, saved, request)

    # -- documents -------------------------------------------------------------------
    def index_uploads(
        files: list[str] | None,
        replace: bool,
        lang: str,
        request: gr.Request = None,
        progress=gr.Progress(),  # noqa: B008
    ):
        if not may(request, "upload"):
            return refusal_text(request, lang)
        if not files:
            return t(lang, "no_file")
        sizes = [(Path(p).name, Path(p).stat().st_size) for p in files]
        problem = check_upload(bot.settings, sizes, bool(replace))
        if problem is not None:
            return t(lang, f"limit_{problem.kind}", n=problem.n, max=problem.max, mb=problem.n)
        items = [(Path(p).name, Path(p).read_bytes()) for p in files]

        def report(stage: str, done: int, total: int) -> None:
            if total:
                key = f"stage_{stage}" if stage in ("loading", "embedding") else "stage_other"
                progress(done / total, desc=t(lang, key, done=done, total=total))

        try:
            # answerable once the chunks are in; sentence vectors follow in a thread
            done = bot.add_documents(items, progress=report, replace=bool(replace), background=True)
        except AssistantError as exc:
            return t(lang, "error", why=md_escape(str(exc)))
        for name in done.added:
            audit.append("upload", user_of(request), name, client_of(request))
        for name in done.replaced:
            audit.append("replace", user_of(request), name, client_of(request))
        lines = [t(lang, "indexed", name=md_escape(name)) for name in done.added]
        lines += [t(lang, "replaced", name=md_escape(name)) for name in done.replaced]
        lines += [t(lang, "unchanged", name=md_escape(name)) for name in done.unchanged]
        for skipped in done.index.skipped if done.index is not None else []:
            why = md_escape(skipped.reason)
            lines.append(t(lang, "skipped", name=md_escape(skipped.source), why=why))
        for name, reason in done.rejected:
            lines.append(t(lang, "rejected", name=md_escape(name), why=md_escape(reason)))
        return "\n\n".join(lines)

    def ask_delete(lang: str, evt: gr.SelectData, request: gr.Request = None):
        row = evt.row_value or []
        if not row or evt.index[1] != 3 or not may(request, "delete"):  # the "Delete" cell
            return gr.skip(), gr.skip(), gr.skip()
        try:
            by_label = {document_label(d): d["source"] for d in bot.documents()}
        except AssistantError:
            by_label = {}
        if str(row[0]) not in by_label:
            return gr.skip(), gr.skip(), gr.skip()
        name = by_label[str(row[0])]
        return gr.Row(visible=True), t(lang, "confirm_delete", name=md_escape(name)), name

    def delete_document(name: str, lang: str, request: gr.Request = None):
        if not may(request, "delete"):
            return gr.Row(visible=False), refusal_text(request, lang), gr.skip(), gr.skip()
        try:
            bot.remove_document(name)
            audit.append("delete", user_of(request), name, client_of(request))
            status = t(lang, "deleted", name=md_escape(name))
        except AssistantError as exc:
            status = t(lang, "error", why=md_escape(str(exc)))
        return gr.Row(visible=False), status, docs_update(lang), audit_update(lang)

    # -- programs --------------------------------------------------------------------
    def chat_api(message: str, conversation: list[dict], request: gr.Request = None):
        """`/chat` for programs: the answer text with [n] markers, streamed."""
        if not may(request, "ask"):
            raise gr.Error(refusal(request))
        conversation = list(conversation or [])
        text = ""
        try:
            with bot.stream(message, conversation) as stream:
                for piece in stream:
                    text += piece
                    yield text, conversation
                text = stream.answer.text
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        conversation += [
            {"role": "user", "content": message},
            {"role": "assistant", "content": text},
        ]
        yield text, conversation

    def ask_api(message: str, conversation: list[dict], request: gr.Request = None):
        """`/ask` for programs: the Answer's to_dict() (outcome, declined, confidence)."""
        if not may(request, "ask"):
            raise gr.Error(refusal(request))
        conversation = list(conversation or [])
        try:
            answer = bot.ask(message, conversation)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        conversation += [
            {"role": "user", "content": message},
            {"role": "assistant", "content": answer.text},
        ]
        return answer.to_dict(), conversation

    def upload_api(files: list[str] | None, replace: bool, request: gr.Request = None):
        if not may(request, "upload"):
            raise gr.Error(refusal(request))
        status = index_uploads(files, bool(replace), "en", request).replace("**", "")
        rows = [
            [d["source"], d["chunks"], d["language"], d.get("title") or ""] for d in docs_or_none()
        ]
        return status, rows

    def docs_or_none() -> list[dict]:
        try:
            return bot.documents()
        except AssistantError:
            return []

    def remove_api(name: str, request: gr.Request = None):
        if not may(request, "delete"):
            raise gr.Error(refusal(request))
        try:
            bot.remove_document(name)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        audit.append("delete", user_of(request), name, client_of(request))
        return f"removed {name}"

    # -- layout ----------------------------------------------------------------------
    with gr.Blocks(title="Dokumenten-Assistent", analytics_enabled=False) as demo:
        lang = gr.State("en")
        conv = gr.State(new_conversation())
        saved = gr.BrowserState([], storage_key="assistant-conversations", secret=STORAGE_SECRET)
        with gr.Row(elem_id="header"):
            with gr.Column(scale=3, min_width=260):
                title = gr.Markdown(f"{t('en', 'title')}\n{t('en', 'intro')}")
            switch = gr.Radio(
                [("Deutsch", "de"), ("English", "en")],
                value="en",
                label=t("en", "language"),
                elem_id="lang",
                scale=0,
                min_width=220,
            )
        mode = gr.Markdown(mode_line(bot, "en"), elem_id="mode")
        who = gr.HTML("", elem_id="who")
        with gr.Tabs():
            with (
                gr.Tab(t("en", "tab_chat"), id="chat-tab") as chat_tab,
                gr.Row(equal_height=False),
            ):
                with gr.Column(scale=3, min_width=340):
                    chatbot = gr.Chatbot(
                        show_label=False,
                        height=560,
                        elem_id="chat",
                        buttons=["copy"],
                        placeholder=t("en", "chat_placeholder"),
                    )
                    with gr.Row():
                        box = gr.Textbox(
                            placeholder=t("en", "box_placeholder"),
                            show_label=False,
                            scale=5,
                            autofocus=True,
                            elem_id="question",
                            max_lines=4,
                        )
                        send = gr.Button(
                            t("en", "send"), variant="primary", scale=1, elem_id="send"
                        )
                    examples = gr.Dataset(
                        components=[gr.Textbox(visible=False)],
                        samples=[[q] for q in EXAMPLES],
                        label=t("en", "examples"),
                        elem_id="examples",
                    )
                    new_chat = gr.Button(t("en", "new"), size="sm", elem_id="new")
                with gr.Column(scale=2, min_width=300):
                    sources_head = gr.Markdown(t("en", "sources"))
                    details = gr.Checkbox(label=t("en", "details"), value=False, elem_id="details")
                    sources = gr.HTML(sources_html([], "en"), elem_id="sources")
            # below chat and sources (on a phone too): the conversations of this browser
            with chat_tab:
                conv_list = gr.Radio(
                    [],
                    label=t("en", "conversations", n=0),
                    info=t("en", "no_conversations"),
                    elem_id="conversations",
                )
                delete_conv = gr.Button(
                    t("en", "delete_conversation"),
                    size="sm",
                    variant="stop",
                    elem_id="delete-conversation",
                )
            with (
                gr.Tab(t("en", "tab_docs"), id="docs-tab") as docs_tab,
                gr.Row(equal_height=False),
            ):
                with gr.Column(scale=3, min_width=320):
                    docs = gr.Dataframe(
                        headers=["Document", "Chunks", "Language", "Action"],
                        value=documents_rows(bot, "en"),
                        interactive=False,
                        wrap=True,
                        column_widths=["52%", "16%", "14%", "18%"],
                        label=t("en", "docs_label"),
                        elem_id="docs",
                    )
                    with gr.Row(visible=False, elem_id="confirm") as confirm_row:
                        confirm_text = gr.Markdown()
                        yes = gr.Button(t("en", "yes_delete"), variant="stop", elem_id="yes")
                        no = gr.Button(t("en", "cancel"), elem_id="cancel")
                    pending_delete = gr.State("")
                with gr.Column(scale=2, min_width=280, visible=not gate.required) as edit_col:
                    upload_btn = gr.UploadButton(
                        t("en", "upload", types=TYPES, mb=f"{bot.settings.max_upload_mb:g}"),
                        file_count="multiple",
                        file_types=list(SUPPORTED_SUFFIXES),  # the file picker offers these
                        elem_id="upload",
                        variant="primary",
                    )
                    replace = gr.Checkbox(label=t("en", "replace"), value=False, elem_id="replace")
                    status = gr.Markdown(elem_id="upload-status")
                    audit_table = gr.Dataframe(
                        headers=["Time (UTC)", "User", "Action", "File"],
                        value=[],
                        interactive=False,
                        wrap=True,
                        label=t("en", "audit_label"),
                        elem_id="audit",
                        visible=False,
                    )
        # programmatic access: hidden parts, conversation kept per client session
        api_in = gr.Textbox(visible=False)
        api_out = gr.Textbox(visible=False)
        api_json = gr.JSON(visible=False)
        api_files = gr.File(file_count="multiple", visible=False)
        api_replace = gr.Checkbox(visible=False)
        api_table = gr.Dataframe(headers=["file", "chunks", "language", "title"], visible=False)
        api_conversation = gr.State([])
        api_chat = gr.Button(visible=False)
        api_ask = gr.Button(visible=False)
        api_upload = gr.Button(visible=False)
        api_remove = gr.Button(visible=False)

        labelled = [
            lang,
            switch,
            title,
            mode,
            chat_tab,
            docs_tab,
            chatbot,
            box,
            send,
            new_chat,
            examples,
            delete_conv,
            sources_head,
            details,
            docs,
            upload_btn,
            replace,
            yes,
            no,
            sources,
            conv,
            conv_list,
            who,
            edit_col,
            audit_table,
        ]
        answer_outputs = [chatbot, box, sources, conv, saved, conv_list]
        private = {"api_visibility": "private"}

        demo.load(on_load, [switch, saved], labelled, js=DETECT_LANGUAGE_JS, **private)
        switch.input(None, [switch], None, js=SWITCH_LANGUAGE_JS, **private)
        switch.input(labels, [switch, conv, saved], labelled, **private)
        for trigger in (box.submit, send.click):
            trigger(
                respond,
                [box, conv, saved, lang],
                answer_outputs,
                concurrency_limit=None,
                **private,
            )
        examples.click(lambda sample: sample[0], [examples], [box], queue=False, **private).then(
            respond, [box, conv, saved, lang], answer_outputs, **private
        )
        chatbot.retry(retry, [conv, saved, lang], answer_outputs, **private)
        new_chat.click(
            start_new, [saved, lang], [chatbot, sources, conv, conv_list, box], **private
        )
        conv_list.input(
            open_conversation,
            [conv_list, saved, lang],
            [chatbot, sources, conv, conv_list],
            **private,
        )
        delete_conv.click(
            delete_conversation,
            [conv, saved, lang],
            [chatbot, sources, conv, conv_list, saved],
            **private,
        )
        details.change(None, [details], [details], js=DETAILS_JS, **private)

        upload_btn.upload(
            index_uploads,
            [upload_btn, replace, lang],
            [status],
            concurrency_limit=1,
            concurrency_id="index",
            **private,
        ).then(docs_update, [lang], [docs], **private).then(
            audit_update, [lang], [audit_table], **private
        ).then(lambda: gr.UploadButton(value=None), None, [upload_btn], **private)
        docs.select(ask_delete, [lang], [confirm_row, confirm_text, pending_delete], **private)
        yes.click(
            delete_document,
            [pending_delete, lang],
            [confirm_row, status, docs, audit_table],
            concurrency_limit=1,
            concurrency_id="index",
            **private,
        )
        no.click(lambda: gr.Row(visible=False), None, [confirm_row], **private)

        api_chat.click(
            chat_api,
            [api_in, api_conversation],
            [api_out, api_conversation],
            api_name="chat",
            concurrency_limit=None,
        )
        api_ask.click(
            ask_api,
            [api_in, api_conversation],
            [api_json, api_conversation],
            api_name="ask",
            concurrency_limit=None,
        )
        api_upload.click(
            upload_api,
            [api_files, api_replace],
            [api_out, api_table],
            api_name="upload",
            concurrency_limit=1,
            concurrency_id="index",
        )
        api_remove.click(
            remove_api,
            [api_in],
            [api_out],
            api_name="remove",
            concurrency_limit=1,
            concurrency_id="index",
        )
    return demo


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
        # read-only documents for the "open document" links and the log-in page,
        # registered before Gradio's own routes
        "app_kwargs": {
            "routes": [document_route(bot, gate), *gate.routes()],
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
