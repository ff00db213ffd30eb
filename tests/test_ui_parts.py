"""The browser app's pure parts: linked markers, escaped sources, labels, saved chats."""

from ui.app import (
    MAX_SAVED,
    chat_messages,
    document_label,
    document_url,
    linked_answer,
    save_conversation,
    sources_html,
)
from ui.conversations import conversation_choices, follow_up_history, renamed, when
from ui.routes import view_body
from ui.text import TEXT, examples, pick_language, t
from ui.uploads import KINDS, reason_kind, reason_text


def turn(answer="Laut [1]: „x“ und [2].", outcome="answered", citations=None):
    if citations is None:
        citations = [
            {
                "n": 1,
                "source": "a<b>.txt",
                "title": "",
                "page": None,
                "start": 3,
                "end": 9,
                "score": 2.5,
                "before": "<script>alert(1)</script>",
                "quote": "![bild](http://x/y.png)",
                "after": "",
            }
        ]
    return {
        "q": "Frage?",
        "answer": answer,
        "outcome": outcome,
        "confidence": 0.8,
        "citations": citations,
    }


def test_only_cited_markers_become_links_and_the_rest_is_literal():
    text = linked_answer("Laut [1]: „*fett* <b>x</b>“, siehe [7].", 3, {1})
    assert "[\\[1\\]](#src-3-1)" in text
    assert "(#src-3-7)" not in text and "\\[7\\]" in text
    assert "\\*fett\\*" in text and "\\<b\\>" in text


def test_sources_escape_document_text_and_open_the_first_passage():
    html = sources_html([turn()], "de")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "a&lt;b&gt;.txt" in html and "<img" not in html
    assert '<details class="source" id="src-1-1" open>' in html
    assert 'class="dev"' in html and "Zeichen 3–9" in html


def test_only_the_latest_answers_sources_are_shown():
    html = sources_html([turn(), turn()], "en")
    assert '<section class="answer-sources" data-turn="1" hidden>' in html
    assert '<section class="answer-sources" data-turn="2">' in html


def test_every_answer_carries_its_outcome_and_certainty_in_the_ui_language():
    messages = chat_messages([turn("Dazu steht nichts.", "declined", [])], "en")
    assert ">Not in the documents<" in messages[1]["content"]
    messages = chat_messages([turn("Nah dran [1].", "hedged")], "de")
    assert "Nicht direkt beantwortet – die nächstliegenden Stellen" in messages[1]["content"]
    head = chat_messages([turn()], "de")[1]["content"]
    assert ">Beantwortet<" in head and "Sicherheit: hoch" in head
    low = turn() | {"confidence": 0.44, "scope": ["a<b>.txt"]}
    head = chat_messages([low], "en", titles={"a<b>.txt": "Report"})[1]["content"]
    assert "Certainty: low" in head and "Searched only in: Report" in head


def test_sources_open_the_reading_view_or_say_the_document_is_gone():
    html = sources_html([turn()], "en", titles={"a<b>.txt": "A title"})
    assert 'href="view/a%3Cb%3E.txt?start=3&amp;end=9&amp;lang=en#passage"' in html
    assert "A title" in html
    gone = sources_html([turn()], "de", titles={})
    assert "entfernt" in gone and "view/" not in gone


def test_follow_up_history_carries_the_cited_sources():
    history = follow_up_history([turn()])
    assert history[1] == {"role": "assistant", "content": turn()["answer"], "sources": ["a<b>.txt"]}


def test_upload_reasons_in_the_ui_language_without_api_words():
    exists = (
        "river_facts.txt: a different file named river_facts.txt already exists; upload it "
        "under another name, or replace the existing file (replace=True)"
    )
    text = reason_text("river_facts.txt", exists, "de", "TXT", "1")
    assert "Vorhandene Dateien gleichen Namens ersetzen" in text
    assert "river_facts" not in text and "replace" not in text
    assert reason_kind("b.txt", "b.txt: same content as a.txt") == ("duplicate", {"other": "a.txt"})
    assert reason_kind("x.pdf", "broken PDF (PdfReadError: x)")[0] == "broken_pdf"
    assert reason_kind("x.txt", "binary content, not text")[0] == "not_text"
    assert reason_kind("x", "something new")[0] == "other"
    for kind, _ in KINDS:
        assert t("de", f"reason_{kind}", types="T", mb="1", other="o")


def test_examples_are_in_the_ui_language():
    assert all("Wer" in q or "Mit" in q or "Welch" in q for q in examples("de"))
    assert not set(examples("de")) & set(examples("en"))


def test_document_title_beside_the_file_name_or_the_file_name_alone():
    assert document_label({"source": "a.pdf", "title": "Jahresbericht  2025"}) == (
        "Jahresbericht 2025 · a.pdf"
    )
    assert document_label({"source": "a.pdf"}) == "a.pdf"
    assert document_label({"source": "a.pdf", "title": "a.pdf"}) == "a.pdf"


def test_document_urls_are_quoted_and_pdfs_open_at_the_page():
    assert document_url("Bericht 1#2.pdf", 4) == "document/Bericht%201%232.pdf#page=4"
    assert document_url("a.txt") == "document/a.txt"


def test_saved_conversations_most_recent_first_and_bounded():
    saved = []
    for i in range(MAX_SAVED + 5):
        saved = save_conversation(saved, {"id": str(i), "title": str(i), "turns": [turn()]})
    assert len(saved) == MAX_SAVED and saved[0]["id"] == str(MAX_SAVED + 4)
    again = str(MAX_SAVED)  # an existing one, saved again, moves to the front once
    saved = save_conversation(saved, {"id": again, "title": "neu", "turns": [turn()]})
    assert saved[0] == {"id": again, "title": "neu", "turns": [turn()]}
    assert [c["id"] for c in saved].count(again) == 1 and len(saved) == MAX_SAVED
    assert save_conversation([{"id": "x", "turns": []}], {"id": "y", "turns": []}) == [
        {"id": "x", "turns": []}
    ]


def test_languages_have_the_same_strings_and_locales_map():
    assert set(TEXT["de"]) == set(TEXT["en"])
    assert pick_language("de-AT") == "de" and pick_language("fr-FR") == "en"
    assert pick_language(None) == "en"
    assert t("de", "too_long", n=2500, max=2000).startswith("Die Frage ist zu lang (2500")


def test_bold_pairs_render_and_no_lone_asterisks_are_left():
    text = linked_answer(
        "According to the German source [1], the answer is **1856**: “Er wurde **1856** geboren.”",
        2,
        {1},
    )
    assert "the answer is **1856**:" in text  # rendered as bold: markdown, not literal
    assert "wurde **1856** geboren" in text
    lone = linked_answer("a ** b *c* [1]", 1, {1})
    assert "**" not in lone and "\\*c\\*" in lone


def test_conversations_listed_with_their_date_and_found_by_search():
    now = 1_765_000_000.0
    saved = [
        {"id": "a", "title": "CEO", "turns": [turn()], "updated": now},
        {
            "id": "b",
            "title": "Curie",
            "turns": [turn("Marie Curie [1].")],
            "updated": 1.0e9 + 36000,
        },
    ]
    assert when(now, "de", now).startswith("heute ")
    noon = 1.0e9 + 36000  # 2001-09-09 around noon in any usual time zone
    assert when(noon, "de", now) == "09.09.2001" and when(noon, "en", now) == "2001-09-09"
    assert [v for _, v in conversation_choices(saved, "de", "marie")] == ["b"]
    assert [v for _, v in conversation_choices(saved, "de", "")] == ["a", "b"]
    conv, renamed_list = renamed(saved, saved[1], "  Physik  ")
    assert conv["title"] == "Physik" and renamed_list[1]["title"] == "Physik"


def test_reading_view_of_a_pdf_shows_the_cited_page_with_the_passage_marked():
    doc = {
        "text": "Seite eins.\n\nSeite zwei <b>mit</b> dem Treffen.\n\nSeite drei.",
        "pages": [0, 13, 48],
    }
    start = doc["text"].index("dem Treffen")
    meta, body = view_body(doc, start, start + 11, "de")
    assert meta == "Seite 2 von 3"
    assert body.startswith("Seite zwei &lt;b&gt;mit&lt;/b&gt; ")  # escaped, page 2 only
    assert '<mark id="passage">dem Treffen</mark>' in body and "drei" not in body
    meta, body = view_body({"text": "kurz", "pages": []}, 50, 60, "en")  # offsets off: no mark
    assert meta == "" and body == "kurz"
