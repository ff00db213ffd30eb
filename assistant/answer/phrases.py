"""Every sentence the assistant says inside an answer, in German and English.

Kept in one module so wording and translations are changed and reviewed together, and
tests compare against the same text the answerers use. The UI's own labels live in
``ui/text.py``; an :class:`~assistant.errors.LLMError` carries its German message
beside its English one where it is raised.
"""

from __future__ import annotations

DECLINE = {
    "de": "Dazu steht nichts in den Dokumenten, daher kann ich die Frage nicht beantworten.",
    "en": "The documents do not say, so I cannot answer that question.",
}
NOT_A_QUESTION = {
    "de": "Das sieht nicht nach einer Frage aus. Stell eine Frage zu den Dokumenten.",
    "en": "That does not look like a question. Ask a question about the documents.",
}
# the question's language is neither, so the answer says it in both
UNSUPPORTED_LANGUAGE = (
    "Ich beantworte Fragen auf Deutsch oder Englisch. / I answer questions in German or English."
)
HEDGE = {
    "de": "Die Dokumente beantworten das nicht direkt. Am nächsten kommt {where}[1]: {quote}",
    "en": "The documents do not answer this directly. The closest passage is {where}[1]: {quote}",
}
# several closest passages, each on its own line behind its marker
HEDGE_MANY = {
    "de": "Die Dokumente beantworten das nicht direkt. Am nächsten kommen diese Stellen:",
    "en": "The documents do not answer this directly. These passages come closest:",
}
HEDGE_WHERE = {"de": "in der {other}Quelle ", "en": "in the {other}source "}
# after a model's decline on a subject the documents do cover: the passages it passed over
MODEL_HEDGE = {
    "de": "Die Dokumente behandeln das Thema aber. Am nächsten kommen diese Stellen:",
    "en": "The documents do cover the subject, though. These passages come closest:",
}
UNCITED_NOTICE = {
    "de": "Hinweis: Das Modell hat keine Quelle angegeben; diese Antwort ist nicht belegt.",
    "en": "Note: the model cited no source; this answer is not backed by the documents.",
}
FALLBACK_NOTICE = {
    "de": "Hinweis: {why}; diese Antwort wurde offline aus den Dokumenten zitiert.",
    "en": "Note: {why}; this answer was quoted from the documents offline.",
}
WAITING = {
    "de": "Warte auf das Modell {name} … {seconds:.0f} s (höchstens {limit} s)",
    "en": "Waiting for the model {name} … {seconds:.0f} s (at most {limit} s)",
}
# the language the model is told to answer in
LANG_NAME = {"de": "German", "en": "English"}

# One cited quote of an extractive answer: (first quote, each further quote).
CITED = {
    "de": ("Laut [{n}]: {quote}", "Außerdem laut [{n}]: {quote}"),
    "en": ("According to [{n}]: {quote}", "Also, according to [{n}]: {quote}"),
}
# The same from a source in the other language, naming it and, when found, the answer.
CITED_OTHER = {
    "de": (
        "Laut der {other}Quelle [{n}]{found}: {quote}",
        "Außerdem laut der {other}Quelle [{n}]{found}: {quote}",
    ),
    "en": (
        "According to the {other}source [{n}]{found}: {quote}",
        "Also, according to the {other}source [{n}]{found}: {quote}",
    ),
}
FOUND = {"de": ", die Antwort ist **{span}**", "en": ", the answer is **{span}**"}
# a source's language as an adjective before "Quelle"/"source", by answer language
SOURCE_LANGUAGE = {
    "de": {"de": "deutschen ", "en": "englischen "},
    "en": {"de": "German ", "en": "English "},
}
QUOTE_MARKS = {"de": ("„", "“"), "en": ("“", "”")}


def quote(lang: str, text: str) -> str:
    """``text`` on one line in the answer language's quotation marks."""
    opening, closing = QUOTE_MARKS[lang]
    return f"{opening}{' '.join(text.split())}{closing}"


def source_language(lang: str, doc_lang: str) -> str:
    """How an answer in ``lang`` names a source in ``doc_lang`` ("" when they match)."""
    if doc_lang == lang:
        return ""
    return SOURCE_LANGUAGE[lang].get(doc_lang, SOURCE_LANGUAGE[lang]["de"])


def cited(lang: str, i: int, text: str, doc_lang: str, span: str | None = None) -> str:
    """The ``i``-th (0-based) cited quote of an answer, behind its marker [i+1]."""
    other = source_language(lang, doc_lang)
    first_or_more = 0 if i == 0 else 1
    if not other:
        return CITED[lang][first_or_more].format(n=i + 1, quote=quote(lang, text))
    found = FOUND[lang].format(span=span) if span else ""
    return CITED_OTHER[lang][first_or_more].format(
        n=i + 1, other=other, found=found, quote=quote(lang, text)
    )


def hedge(lang: str, passages: list[tuple[str, str]], lead: str | None = None) -> str:
    """Not answered directly: the closest passages, (text, document language) each;
    ``lead`` replaces the opening sentence of several passages."""
    if len(passages) == 1 and lead is None:
        text, doc_lang = passages[0]
        other = source_language(lang, doc_lang)
        where = HEDGE_WHERE[lang].format(other=other) if other else ""
        return HEDGE[lang].format(where=where, quote=quote(lang, text))
    lines = [lead or HEDGE_MANY[lang]]
    for n, (text, doc_lang) in enumerate(passages, 1):
        other = source_language(lang, doc_lang)
        where = f" ({HEDGE_WHERE[lang].format(other=other).strip()})" if other else ""
        lines.append(f"[{n}]{where}: {quote(lang, text)}")
    return "\n\n".join(lines)
