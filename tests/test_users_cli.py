"""`assistant users add|remove|list` and the serve gate: who may log in, and that a
server beyond loopback without users refuses to start."""

import io
import json

import pytest

from assistant.cli import main
from conftest import make_settings
from helpers.cli import run_cli


def users(capsys, tmp_path, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["users", *args, "--index", str(tmp_path / "index")])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_remove(tmp_path, capsys, monkeypatch):
    code, _, err = users(
        capsys,
        tmp_path,
        "add",
        "alice",
        "--role",
        "editor",
        "--password-stdin",
        stdin="alice-passwort\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and "added editor alice" in err
    users(
        capsys,
        tmp_path,
        "add",
        "bob",
        "--password-stdin",
        stdin="bob-passwort\n",
        monkeypatch=monkeypatch,
    )
    code, out, _ = users(capsys, tmp_path, "list")
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["alice", "editor"],
        ["bob", "reader"],
    ]
    text = (tmp_path / "index" / "users.json").read_text()
    assert "alice-passwort" not in text and "bob-passwort" not in text
    assert json.loads(text)["users"]["alice"]["hash"].startswith("scrypt$")
    code, _, err = users(capsys, tmp_path, "remove", "bob")
    assert code == 0 and "removed user bob" in err
    code, out, _ = users(capsys, tmp_path, "list")
    assert out.splitlines() == [out.splitlines()[0]] and out.startswith("alice\teditor")


def test_mistakes_are_one_line_and_change_nothing(tmp_path, capsys, monkeypatch):
    code, _, err = users(
        capsys,
        tmp_path,
        "add",
        "alice",
        "--password-stdin",
        stdin="kurz\n",
        monkeypatch=monkeypatch,
    )
    assert code == 2 and err.startswith("error: the password is too short") and err.count("\n") == 1
    code, _, err = users(capsys, tmp_path, "remove", "niemand")
    assert code == 2 and "no user 'niemand'" in err
    code, _, err = users(
        capsys,
        tmp_path,
        "add",
        "böse/name",
        "--password-stdin",
        stdin="lang-genug\n",
        monkeypatch=monkeypatch,
    )
    assert code == 2 and "invalid user name" in err
    # no terminal and no --password-stdin: nothing is read from a pipe by surprise
    code, _, err = users(
        capsys, tmp_path, "add", "alice", stdin="lang-genug\n", monkeypatch=monkeypatch
    )
    assert code == 2 and "--password-stdin" in err
    assert not (tmp_path / "index" / "users.json").exists()
    code, _, err = users(capsys, tmp_path, "list")
    assert code == 0 and "no users" in err


def test_non_loopback_without_users_refuses_to_serve(tmp_path, capsys, monkeypatch):
    (tmp_path / "corpus").mkdir()
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    args = ["serve", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index")]
    assert main([*args, "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without log-in" in err
    assert "assistant users add" in err and "--open" in err
    assert not (tmp_path / "index" / "chroma.sqlite3").exists()  # refused before indexing


def test_serving_gate():
    from ui.auth import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org", ""))


def test_gate_decisions(tmp_path):
    from assistant.access.users import UserStore
    from assistant.errors import ConfigError
    from ui.auth import Gate, check_serving

    settings = make_settings(tmp_path)
    check_serving(settings, "127.0.0.1")  # open on loopback, as before
    with pytest.raises(ConfigError, match="refusing to serve on 10.1.2.3"):
        check_serving(settings, "10.1.2.3")
    check_serving(settings.updated(open_access=True), "0.0.0.0")  # the operator's choice
    assert not Gate(settings).required and Gate(settings).role_of(None) == "editor"
    UserStore.for_settings(settings).add("alice", "alice-passwort", "reader")
    check_serving(settings, "0.0.0.0")
    gate = Gate(settings)
    assert gate.required and gate.role_of(None) is None and gate.role_of("alice") == "reader"
    assert gate.allows("alice", "ask") and not gate.allows("alice", "delete")
    assert not Gate(settings.updated(open_access=True)).required


@pytest.mark.slow
def test_serve_refusal_as_a_process(tmp_path):
    (tmp_path / "corpus").mkdir()
    result = run_cli(
        "serve",
        "--host",
        "0.0.0.0",
        "--corpus",
        "corpus",
        "--index",
        "index",
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: refusing to serve on 0.0.0.0 without log-in")
    assert "Traceback" not in result.stderr
