"""Log-in and roles on a real server bound to 127.0.0.1 (log-in is forced by users in
users.json), driven by gradio_client, plain HTTP and headless Chromium."""

import json
import shutil
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from assistant import Assistant
from assistant.access.audit import AuditLog
from assistant.access.users import UserStore
from conftest import make_settings
from helpers.served import served
from ui.auth import Gate

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORDS = {"alice": "alice-geheim-1", "bob": "bob-geheim-22"}
CURIE = (
    "Marie Curie wurde 1867 in Warschau geboren. Sie erhielt zwei Nobelpreise für ihre "
    "Forschung zur Radioaktivität."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    (tmp / "corpus").mkdir()
    (tmp / "corpus" / "curie.txt").write_text(CURIE, encoding="utf-8")
    (tmp / "corpus" / "einstein.txt").write_text(
        "Albert Einstein wurde 1879 in Ulm geboren. Er entwickelte die Relativitätstheorie.",
        encoding="utf-8",
    )
    settings = make_settings(
        tmp,
        login_delay_seconds=0.002,
        login_max_delay_seconds=5,
        max_upload_files=2,
    )
    bot = Assistant(settings)
    bot.index()
    store = UserStore.for_settings(settings)
    store.add("alice", PASSWORDS["alice"], "editor")
    store.add("bob", PASSWORDS["bob"], "reader")
    gate = Gate(settings)
    assert gate.required
    with served(bot, gate) as (_, url):
        yield {"url": url, "bot": bot, "corpus": tmp / "corpus", "tmp": tmp}


def logged_in(server, name: str) -> httpx.Client:
    http = httpx.Client(base_url=server["url"], timeout=30)
    r = http.post("login", data={"username": name, "password": PASSWORDS[name]})
    assert r.status_code == 200 and r.json()["success"] is True
    return http


def client(server, name: str) -> Client:
    return Client(server["url"], auth=(name, PASSWORDS[name]), verbose=False)


def test_without_a_log_in_everything_is_refused(server):
    http = httpx.Client(base_url=server["url"], timeout=30)
    page = http.get("", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].endswith("/login")
    assert "Dokument" not in page.text and "curie" not in page.text
    login = http.get("login", headers={"Accept-Language": "de-DE"})
    assert login.status_code == 200 and 'name="password"' in login.text
    assert "Anmelden" in login.text and "curie" not in login.text
    assert http.get("config").status_code == 401
    assert http.get("gradio_api/info").status_code == 401
    for api in ("chat", "ask", "upload", "remove"):
        r = http.post(f"gradio_api/call/{api}", json={"data": ["Wer ist Marie Curie?", []]})
        assert r.status_code == 401, api
    r = http.post("gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"})
    assert r.status_code == 401
    r = http.post("gradio_api/upload", files={"files": ("a.txt", b"Hallo Welt")})
    assert r.status_code == 401
    assert http.get("document/curie.txt").status_code == 401
    with pytest.raises(Exception):  # noqa: B017  (gradio_client: no config without log-in)
        Client(server["url"], verbose=False)
    with pytest.raises(Exception, match="Invalid credentials"):
        Client(server["url"], auth=("bob", "falsch-falsch"), verbose=False)
    logged_in(server, "bob")  # a success resets this address's failures for later tests


def test_a_reader_asks_and_reads_but_may_not_change_documents(server, tmp_path):
    bob = client(server, "bob")
    data = bob.predict("Wann wurde Marie Curie geboren?", api_name="/ask")
    assert data["outcome"] == "answered" and data["citations"][0]["source"] == "curie.txt"
    assert "1867" in bob.predict("Wo wurde Marie Curie geboren?", api_name="/chat")
    http = logged_in(server, "bob")
    document = http.get("document/curie.txt")
    assert document.status_code == 200 and document.text == CURIE
    new = tmp_path / "neu.txt"
    new.write_text("Der Leuchtturm von Quarzhafen ist rot.", encoding="utf-8")
    with pytest.raises(Exception, match="not allowed"):
        bob.predict([handle_file(str(new))], False, api_name="/upload")
    with pytest.raises(Exception, match="not allowed"):
        bob.predict("curie.txt", api_name="/remove")
    assert sorted(p.name for p in server["corpus"].iterdir()) == ["curie.txt", "einstein.txt"]
    assert not any(
        e["user"] == "bob" for e in AuditLog.for_settings(server["bot"].settings).entries()
    )


def test_an_editor_uploads_replaces_and_deletes_and_the_audit_trail_says_so(server, tmp_path):
    alice = client(server, "alice")
    path = tmp_path / "faehre.txt"
    path.write_text("Die Fähre nach Quarzhafen fährt um acht Uhr ab.", encoding="utf-8")
    status, _ = alice.predict([handle_file(str(path))], False, api_name="/upload")
    assert "Indexed: faehre.txt" in status
    path.write_text("Die Fähre nach Quarzhafen fährt um neun Uhr ab.", encoding="utf-8")
    status, _ = alice.predict([handle_file(str(path))], True, api_name="/upload")
    assert "Replaced and indexed: faehre.txt" in status
    assert "neun" in alice.predict("Wann fährt die Fähre nach Quarzhafen?", api_name="/chat")
    assert alice.predict("faehre.txt", api_name="/remove") == "removed faehre.txt"
    assert not (server["corpus"] / "faehre.txt").exists()
    trail = AuditLog.for_settings(server["bot"].settings).entries()
    assert [(e["user"], e["action"], e["file"]) for e in trail[-3:]] == [
        ("alice", "upload", "faehre.txt"),
        ("alice", "replace", "faehre.txt"),
        ("alice", "delete", "faehre.txt"),
    ]
    assert all(e["time"].endswith("Z") and e["client"] == "127.0.0.1" for e in trail[-3:])


def test_upload_limits_refuse_the_whole_upload(server, tmp_path):
    alice = client(server, "alice")
    files = []
    for i in range(3):
        files.append(tmp_path / f"teil{i}.txt")
        files[-1].write_text(f"Teil {i} des Berichts über Quarzhafen.", encoding="utf-8")
    status, _ = alice.predict([handle_file(str(f)) for f in files], False, api_name="/upload")
    assert "too many files in one upload (3; at most 2)" in status
    assert "Nothing was added" in status
    assert not any(server["corpus"].glob("teil*.txt"))


def test_ten_wrong_passwords_each_answer_slower_then_the_right_one_works(server):
    http = httpx.Client(base_url=server["url"], timeout=60)
    delays, details = [], set()
    for i in range(10):
        r = http.post("login", data={"username": "alice", "password": f"falsch-{i}"})
        assert r.status_code == 401 and "success" not in r.json()
        delays.append(r.json()["delay"])
        assert float(r.headers["X-Login-Delay"]) == pytest.approx(delays[-1], abs=0.001)
        details.add(r.json()["detail"])
    assert all(a < b for a, b in zip(delays, delays[1:])), delays  # each waited longer
    r = http.post("login", data={"username": "niemand", "password": "falsch-x"})
    details.add(r.json()["detail"])
    # one message for a wrong name and a wrong password: no hint which one it was
    assert details == {"Log-in failed: the user name or the password is wrong."}
    r = http.post("login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert r.status_code == 200 and r.json()["delay"] > delays[-1]  # slowed, but works
    assert http.get("config").status_code == 200
    # the next failure starts from scratch again
    r = http.post("login", data={"username": "alice", "password": "falsch-wieder"})
    assert r.json()["delay"] == 0
    logged_in(server, "alice")
    # the users file holds no password in any recoverable form
    text = (server["tmp"] / "index" / "users.json").read_text()
    for password in PASSWORDS.values():
        assert password not in text and password.encode().hex() not in text
    for user in json.loads(text)["users"].values():
        assert set(user) == {"role", "hash", "created"} and user["hash"].startswith("scrypt$")


def test_failures_from_one_address_slow_down_every_name(server):
    http = httpx.Client(base_url=server["url"], timeout=60)
    delays = [
        http.post("login", data={"username": f"rate{i}", "password": "falsch-falsch"}).json()[
            "delay"
        ]
        for i in range(4)
    ]
    assert delays[0] == 0 and all(a < b for a, b in zip(delays, delays[1:]))
    logged_in(server, "bob")


def test_a_browser_form_log_in_says_what_went_wrong(server):
    http = httpx.Client(base_url=server["url"], timeout=30)
    html = {"Accept": "text/html", "Accept-Language": "de-DE,de;q=0.9"}
    r = http.post("login", data={"username": "bob", "password": "falsch-falsch"}, headers=html)
    assert r.status_code == 401 and "Benutzername oder Passwort stimmt nicht" in r.text
    r = http.post("login", data={"username": "bob", "password": PASSWORDS["bob"]}, headers=html)
    assert r.status_code == 303 and "assistant-session" in r.headers["set-cookie"]
    assert "HttpOnly" in r.headers["set-cookie"]
    assert http.get("", headers={"Accept": "text/html"}).status_code == 200
    r = http.get("logout", headers={"Accept": "text/html"})
    assert r.status_code == 303 and http.get("config").status_code == 401


needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="LOUD SKIP: Debian's chromium is not installed"
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def log_in(browser, server, name: str, password: str, locale: str = "en-US"):
    page = browser.new_context(locale=locale).new_page()
    page.goto(server["url"])
    page.locator("#username").wait_for()
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.locator("#login").click()
    return page


@needs_chromium
def test_browser_reader_logs_in_asks_and_opens_a_document(server, browser):
    page = log_in(browser, server, "bob", "falsch-falsch", locale="de-DE")
    message = page.locator("#login-message")
    message.wait_for()
    assert "Benutzername oder Passwort stimmt nicht" in message.inner_text()
    page.locator("#username").fill("bob")
    page.locator("#password").fill(PASSWORDS["bob"])
    page.locator("#login").click()
    page.locator("#send").wait_for(timeout=30_000)
    page.locator("#who").get_by_text("bob").wait_for(timeout=10_000)
    page.locator("#question textarea").fill("Wann wurde Marie Curie geboren?")
    page.locator("#question textarea").press("Enter")
    link = page.locator("#sources a.open").first
    link.wait_for(timeout=30_000)
    document = page.request.get(server["url"] + link.get_attribute("href"))
    assert document.status == 200 and "1867" in document.text()
    page.get_by_role("tab", name="Dokumente").click()
    page.locator("#docs-table").get_by_text("curie.txt").wait_for()
    assert not page.locator("#upload").is_visible() and not page.locator("#audit").is_visible()
    assert not page.locator("#delete").is_visible()
    page.locator("#logout").click()  # log out: back at the form
    page.locator("#username").wait_for(timeout=10_000)
    assert page.context.request.get(server["url"] + "config").status == 401
    page.context.close()


@needs_chromium
def test_browser_editor_sees_upload_and_the_audit_trail(server, browser):
    server["bot"].add_document("notiz.txt", "Eine kurze Notiz über Quarzhafen.".encode())
    AuditLog.for_settings(server["bot"].settings).append("upload", "alice", "notiz.txt")
    page = log_in(browser, server, "alice", PASSWORDS["alice"])
    page.locator("#send").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload").wait_for()
    audit = page.locator("#audit")
    page.wait_for_function("document.querySelector('#audit').innerText.includes('notiz.txt')")
    assert "alice" in audit.inner_text() and "uploaded" in audit.inner_text()
    page.locator("#delete-pick input").click()
    page.locator("#delete-pick input").fill("notiz")
    page.locator("ul[role=listbox] li", has_text="notiz").first.click()
    page.locator("#delete").click()
    page.locator("#yes").click()
    page.locator("#upload-status").get_by_text("Deleted").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelector('#audit').innerText.includes('deleted')")
    assert not (server["corpus"] / "notiz.txt").exists()
    entry = AuditLog.for_settings(server["bot"].settings).entries()[-1]
    assert (entry["user"], entry["action"], entry["file"]) == ("alice", "delete", "notiz.txt")
    page.context.close()
