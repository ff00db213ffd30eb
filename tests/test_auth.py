"""The served app's gate without a server: failed log-ins per name and address, one try
at a time, sessions, and what a broken index leaves in place. No wall clock: the waits
are recorded, not slept."""

import asyncio

import pytest

from assistant.access.users import UserStore
from assistant.store.errors import move_aside
from conftest import make_settings
from ui.auth import MAX_WAITING, Gate, Throttle

REAL_SLEEP = asyncio.sleep


@pytest.fixture
def gate(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, login_delay_seconds=1.0, login_max_delay_seconds=8)
    UserStore.for_settings(settings).add("alice", "alice-passwort", "editor")
    UserStore.for_settings(settings).add("bob", "bob-passwort", "reader")
    now = [1_000_000.0]
    waits: list[float] = []
    sleeper = [None]

    async def recorded_sleep(seconds):  # the wait is recorded, not slept
        waits.append(seconds)
        if sleeper[0] is not None:
            await sleeper[0](seconds)

    gate = Gate(settings, clock=lambda: now[0], sleep=recorded_sleep)
    gate.now = now  # the test's clock: a session expires when it is moved on
    gate.waits = waits
    gate.sleeper = sleeper  # a test may make the wait take a moment
    return gate


def attempt(gate, name, password, client="10.0.0.1"):
    return asyncio.run(gate.log_in(name, password, client))


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_failures_count_per_key_and_success_resets():
    clock = FakeClock()
    throttle = Throttle(0.5, 30, clock=clock)
    alice, here, there = ("user", "alice"), ("client", "a"), ("client", "b")
    assert throttle.delay([alice, here]) == 0
    for _ in range(3):
        throttle.failed([alice, here])
    assert throttle.delay([alice, there]) == 2  # the name carries its failures elsewhere
    assert throttle.delay([("user", "bob"), here]) == 2  # so does the address
    assert throttle.delay([("user", "bob"), there]) == 0
    throttle.succeeded([alice, here])
    assert throttle.delay([alice, here]) == 0
    throttle.failed([alice])
    clock.now += 10_000  # long ago: forgotten
    assert throttle.delay([alice]) == 0


def test_wrong_passwords_wait_longer_each_time_and_the_right_one_still_works(gate):
    results = [attempt(gate, "alice", f"falsch-{i}") for i in range(6)]
    assert [r[0] for r in results] == ["failed"] * 6
    assert [r[1] for r in results] == [0, 1, 2, 4, 8, 8]  # capped at 8
    assert gate.waits == [1, 2, 4, 8, 8]
    assert attempt(gate, "alice", "alice-passwort") == ("ok", 8)
    assert attempt(gate, "alice", "falsch") == ("failed", 0)  # counting starts over


def test_unknown_names_and_wrong_passwords_look_alike(gate):
    assert attempt(gate, "niemand", "bob-passwort", "10.0.0.2")[0] == "failed"
    assert attempt(gate, "bob", "falsch-falsch", "10.0.0.3")[0] == "failed"
    assert attempt(gate, "Bob", "bob-passwort", "10.0.0.4")[0] == "failed"  # names are exact
    # ... but the name's failures count case-insensitively
    assert attempt(gate, "BOB", "falsch-falsch", "10.0.0.5")[1] == 2


def test_parallel_guesses_wait_their_turn_and_too_many_are_turned_away(gate, monkeypatch):
    order = []

    async def slow_sleep(seconds):
        order.append(seconds)
        await REAL_SLEEP(0)  # a moment: let the others queue

    gate.sleeper[0] = slow_sleep

    async def many():
        tries = [gate.log_in("alice", f"falsch-{i}", "10.0.0.9") for i in range(MAX_WAITING + 3)]
        return await asyncio.gather(*tries)

    results = asyncio.run(many())
    outcomes = [r[0] for r in results]
    assert outcomes.count("busy") == 3 and outcomes.count("failed") == MAX_WAITING
    # one at a time: each later try waited for the failures before it
    assert sorted(r[1] for r in results if r[0] == "failed") == [0, 1, 2, 4]


def test_sessions_end_with_their_user(gate):
    class Request:
        def __init__(self, token):
            self.cookies = {"assistant-session": token}

    token = gate.start_session("bob")
    assert gate.user_of(Request(token)) == "bob" and gate.role_of("bob") == "reader"
    assert gate.user_of(Request("geraten")) is None and gate.user_of(Request("")) is None
    assert gate.request_allows(Request(token), "read")
    assert not gate.allows("bob", "upload") and gate.allows("alice", "delete")
    gate.users.remove("bob")
    assert gate.user_of(Request(token)) is None  # removed: logged out at once
    alice = gate.start_session("alice")
    gate.now[0] += gate.settings.session_hours * 3600 + 1
    assert gate.user_of(Request(alice)) is None
    alice = gate.start_session("alice")
    gate.users.path.write_text("{kaputt")  # a broken users file lets nobody in
    assert gate.user_of(Request(alice)) is None and gate.role_of("alice") is None
    assert attempt(gate, "alice", "alice-passwort")[0] == "failed"


def test_a_broken_index_moved_aside_keeps_users_and_audit_trail(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    for name in ("chroma.sqlite3", "users.json", "audit.jsonl"):
        (index / name).write_text("x")
    moved = move_aside(index)
    assert sorted(p.name for p in index.iterdir()) == ["audit.jsonl", "users.json"]
    assert [p.name for p in moved.iterdir()] == ["chroma.sqlite3"]


@pytest.mark.slow  # builds the Gradio app (seconds of imports)
def test_every_changing_handler_checks_the_role_not_just_the_buttons(gate, tmp_path):
    """A reader who triggers the page's own upload or delete events (they are reachable
    through the queue, if not by name) is refused by the handler itself."""
    from assistant import Assistant
    from ui.app import build_app

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "bleibt.txt").write_text("Dieses Dokument bleibt.")
    demo = build_app(Assistant(gate.settings), gate)
    fns = {f.name: f.fn for f in demo.fns.values()}

    class Request:
        def __init__(self, username):
            self.username, self.client = username, None

    upload = tmp_path / "neu.txt"
    upload.write_text("Neu.")
    for who in (Request("bob"), Request(None)):
        status = fns["index_uploads"]([str(upload)], False, "de", who)
        assert "Nicht erlaubt" in status
        _, status, *_ = fns["delete_document"]("bleibt.txt", "de", who)
        assert "Nicht erlaubt" in status
        for api, args in (("upload_api", ([str(upload)], False)), ("remove_api", ("bleibt.txt",))):
            with pytest.raises(Exception, match="not allowed"):
                fns[api](*args, who)
        with pytest.raises(Exception, match="not allowed"):
            next(fns["chat_api"]("Was bleibt?", [], Request(None)))
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["bleibt.txt"]
    assert not (tmp_path / "index" / "audit.jsonl").exists()
    # an editor over the corpus limit: refused as a whole, in the UI's language
    small = gate.settings.updated(max_corpus_mb=0.00002)  # 20 bytes; bleibt.txt has 23
    fns = {f.name: f.fn for f in build_app(Assistant(small), Gate(small)).fns.values()}
    status = fns["index_uploads"]([str(upload)], False, "de", Request("alice"))
    assert status.startswith("**Abgelehnt:** die Dokumente wären zusammen 0.0 MB")
    assert "Nichts wurde hinzugefügt" in status
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["bleibt.txt"]
