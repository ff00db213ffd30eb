"""Users, roles, password hashes, the failed-log-in schedule, the audit trail and the
upload limits: the pure parts of a served assistant's access control (no server)."""

import json
import os

import pytest

from assistant.access.audit import AuditLog
from assistant.access.users import (
    UserStore,
    allowed,
    hash_password,
    login_delay,
    verify_password,
)
from assistant.errors import ConfigError
from assistant.ingest.limits import upload_limit_problem


def test_password_hashes_are_salted_scrypt_and_verify():
    first, second = hash_password("richtig-geheim"), hash_password("richtig-geheim")
    assert first != second  # a salt of its own each time
    assert first.startswith("scrypt$15$8$1$") and "richtig-geheim" not in first
    assert verify_password("richtig-geheim", first) and verify_password("richtig-geheim", second)
    assert not verify_password("richtig-geheiM", first)
    for broken in ("", "plain", "scrypt$15$8$1$!!$!!", "md5$x", first.replace("$15$", "$40$")):
        assert not verify_password("richtig-geheim", broken)


def test_users_file_holds_names_roles_and_hashes_only(tmp_path):
    store = UserStore(tmp_path / "users.json")
    assert not store and store.users() == []
    store.add("alice", "alice-passwort", "editor")
    store.add("bob", "bob-passwort", "reader")
    text = (tmp_path / "users.json").read_text()
    assert "alice-passwort" not in text and "bob-passwort" not in text
    assert oct((tmp_path / "users.json").stat().st_mode & 0o777) == "0o600"
    data = json.loads(text)["users"]
    assert set(data) == {"alice", "bob"} and data["bob"]["role"] == "reader"
    # another process (the CLI) changes the file: the server's store sees it
    other = UserStore(tmp_path / "users.json")
    assert other.authenticate("alice", "alice-passwort") == "editor"
    assert other.authenticate("bob", "bob-passwort") == "reader"
    assert other.authenticate("bob", "alice-passwort") is None
    assert other.authenticate("carol", "alice-passwort") is None
    store.remove("bob")
    assert other.role("bob") is None and other.authenticate("bob", "bob-passwort") is None
    assert [u.name for u in other.users()] == ["alice"]


def test_bad_names_passwords_roles_and_duplicates_are_clear_errors(tmp_path):
    store = UserStore(tmp_path / "users.json")
    with pytest.raises(ConfigError, match="too short"):
        store.add("alice", "kurz", "editor")
    with pytest.raises(ConfigError, match="invalid user name"):
        store.add("../alice", "lang-genug", "editor")
    with pytest.raises(ConfigError, match="unknown role 'admin'"):
        store.add("alice", "lang-genug", "admin")
    store.add("alice", "lang-genug", "reader")
    with pytest.raises(ConfigError, match="exists"):
        store.add("alice", "anderes-passwort", "editor")
    store.add("alice", "anderes-passwort", "editor", update=True)
    assert store.authenticate("alice", "anderes-passwort") == "editor"
    with pytest.raises(ConfigError, match="no user 'bob'"):
        store.remove("bob")
    (tmp_path / "users.json").write_text("{kaputt")
    with pytest.raises(ConfigError, match="cannot read the users file"):
        UserStore(tmp_path / "users.json").users()


def test_roles():
    assert allowed("reader", "ask") and allowed("reader", "read")
    assert not any(allowed("reader", a) for a in ("upload", "replace", "delete"))
    assert all(allowed("editor", a) for a in ("ask", "read", "upload", "replace", "delete"))
    assert not allowed(None, "ask") and not allowed("admin", "ask")


def test_failed_log_ins_wait_longer_each_time_up_to_a_cap():
    assert login_delay(0, 0.5, 30) == 0  # the first try never waits
    delays = [login_delay(n, 0.5, 30) for n in range(1, 12)]
    assert delays[:6] == [0.5, 1, 2, 4, 8, 16]
    assert delays[6:] == [30] * 5
    assert all(a < b for a, b in zip(delays[:7], delays[1:7]))
    assert login_delay(10, 0.01, 60) > login_delay(9, 0.01, 60)  # ten in a row keep growing
    assert login_delay(5, 0, 30) == 0  # switched off
    assert login_delay(10_000, 0.5, 30) == 30  # no overflow


def test_audit_trail_appends_json_lines(tmp_path):
    log = AuditLog(tmp_path / "index" / "audit.jsonl")
    assert log.entries() == []
    log.append("upload", "alice", "a.txt", client="10.0.0.7")
    log.append("replace", "alice", "a.txt")
    log.append("delete", None, "ä b.txt")
    with (tmp_path / "index" / "audit.jsonl").open("a") as fh:
        fh.write("kaputte Zeile\n")
    entries = log.entries()
    assert [(e["action"], e["user"], e["file"]) for e in entries] == [
        ("upload", "alice", "a.txt"),
        ("replace", "alice", "a.txt"),
        ("delete", "-", "ä b.txt"),
    ]
    assert entries[0]["client"] == "10.0.0.7" and entries[0]["time"].endswith("Z")
    assert log.entries(last=1) == entries[-1:]
    with pytest.raises(ValueError):
        log.append("rename", "alice", "a.txt")
    assert len((tmp_path / "index" / "audit.jsonl").read_text().splitlines()) == 4
    assert oct(os.stat(tmp_path / "index" / "audit.jsonl").st_mode & 0o777) == "0o600"


def test_upload_limits_refuse_the_whole_upload():
    existing = {"a.txt": 400_000, "b.pdf": 500_000}
    ok = upload_limit_problem(
        [("c.txt", 50_000)], existing, max_files=2, max_corpus_mb=1, replace=False
    )
    assert ok is None
    too_many = upload_limit_problem(
        [("c.txt", 1), ("d.txt", 1), ("e.txt", 1)],
        existing,
        max_files=2,
        max_corpus_mb=0,
        replace=False,
    )
    assert too_many.kind == "files" and (too_many.n, too_many.max) == (3, 2)
    assert "too many files in one upload (3; at most 2" in str(too_many)
    assert "nothing was added" in str(too_many)
    full = upload_limit_problem(
        [("c.txt", 200_000)], existing, max_files=0, max_corpus_mb=1, replace=False
    )
    assert full.kind == "corpus" and "1.1 MB, over the limit of 1 MB" in str(full)
    assert "ASSISTANT_MAX_CORPUS_MB" in str(full)
    # replacing counts the new size instead of the old one
    smaller = [("b.pdf", 100_000), ("c.txt", 300_000)]
    assert (
        upload_limit_problem(smaller, existing, max_files=0, max_corpus_mb=1, replace=True) is None
    )
    assert (
        upload_limit_problem(smaller, existing, max_files=0, max_corpus_mb=0, replace=False) is None
    )
