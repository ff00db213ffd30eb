"""The Gradio app as a program meets it: a real server on a free local port, driven by
gradio_client (the browser tests are in test_ui_browser.py)."""

import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from assistant import Assistant
from conftest import ARTICLE, make_settings
from helpers.pdf import make_pdf
from helpers.served import served, ui_corpus
from ui.app import build_app

pytestmark = pytest.mark.slow

QUOTE = re.compile(r"\[(\d+)\][^„“]*[„“]([^“”]+)[“”]")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    ui_corpus(tmp / "corpus")
    bot = Assistant(make_settings(tmp, max_upload_mb=1.0))
    bot.index()
    with served(bot) as (demo, url):
        yield {"url": url, "bot": bot, "corpus": tmp / "corpus", "demo": demo}


@pytest.fixture
def client(server):
    return Client(server["url"], verbose=False)


def quotes(answer: str) -> dict[int, str]:
    return {int(n): q for n, q in QUOTE.findall(answer)}


def test_binds_to_loopback(server):
    assert server["demo"].server_name == "127.0.0.1"


def test_german_question_answered_with_real_citations(client):
    answer = client.predict("Wer ist der CEO des Pakistan Crypto Council?", api_name="/chat")
    cited = quotes(answer)
    article = ARTICLE.read_text(encoding="utf-8")
    assert 1 in cited and all(q in article for q in cited.values())
    assert any("Bilal bin Saqib" in q for q in cited.values())


def test_english_question_answered_with_real_citations(client):
    # (the refitted answerer hedges on "Who is the US ambassador mentioned?")
    answer = client.predict("With which US ambassador were plans discussed?", api_name="/chat")
    assert answer.startswith("According to") and "[1]" in answer
    assert "Natalie Baker" in quotes(answer)[1]


def test_twenty_parallel_chats_are_all_answered(server):
    """Load: 20 browser sessions ask at once; every one gets its own, checked answer."""
    from concurrent.futures import ThreadPoolExecutor

    article = ARTICLE.read_text(encoding="utf-8")
    questions = [
        "Wer ist der CEO des Pakistan Crypto Council?",
        "Who is the CEO of the Pakistan Crypto Council?",
        "Wann wurde Marie Curie geboren?",
        "Wer wurde in Ulm geboren?",
    ] * 5

    def one(question: str) -> tuple[str, str]:
        return question, Client(server["url"], verbose=False).predict(question, api_name="/chat")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, questions))
    assert len(results) == 20
    for question, answer in results:
        cited = quotes(answer)
        assert cited, (question, answer)
        if "CEO" in question:
            assert any(
                "Bilal bin Saqib" in q and " ".join(q.split()) in " ".join(article.split())
                for q in cited.values()
            )
        elif "Curie" in question:
            assert any("1867" in q for q in cited.values())
        else:
            assert any("Einstein" in q for q in cited.values())


def test_follow_ups_use_each_sessions_own_conversation(server):
    alice, bob = Client(server["url"], verbose=False), Client(server["url"], verbose=False)
    assert "Einstein" in alice.predict("Wer wurde in Ulm geboren?", api_name="/chat")
    assert "Curie" in bob.predict("Wer wurde in Warschau geboren?", api_name="/chat")
    jobs = [
        alice.submit("Wann wurde er geboren?", api_name="/chat"),
        bob.submit("Wann wurde sie geboren?", api_name="/chat"),
    ]
    alice_answer, bob_answer = (job.result(timeout=60) for job in jobs)
    assert "1879" in quotes(alice_answer)[1] and "1867" in quotes(bob_answer)[1]


def test_ask_endpoint_exposes_outcome_and_confidence(client):
    data = client.predict("Wer ist der CEO des Pakistan Crypto Council?", api_name="/ask")
    assert data["outcome"] == "answered" and data["declined"] is False
    assert 0 <= data["confidence"] <= 1 and "Bilal bin Saqib" in data["citations"][0]["quote"]
    data = client.predict("What is the boiling point of water at sea level?", api_name="/ask")
    assert data["declined"] is True and data["outcome"] in ("hedged", "declined")
    # /chat keeps returning plain text for existing programs
    text = client.predict("Mit welcher US-Botschafterin sprach er?", api_name="/chat")
    assert isinstance(text, str) and "Natalie Baker" in text


def test_documents_are_served_read_only_and_only_when_indexed(server):
    url = server["url"] + "document/"
    with urllib.request.urlopen(url + ARTICLE.name) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        assert r.read().decode() == ARTICLE.read_text(encoding="utf-8")
    with urllib.request.urlopen(url + "logo.md") as r:  # markdown/HTML never runs as a page
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert r.headers["Content-Type"].startswith("text/plain")
    (server["corpus"] / "nicht-indexiert.txt").write_text("noch nicht im Index")
    (server["corpus"].parent / "geheim.txt").write_text("geheim")
    for name in ("nicht-indexiert.txt", "..%2Fgeheim.txt", "%2Fetc%2Fpasswd", "../geheim.txt"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + name)
        assert err.value.code == 404, name
    request = urllib.request.Request(url + ARTICLE.name, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 405
    (server["corpus"] / "nicht-indexiert.txt").unlink()


def test_remove_endpoint(server, client):
    server["bot"].add_document("weg.txt", b"Der Leuchtturm von Quarzhafen ist rot.")
    assert client.predict("weg.txt", api_name="/remove") == "removed weg.txt"
    assert not (server["corpus"] / "weg.txt").exists()
    with pytest.raises(Exception, match="not an indexed document"):
        client.predict("../conftest.py", api_name="/remove")


def test_upload_becomes_answerable_at_once(server, client, tmp_path):
    pdf = tmp_path / "protokoll.pdf"
    pdf.write_bytes(
        make_pdf(
            [["Protokoll der Sitzung."], ["Das nächste Treffen findet am 14. Mai in Lahore statt."]]
        )
    )
    status, table = client.predict([handle_file(str(pdf))], api_name="/upload")
    assert "Indexed: protokoll.pdf" in status
    assert "protokoll.pdf" in [row[0] for row in table["data"]]
    answer = client.predict("Wo findet das nächste Treffen statt?", api_name="/chat")
    assert "Lahore" in quotes(answer)[1]
    assert (server["corpus"] / "protokoll.pdf").exists()
    with urllib.request.urlopen(server["url"] + "document/protokoll.pdf") as r:  # the PDF opens
        assert r.headers["Content-Type"] == "application/pdf"
        assert r.read() == pdf.read_bytes()


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("programm.exe", b"MZ\x90\x00binary", "unsupported file type"),
        ("bild.txt", bytes(range(256)) * 8, "binary"),
        ("kaputt.pdf", b"%PDF-1.4 broken", "broken PDF"),
        ("riesig.txt", b"Wort " * 300_000, "too large"),
    ],
)
def test_rejected_upload_says_why_and_changes_nothing(server, client, tmp_path, name, data, reason):
    before = sorted(os.listdir(server["corpus"]))
    path = tmp_path / name
    path.write_bytes(data)
    status, _ = client.predict([handle_file(str(path))], api_name="/upload")
    assert f"Rejected: {name}" in status and reason in status
    assert sorted(os.listdir(server["corpus"])) == before


def test_upload_names_cannot_escape_the_corpus(server, tmp_path):
    evil = "../../ausbruch.txt"
    report = server["bot"].add_document(evil, "Harmloser Inhalt über Lahore.".encode())
    assert report.added == ["ausbruch.txt"]
    assert (server["corpus"] / "ausbruch.txt").exists()
    assert not (server["corpus"].parent / "ausbruch.txt").exists()
    assert not Path("/ausbruch.txt").exists()


def test_indexing_does_not_freeze_other_chats(server, client, tmp_path):
    big = tmp_path / "lang.txt"
    big.write_text(
        " ".join(f"Absatz {i}: Die Stadt Nummer {i} hat {i * 7} Einwohner." for i in range(800))
    )
    upload = client.submit([handle_file(str(big))], api_name="/upload")
    other = Client(server["url"], verbose=False)
    answer = other.predict("Wer ist der CEO des Pakistan Crypto Council?", api_name="/chat")
    assert "Bilal bin Saqib" in answer
    assert not upload.done()  # the chat was answered while indexing still ran
    assert "Indexed: lang.txt" in upload.result(timeout=240)[0]


def test_refused_question_leaves_the_conversation_and_returns_to_the_box(tmp_path):
    """No index yet: the question is refused, the chat stays as it was, the box keeps it."""
    (tmp_path / "corpus").mkdir()
    demo = build_app(Assistant(make_settings(tmp_path)))
    (respond,) = [f.fn for f in demo.fns.values() if f.name == "respond"][:1]
    conversation = {"id": "c1", "title": "", "turns": [], "updated": 0}
    with pytest.warns(UserWarning, match="Noch kein Index"):
        yields = list(respond("Wer ist der CEO?", conversation, [], "de"))
    chat, box, *rest = yields[-1]
    assert chat == [] and box == "Wer ist der CEO?"
    assert all(not isinstance(x, dict) or "turns" not in x for x in rest)  # nothing saved


def test_replacing_a_document_is_an_explicit_choice(server, client, tmp_path):
    path = tmp_path / "ersetzen.txt"
    path.write_text("Die Fähre nach Quarzhafen fährt um acht Uhr ab.", encoding="utf-8")
    status, _ = client.predict([handle_file(str(path))], False, api_name="/upload")
    assert "Indexed: ersetzen.txt" in status
    path.write_text("Die Fähre nach Quarzhafen fährt um neun Uhr ab.", encoding="utf-8")
    status, _ = client.predict([handle_file(str(path))], False, api_name="/upload")
    assert "Rejected: ersetzen.txt" in status
    assert "acht" in (server["corpus"] / "ersetzen.txt").read_text(encoding="utf-8")
    status, _ = client.predict([handle_file(str(path))], True, api_name="/upload")
    assert "Replaced and indexed: ersetzen.txt" in status
    assert "neun" in (server["corpus"] / "ersetzen.txt").read_text(encoding="utf-8")
    server["bot"].remove_document("ersetzen.txt")


def test_chat_and_ask_take_a_list_of_documents(client):
    data = client.predict("Wer erhielt einen Nobelpreis?", ["curie.txt"], api_name="/ask")
    assert data["scope"] == ["curie.txt"]
    assert {c["source"] for c in data["citations"]} <= {"curie.txt"}
    text = client.predict("Wer erhielt einen Nobelpreis?", ["einstein.txt"], api_name="/chat")
    assert "Einstein" in text and "Curie" not in text
    # a short follow-up: the conversation the endpoint keeps carries the cited sources
    assert "1867" in client.predict("Wann wurde Marie Curie geboren?", api_name="/chat")
    assert "Curie" in client.predict("Wer ist sie?", api_name="/chat")


def test_reading_view_marks_the_passage_and_says_when_a_document_is_gone(server):
    article = ARTICLE.read_text(encoding="utf-8")
    doc = server["bot"].document_text(ARTICLE.name)
    start = doc["text"].index("Bilal bin Saqib")
    url = f"{server['url']}view/{ARTICLE.name}?start={start}&end={start + 15}&lang=de"
    with urllib.request.urlopen(url) as r:
        page = r.read().decode()
        assert "script-src" not in r.headers["Content-Security-Policy"]
    assert '<mark id="passage">Bilal bin Saqib</mark>' in page
    assert ARTICLE.name not in page.split("<main")[0]  # the title, not the file name
    assert len(page) > len(article)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server['url']}view/weg.txt?start=0&end=5&lang=de")
    assert err.value.code == 404
    assert "wurde entfernt oder nie indexiert" in err.value.read().decode()
