"""Plain text, Markdown and HTML: decoding by byte order mark, the visible text of a
page, and each format's title."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

from assistant.ingest.document import TITLE_MAX_CHARS, LoadError, clean_title


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    if not head:
        return False
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return control / len(head) > 0.05


# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _control_heavy(text: str) -> bool:
    head = text[:8192]
    control = sum(1 for c in head if ord(c) < 32 and c not in "\t\n\f\r")
    return bool(head) and control / len(head) > 0.05


def decode_text(data: bytes) -> str:
    """Decode bytes of a text file: by its byte order mark (UTF-8, UTF-16, UTF-32),
    else UTF-8, else cp1252."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(f"invalid {encoding.upper()} text ({exc.reason})") from exc
            if "\x00" in text[:8192] or _control_heavy(text):
                raise LoadError("binary content, not text")
            return text
    if _looks_binary(data):
        raise LoadError("binary content, not text")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise LoadError("unknown text encoding")


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, with whitespace collapsed as a browser would."""

    PARAGRAPHS = {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "title",
        "main",
        "aside",
        "dl",
    }
    LINES = {"br", "li", "tr", "dt", "dd"}
    HIDDEN = {"script", "style", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._head = False
        self.title: list[str] = []  # text of <title>
        self.h1: list[str] = []  # text of the first <h1>
        self._capture: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title" and not self.title:
            self._capture = self.title
        elif tag == "h1" and not self.h1:
            self._capture = self.h1
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag == "head":
            self._head = True
        elif tag == "pre":
            self._pre += 1
        if tag in self.PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in self.LINES:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "h1"):
            self._capture = None
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1
        elif tag == "head":
            self._head = False
        elif tag == "pre" and self._pre:
            self._pre -= 1
        if tag in self.PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        in_title = self._head and self.lasttag == "title"
        if self._capture is not None and not self._hidden:
            self._capture.append(data)
        if self._hidden or (self._head and not in_title):
            return
        data = data.replace("\xa0", " ")
        self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_and_title(markup: str) -> tuple[str, str | None]:
    """Visible text of a page and its title (<title>, else the first <h1>)."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    title = clean_title("".join(parser.title)) or clean_title("".join(parser.h1))
    return text, title


def html_to_text(markup: str) -> str:
    return html_and_title(markup)[0]


def first_line_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return clean_title(line) if len(line.strip()) <= TITLE_MAX_CHARS else None
    return None


_MD_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)[ \t#]*$", re.M)
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_MD_SETEXT = re.compile(r"^(\S.*)\n {0,3}=+[ \t]*$", re.M)


def markdown_title(text: str) -> str | None:
    """The first level-1 heading (``# x`` or underlined with ``===``), else any heading."""
    found = [m for m in (_MD_H1.search(text), _MD_SETEXT.search(text)) if m]
    if found:
        return clean_title(min(found, key=lambda m: m.start()).group(1))
    heading = _MD_HEADING.search(text)
    return clean_title(heading.group(1)) if heading else None
