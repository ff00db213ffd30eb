"""Who may use a served assistant: user names, roles and salted password hashes.

The users live in ``users.json`` beside the index (``<index_dir>/users.json``), written
by ``assistant users add|remove|list`` and read by the server on every log-in and
request (a changed file is read again). Passwords are never stored: each one is hashed
with scrypt (stdlib ``hashlib``, memory-hard) and a random salt of its own; the hash
string names its parameters, so they can be raised later without breaking old hashes.

Two roles: a **reader** asks and opens documents, an **editor** may also upload,
replace and delete. :func:`login_delay` is the schedule that slows down repeated
failed log-ins (the server applies it per user name and per client address).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError

USERS_FILE = "users.json"
ROLES = ("reader", "editor")
# what each role may do on a served assistant
PERMISSIONS = {
    "reader": frozenset({"ask", "read"}),
    "editor": frozenset({"ask", "read", "upload", "replace", "delete"}),
}
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

# scrypt: 2**15 x 8 x 128 bytes = 32 MiB of memory and ~0.1 s per hash
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, size: int) -> bytes:
    n = 2**log2_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=size, maxmem=256 * n * r + 2**20
    )


def hash_password(password: str) -> str:
    """``scrypt$log2n$r$p$salt$hash`` (base64) with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the hash string ``stored`` (constant-time compare);
    a malformed hash string never matches."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or not (10 <= int(log2_n) <= 20):
            return False
        expected = base64.b64decode(digest, validate=True)
        salt_bytes = base64.b64decode(salt, validate=True)
        actual = _scrypt(password, salt_bytes, int(log2_n), int(r), int(p), len(expected))
    except (ValueError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    """A hash to check unknown names against, so they take as long as known ones."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def check_name(name: str) -> str:
    name = str(name).strip()
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid user name {name!r}: 1-64 letters, digits or . _ @ -, starting with a "
            "letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password is too short: at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ConfigError(f"the password is too long: at most {MAX_PASSWORD_CHARS} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: {' or '.join(ROLES)}")
    return role


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` may ``action`` (ask, read, upload, replace, delete)."""
    return action in PERMISSIONS.get(role or "", frozenset())


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created: str


def users_path(settings: Any) -> Path:
    """``users.json`` beside the index."""
    return Path(settings.index_dir) / USERS_FILE


class UserStore:
    """The users file: read when it changed, written atomically (mode 0600)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, dict] = {}

    @classmethod
    def for_settings(cls, settings: Any) -> UserStore:
        return cls(users_path(settings))

    def _load(self) -> dict[str, dict]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._users = None, {}
            return self._users
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                users = data["users"]
                if not isinstance(users, dict):
                    raise TypeError("users is not an object")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"cannot read the users file {self.path}: {exc}") from exc
            self._users = {n: u for n, u in users.items() if isinstance(u, dict)}
            self._stamp = stamp
        return self._users

    def users(self) -> list[User]:
        return [
            User(name, str(u.get("role", "")), str(u.get("created", "")))
            for name, u in sorted(self._load().items())
        ]

    def __bool__(self) -> bool:
        """Whether anyone may log in."""
        return bool(self._load())

    def role(self, name: str | None) -> str | None:
        """The role of ``name``, or None when there is no such user (any more)."""
        if not name:
            return None
        user = self._load().get(name)
        role = user.get("role") if user else None
        return role if role in ROLES else None

    def authenticate(self, name: str, password: str) -> str | None:
        """The user's role if name and password match, else None; an unknown name costs
        the same time as a wrong password."""
        user = self._load().get(str(name))
        stored = str(user.get("hash", "")) if user else _dummy_hash()
        ok = verify_password(str(password), stored)
        return self.role(name) if ok and user else None

    def add(self, name: str, password: str, role: str, update: bool = False) -> None:
        name, role = check_name(name), check_role(role)
        check_password(password)
        users = dict(self._load())
        if name in users and not update:
            raise ConfigError(f"user {name!r} exists; `assistant users add --update` changes it")
        users[name] = {
            "role": role,
            "hash": hash_password(password),
            "created": users.get(name, {}).get("created")
            or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._write(users)

    def remove(self, name: str) -> None:
        users = dict(self._load())
        if name not in users:
            known = ", ".join(sorted(users)) or "none"
            raise ConfigError(f"no user {name!r} (users: {known})")
        del users[name]
        self._write(users)

    def _write(self, users: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": 1, "users": users}, indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-")
        try:
            os.chmod(tmp, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._stamp = None


def login_delay(failures: int, base: float, cap: float) -> float:
    """Seconds a log-in attempt waits after ``failures`` failed ones in a row (for that
    user name or that client address): none at first, then ``base`` doubling with each
    further failure, at most ``cap``."""
    if failures <= 0 or base <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 60))
