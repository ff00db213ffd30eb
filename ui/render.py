"""What the chat shows, as pure functions of the stored turns (JSON in the browser).

Document text is untrusted: it is escaped for markdown or HTML everywhere. The
assistant's own markup in an answer (``**short answer**``) renders as bold; no literal
``**`` is left in a bubble.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

from assistant import Answer
from ui.text import t

CONTEXT_CHARS = 280

_MD_ACTIVE = re.compile(r"([\\`*_\[\]()!<>|#~])")
_MARKER = re.compile(r"\[(\d+)\]")
_BOLD = re.compile(r"\*\*(\S(?:[^*\n]*?\S)?)\*\*")


def md_escape(text: str) -> str:
    """Render document text literally: no links, images or HTML from untrusted files."""
    return _MD_ACTIVE.sub(r"\\\1", text).replace("://", ":\\/\\/")  # no autolinks either


def _plain_markdown(text: str) -> str:
    """``text`` with its ``**bold**`` pairs rendered and everything else literal; a lone
    ``**`` (an unpaired one) is dropped rather than shown."""
    out, pos = [], 0
    for m in _BOLD.finditer(text):
        out.append(md_escape(text[pos : m.start()].replace("**", "")))
        out.append(f"**{md_escape(m.group(1))}**")
        pos = m.end()
    out.append(md_escape(text[pos:].replace("**", "")))
    return "".join(out)


def linked_answer(text: str, turn: int, cited: set[int]) -> str:
    """The answer as markdown whose [n] markers link to passage n of answer ``turn``."""
    out, pos = [], 0
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if n not in cited:
            continue
        out.append(_plain_markdown(text[pos : m.start()]))
        out.append(f"[\\[{n}\\]](#src-{turn}-{n})")
        pos = m.end()
    out.append(_plain_markdown(text[pos:]))
    return "".join(out)


def _trim(before: str, after: str) -> tuple[str, str]:
    """Keep about CONTEXT_CHARS of surrounding text on each side, cut at word boundaries."""
    before, after = " ".join(before.split()), " ".join(after.split())
    if len(before) > CONTEXT_CHARS:
        before = "… " + before[-CONTEXT_CHARS:].split(" ", 1)[-1]
    if len(after) > CONTEXT_CHARS:
        after = after[:CONTEXT_CHARS].rsplit(" ", 1)[0] + " …"
    return before, after


def document_url(source: str, page: int | None = None) -> str:
    """Where the app serves an indexed document's file; PDF viewers jump to ``#page=N``."""
    url = "document/" + url_quote(source)
    return f"{url}#page={page}" if page else url


def view_url(source: str, start: int, end: int, lang: str) -> str:
    """The app's reading view of a document, scrolled to and marking ``start..end``."""
    query = urlencode({"start": int(start), "end": int(end), "lang": lang})
    return f"view/{url_quote(source)}?{query}#passage"


def make_turn(
    question: str, answer: Answer, titles: dict[str, str], scope: list[str] | None = None
) -> dict:
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
        "sources": list(dict.fromkeys(c["source"] for c in citations)),
        "scope": list(getattr(answer, "scope", None) or scope or []),
    }


def certainty(confidence: float) -> str:
    """The answerer's confidence in plain words: high, medium or low."""
    if confidence >= 0.75:
        return "high"
    return "medium" if confidence >= 0.5 else "low"


def outcome_html(turn: dict, lang: str, titles: dict[str, str] | None = None) -> str:
    """The label every answer starts with: outcome, certainty, and the scope if any."""
    outcome = turn.get("outcome") if turn.get("outcome") in ("hedged", "declined") else "answered"
    level = t(lang, f"certainty_{certainty(float(turn.get('confidence') or 0))}")
    parts = [
        f'<span class="outcome outcome-{outcome}">{html.escape(t(lang, f"outcome_{outcome}"))}'
        f"</span>",
        f'<span class="certainty">{html.escape(t(lang, "certainty", level=level))}</span>',
    ]
    scope = turn.get("scope") or []
    if scope:
        names = ", ".join((titles or {}).get(s) or s for s in scope)
        parts.append(f'<span class="scope">{html.escape(t(lang, "scope_line", docs=names))}</span>')
    return '<p class="answer-head">' + " ".join(parts) + "</p>\n\n"


def _source_label(c: dict, titles: dict[str, str] | None) -> str:
    """The document's title (the index's, else the stored one), the file name small."""
    title = (titles or {}).get(c["source"]) or c.get("title") or ""
    name = html.escape(c["source"])
    if not title:
        return f'<span class="title">{name}</span>'
    return f'<span class="title">{html.escape(title)}</span> <span class="file">· {name}</span>'


def source_html(
    k: int, c: dict, lang: str, titles: dict[str, str] | None, opened: bool, prefix: str = "src"
) -> str:
    """One cited passage: highlighted in its surrounding text, and a link to the reading
    view of its document (or, for a removed document, words that say so)."""
    where = [t(lang, "page", p=c["page"])] if c.get("page") else []
    dev = [t(lang, "chars", s=c["start"], e=c["end"]), t(lang, "score", x=c["score"])]
    gone = titles is not None and c["source"] not in titles
    if gone:
        link = f'<span class="gone">{html.escape(t(lang, "open_gone"))}</span>'
    else:
        text = t(lang, "open_page", p=c["page"]) if c.get("page") else t(lang, "open")
        href = html.escape(view_url(c["source"], c["start"], c["end"], lang))
        link = (
            f'<a class="open" href="{href}" target="_blank" rel="noopener">{html.escape(text)}</a>'
        )
    return (
        f'<details class="source" id="{prefix}-{k}-{c["n"]}"{" open" if opened else ""}>'
        f"<summary>[{c['n']}] {_source_label(c, titles)}"
        + (f" · {html.escape(', '.join(where))}" if where else "")
        + "</summary>"
        f"<blockquote>{html.escape(c['before'])} <mark>{html.escape(c['quote'])}</mark>"
        f" {html.escape(c['after'])}</blockquote>{link} "
        f'<span class="dev">· {html.escape(" · ".join(dev))}</span></details>'
    )


def inline_sources(k: int, turn: dict, lang: str, titles: dict[str, str] | None) -> str:
    """The passages under their answer (shown on a phone, where the panel is far away)."""
    if not turn["citations"]:
        return ""
    items = "".join(
        source_html(k, c, lang, titles, i == 0, "isrc") for i, c in enumerate(turn["citations"])
    )
    label = html.escape(t(lang, "sources").lstrip("# "))
    return f'\n\n<div class="inline-sources" data-turn="{k}"><p>{label}</p>{items}</div>'


def chat_messages(
    turns: list[dict],
    lang: str,
    pending: tuple[str, str] | None = None,
    titles: dict[str, str] | None = None,
) -> list:
    """The chat as Gradio messages: questions, and answers with their outcome label,
    linked [n] markers and (for phones) their sources underneath."""
    messages: list[dict] = []
    for k, turn in enumerate(turns, 1):
        cited = {c["n"] for c in turn["citations"]}
        messages.append({"role": "user", "content": md_escape(turn["q"])})
        content = (
            outcome_html(turn, lang, titles)
            + linked_answer(turn["answer"], k, cited)
            + inline_sources(k, turn, lang, titles)
        )
        messages.append({"role": "assistant", "content": content})
    if pending is not None:
        messages.append({"role": "user", "content": md_escape(pending[0])})
        messages.append({"role": "assistant", "content": _plain_markdown(pending[1]) or "…"})
    return messages


def sources_html(turns: list[dict], lang: str, titles: dict[str, str] | None = None) -> str:
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
            parts.append(source_html(k, c, lang, titles, i == 0))
        parts.append("</section>")
        sections.append("".join(parts))
    return "".join(sections)


def document_label(doc: dict) -> str:
    """The readable title next to the file name; the file name alone when there is none."""
    title = " ".join(str(doc.get("title") or "").split())
    return f"{title} · {doc['source']}" if title and title != doc["source"] else doc["source"]
