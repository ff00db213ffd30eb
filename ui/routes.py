"""Read-only routes beside the Gradio app: a document's file (``/document/NAME``) and a
reading view of its text scrolled to a cited passage (``/view/NAME?start=&end=``).

Only names the index lists are served, and only to a logged-in user when log-in is
required. Document text is escaped and the view runs no script; HTML and markdown
files come back as plain text with a sandboxing policy.
"""

from __future__ import annotations

import bisect
import html
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from assistant import Assistant
from assistant.errors import AssistantError
from assistant.ingest.loaders import FORMATS
from ui.auth import Gate, gate_for, not_logged_in
from ui.text import pick_language, t

# Served back as sandboxed plain text: a hostile HTML or markdown file cannot run script.
SHOWN_AS_TEXT = FORMATS["txt"] + FORMATS["md"] + FORMATS["html"]
VIEW_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
VIEW_CSS = """
body { font: 16px/1.6 ui-sans-serif, system-ui, sans-serif; max-width: 50rem;
  margin: 0 auto; padding: 1rem 1.25rem 40vh; color: #111827; background: #fff; }
header { border-bottom: 1px solid #e5e7eb; margin-bottom: 1rem; }
h1 { font-size: 1.3rem; margin: .2rem 0; overflow-wrap: anywhere; }
.meta { color: #6b7280; font-size: .9rem; margin: .2rem 0 .6rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font: inherit; margin: 0; }
mark { background: #fde68a; outline: 3px solid #f59e0b; scroll-margin-top: 35vh; }
.gone { padding: 1rem; border: 1px solid #f59e0b; background: #fffbeb; border-radius: 6px; }
"""


def document_titles(bot: Assistant) -> dict[str, str] | None:
    """Indexed file name -> title; None when the index cannot be read (nothing is
    then called removed)."""
    try:
        return {d["source"]: d.get("title") or "" for d in bot.documents()}
    except AssistantError:
        return None


def document_route(bot: Assistant, gate: Gate | None = None) -> Route:
    """``GET /document/NAME``: an indexed document's file, read-only."""
    gate = gate or gate_for(bot)

    async def endpoint(request: Request) -> Response:
        if not gate.request_allows(request, "read"):
            return not_logged_in()
        name = request.path_params["source"]
        corpus = Path(bot.settings.corpus_dir).resolve()
        path = (corpus / name).resolve()
        if name not in (document_titles(bot) or {}) or not path.is_relative_to(corpus):
            return PlainTextResponse("not an indexed document", status_code=404)
        if not path.is_file():
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
        return FileResponse(
            path,
            media_type=media,
            headers=headers,
            filename=path.name,
            content_disposition_type="attachment" if suffix in FORMATS["docx"] else "inline",
        )

    return Route("/document/{source:path}", endpoint, methods=["GET", "HEAD"])


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def page_of(pages: list[int], offset: int) -> int:
    """The 1-based page an offset falls on (``pages``: where each page starts)."""
    return max(1, bisect.bisect_right(pages, offset))


def view_body(doc: dict, start: int | None, end: int | None, lang: str) -> tuple[str, str]:
    """The document's text (a PDF: the cited page's), the passage marked as #passage."""
    text, pages = doc["text"], doc.get("pages") or []
    lo, hi = 0, len(text)
    meta = ""
    if pages and start is not None:
        p = page_of(pages, start)
        lo, hi = pages[p - 1], pages[p] if p < len(pages) else len(text)
        meta = t(lang, "view_page", p=p, n=len(pages))
    if start is None or end is None or not (lo <= start < end <= len(text)):
        return meta, html.escape(text[lo:hi])
    end = min(end, hi)
    marked = (
        html.escape(text[lo:start])
        + f'<mark id="passage">{html.escape(text[start:end])}</mark>'
        + html.escape(text[end:hi])
    )
    return meta, marked


def view_page(title: str, meta: str, body: str, lang: str, gone: bool = False) -> str:
    main = f'<p class="gone">{body}</p>' if gone else f"<pre>{body}</pre>"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{VIEW_CSS}</style></head><body>"
        f'<header><h1 id="view-title">{html.escape(title)}</h1>'
        f'<p class="meta" id="view-meta">{html.escape(meta)}</p></header>'
        f'<main id="view-text">{main}</main></body></html>'
    )


def view_route(bot: Assistant, gate: Gate | None = None) -> Route:
    """``GET /view/NAME?start=S&end=E&lang=de``: the reading view of one document."""
    gate = gate or gate_for(bot)

    async def endpoint(request: Request) -> Response:
        if not gate.request_allows(request, "read"):
            return not_logged_in()
        name = request.path_params["source"]
        lang = pick_language(request.query_params.get("lang"))
        headers = {"Content-Security-Policy": VIEW_POLICY, "Cache-Control": "no-store"}
        try:
            doc = bot.document_text(name)
        except AssistantError:
            gone = html.escape(t(lang, "view_gone", name=name))
            page = view_page(t(lang, "view_title", title=name), "", gone, lang, gone=True)
            return HTMLResponse(page, status_code=404, headers=headers)
        start = _int(request.query_params.get("start"))
        end = _int(request.query_params.get("end"))
        meta, body = view_body(doc, start, end, lang)
        title = doc.get("title") or name
        return HTMLResponse(view_page(title, meta, body, lang), headers=headers)

    return Route("/view/{source:path}", endpoint, methods=["GET"])
