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
from ui.text import TEXT, pick_language, t


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


def test_declined_answers_carry_a_label_in_the_ui_language():
    messages = chat_messages([turn("Dazu steht nichts.", "declined", [])], "en")
    assert 'class="outcome">not in the documents<' in messages[1]["content"]
    messages = chat_messages([turn("Nah dran [1].", "hedged")], "de")
    assert "nicht direkt beantwortet" in messages[1]["content"]
    assert "outcome" not in chat_messages([turn()], "de")[1]["content"]


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


def test_the_short_answer_renders_bold_and_document_asterisks_stay_literal():
    text = linked_answer(
        "According to the German source [1], the answer is **1856**: “Er wurde **1856** geboren.”",
        2,
        {1},
    )
    assert "the answer is **1856**:" in text  # rendered as bold, no literal asterisks
    assert "wurde \\*\\*1856\\*\\* geboren" in text  # the document's own stay escaped
