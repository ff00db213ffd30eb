"""Log-in for the served chat: who may ask and who may change the documents.

Log-in is required whenever ``users.json`` beside the index has users (unless the
operator serves with ``--open``); without users the chat is open, which
:func:`check_serving` allows on a loopback address only. Our own ``/login`` page and
``POST /login`` (form fields ``username`` and ``password``, as ``gradio_client``'s
``auth=`` sends them) start a session in a cookie; Gradio asks :meth:`Gate.dependency`
who sends each request to its routes (page, config, queue, uploads, files) and refuses
anyone without a session. ``/document/`` and every event handler check the session's
user and role themselves (:meth:`Gate.role_of`).

Failed log-ins slow down: before a log-in is checked it waits
:func:`assistant.access.users.login_delay` of the failures in a row for that user name and
that client address, one attempt per name and per address at a time, so parallel
guessing waits too. Right or wrong, the answer never says which part was wrong.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import secrets
import time
import weakref
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from assistant.access.users import UserStore, allowed, login_delay, users_path
from assistant.errors import ConfigError
from ui.text import pick_language, t

logger = logging.getLogger(__name__)

COOKIE = "assistant-session"
FORGET_SECONDS = 900.0  # failures older than this (since the last one) are forgotten
MAX_WAITING = 4  # log-in attempts queued per user name or address; more are turned away


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.x, ::1, localhost)."""
    host = str(host or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: may resolve to anything


def check_serving(settings: Any, host: str) -> None:
    """A :class:`ConfigError` when serving on ``host`` would let anyone in unasked."""
    if settings.open_access or is_loopback(host) or UserStore(users_path(settings)):
        return
    raise ConfigError(
        f"refusing to serve on {host} without log-in: there are no users in "
        f"{users_path(settings)}. Add one with `assistant users add NAME --role editor` "
        "(log-in is then required), or pass --open (ASSISTANT_OPEN_ACCESS=true) to let "
        "anyone who can reach the port read, upload and delete documents"
    )


class Throttle:
    """Failed log-ins in a row per key (a user name, a client address)."""

    def __init__(self, base: float, cap: float, clock=time.monotonic):
        self.base, self.cap, self.clock = base, cap, clock
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, str], int] = {}

    def failures(self, keys: list[tuple[str, str]]) -> int:
        now = self.clock()
        counts = []
        for key in keys:
            count, last = self._failures.get(key, (0, now))
            if now - last > FORGET_SECONDS + self.cap:
                self._failures.pop(key, None)
                count = 0
            counts.append(count)
        return max(counts, default=0)

    def delay(self, keys: list[tuple[str, str]]) -> float:
        return login_delay(self.failures(keys), self.base, self.cap)

    def failed(self, keys: list[tuple[str, str]]) -> None:
        now = self.clock()
        if len(self._failures) > 10_000:  # many names or addresses: drop the forgotten
            self._failures = {
                k: v for k, v in self._failures.items() if now - v[1] <= FORGET_SECONDS + self.cap
            }
        for key in keys:
            self._failures[key] = (self.failures([key]) + 1, now)

    def succeeded(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    async def turn(self, keys: list[tuple[str, str]]):
        """Wait for this attempt's turn (one per key at a time); None if too many wait."""
        if any(self._waiting.get(k, 0) >= MAX_WAITING for k in keys):
            return None
        return _Turn(self, sorted(keys))

    def arrive(self, key: tuple[str, str]) -> asyncio.Lock:
        """One more attempt waits for ``key``: the lock it waits on."""
        self._waiting[key] = self._waiting.get(key, 0) + 1
        return self._locks.setdefault(key, asyncio.Lock())

    def depart(self, key: tuple[str, str]) -> None:
        self._waiting[key] -= 1
        if not self._waiting[key]:
            del self._waiting[key]
            self._locks.pop(key, None)


class _Turn:
    def __init__(self, throttle: Throttle, keys: list[tuple[str, str]]):
        self.throttle, self.keys = throttle, keys
        self.held: list[asyncio.Lock] = []

    async def __aenter__(self):
        locks = [self.throttle.arrive(key) for key in self.keys]
        for lock in locks:  # always in the same order: no deadlock
            await lock.acquire()
            self.held.append(lock)
        return self

    async def __aexit__(self, *exc):
        for lock in reversed(self.held):
            lock.release()
        for key in self.keys:
            self.throttle.depart(key)


@dataclass
class Session:
    user: str
    expires: float


class Gate:
    """Access control of one served app: users, sessions, failed log-ins, roles."""

    def __init__(
        self,
        settings: Any,
        required: bool | None = None,
        clock=time.time,
        sleep=asyncio.sleep,
    ):
        """``clock``: wall time in seconds (sessions expire by it); ``sleep``: how a
        failed log-in's wait is waited (tests record it instead)."""
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self.users = UserStore(users_path(settings))
        self.required = (
            bool(self.users) and not settings.open_access if required is None else required
        )
        self.throttle = Throttle(settings.login_delay_seconds, settings.login_max_delay_seconds)
        self._sessions: dict[str, Session] = {}

    # -- who is asking -------------------------------------------------------------------
    def user_of(self, request: Request) -> str | None:
        """The logged-in user of ``request`` (a live session of a user who still exists)."""
        token = request.cookies.get(COOKIE, "")
        session = self._sessions.get(token) if token else None
        if session is None:
            return None
        if session.expires < self._clock() or self._role(session.user) is None:
            self._sessions.pop(token, None)
            return None
        return session.user

    def dependency(self, request: Request) -> str | None:
        """Gradio's ``auth_dependency``: None refuses the request."""
        return self.user_of(request)

    def role_of(self, user: str | None) -> str | None:
        """The role of ``user``; everyone is an editor on an open server."""
        if not self.required:
            return "editor"
        return self._role(user)

    def _role(self, user: str | None) -> str | None:
        """The users file's word on ``user``; a broken file lets nobody in (and says why
        in the log, not to the visitor)."""
        try:
            return self.users.role(user)
        except ConfigError as exc:
            logger.error("%s: nobody may log in until it is fixed", exc)
            return None

    def allows(self, user: str | None, action: str) -> bool:
        return allowed(self.role_of(user), action)

    def request_allows(self, request: Request, action: str) -> bool:
        return not self.required or self.allows(self.user_of(request), action)

    # -- log-in --------------------------------------------------------------------------
    async def log_in(self, name: str, password: str, client: str) -> tuple[str, float]:
        """("ok" | "failed" | "busy", seconds waited before the check)."""
        name = str(name).strip()[:200]
        keys = [("user", name.casefold()), ("client", client)]
        turn = await self.throttle.turn(keys)
        if turn is None:
            return "busy", 0.0
        async with turn:
            wait = self.throttle.delay(keys)
            if wait:
                await self._sleep(wait)
            try:
                role = await asyncio.to_thread(self.users.authenticate, name, str(password))
            except ConfigError as exc:
                logger.error("%s: nobody may log in until it is fixed", exc)
                role = None
            if role is None:
                self.throttle.failed(keys)
                return "failed", wait
            self.throttle.succeeded(keys)
            return "ok", wait

    def start_session(self, user: str) -> str:
        now = self._clock()
        for token in [k for k, s in self._sessions.items() if s.expires < now]:
            self._sessions.pop(token, None)
        token = secrets.token_urlsafe(32)
        self._sessions[token] = Session(user, now + self.settings.session_hours * 3600)
        return token

    def end_session(self, request: Request) -> None:
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)

    # -- routes --------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        """``GET/POST /login`` and ``GET /logout``, registered before Gradio's own."""
        if not self.required:
            return []

        async def login(request: Request) -> Response:
            lang = _language(request)
            if request.method != "POST":
                if self.user_of(request):
                    return RedirectResponse(_root(request), status_code=303)
                return _page(lang, "")
            wants_page = "text/html" in request.headers.get("accept", "")
            try:
                form = await request.form()
                name, password = str(form.get("username", "")), str(form.get("password", ""))
            except Exception:  # not a form: the same answer as a wrong password
                name, password = "", ""
            client = request.client.host if request.client else "-"
            outcome, waited = await self.log_in(name, password, client)
            headers = {"X-Login-Delay": f"{waited:.3f}", "Cache-Control": "no-store"}
            if outcome == "ok":
                token = self.start_session(name.strip())
                response: Response = (
                    RedirectResponse(_root(request), status_code=303, headers=headers)
                    if wants_page
                    else JSONResponse({"success": True, "delay": waited}, headers=headers)
                )
                response.set_cookie(
                    COOKIE,
                    token,
                    max_age=int(self.settings.session_hours * 3600),
                    httponly=True,
                    samesite="lax",
                    secure=request.url.scheme == "https",
                    path="/",
                )
                return response
            code = 429 if outcome == "busy" else 401
            message = t(lang, "login_busy" if outcome == "busy" else "login_failed")
            if outcome == "failed":
                message += " " + t(lang, "login_slower")
            if wants_page:
                return _page(lang, message, code, headers)
            english = t("en", "login_busy" if outcome == "busy" else "login_failed")
            body = {"detail": english, "delay": waited}
            return JSONResponse(body, status_code=code, headers=headers)

        async def logout(request: Request) -> Response:
            self.end_session(request)
            response = RedirectResponse(_root(request) + "login", status_code=303)
            response.delete_cookie(COOKIE, path="/")
            return response

        return [
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["GET"]),
        ]

    def exception_handlers(self) -> dict:
        """A browser that asks for the page without a session goes to the log-in page."""
        if not self.required:
            return {}

        async def unauthorized(request: Request, exc: Exception) -> Response:
            detail = getattr(exc, "detail", "Not authenticated")
            if request.method in ("GET", "HEAD") and "text/html" in request.headers.get(
                "accept", ""
            ):
                return RedirectResponse(_root(request) + "login", status_code=303)
            headers = getattr(exc, "headers", None)
            return JSONResponse({"detail": detail}, status_code=401, headers=headers)

        return {401: unauthorized}

    def launch_kwargs(self) -> dict[str, Any]:
        return {"auth_dependency": self.dependency} if self.required else {}


_GATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gate_for(bot: Any) -> Gate:
    """One gate per assistant, shared by its app and its launch options."""
    gate = _GATES.get(bot)
    if gate is None:
        gate = _GATES[bot] = Gate(bot.settings)
    return gate


def _root(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/") + "/"


def _language(request: Request) -> str:
    return pick_language(request.headers.get("accept-language", "en").split(",")[0])


LOGIN_CSS = """
body { font-family: ui-sans-serif, system-ui, sans-serif; background: #f8fafc; margin: 0; }
main { max-width: 360px; margin: 12vh auto; background: #fff; padding: 24px 28px;
  border: 1px solid #e5e7eb; border-radius: 10px; }
h1 { font-size: 1.3em; margin: 0 0 16px 0; }
label { display: block; margin: 12px 0 4px 0; font-weight: 600; }
input { width: 100%; box-sizing: border-box; padding: 8px; font-size: 1em;
  border: 1px solid #d1d5db; border-radius: 6px; }
button { margin-top: 18px; width: 100%; padding: 9px; font-size: 1em; font-weight: 600;
  background: #4f46e5; color: #fff; border: 0; border-radius: 6px; cursor: pointer; }
.message { background: #fef2f2; color: #991b1b; border: 1px solid #fecaca;
  border-radius: 6px; padding: 8px 10px; }
"""


def _page(lang: str, message: str, status: int = 200, headers: dict | None = None) -> Response:
    """The log-in form (no script, nothing from elsewhere)."""
    esc = html.escape
    note = (
        f'<p class="message" id="login-message" role="alert">{esc(message)}</p>' if message else ""
    )
    body = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(t(lang, "login_title"))}</title><style>{LOGIN_CSS}</style></head>
<body><main><h1>{esc(t(lang, "login_title"))}</h1>{note}
<form method="post" action="login">
<label for="username">{esc(t(lang, "login_user"))}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{esc(t(lang, "login_password"))}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="login">{esc(t(lang, "login_button"))}</button>
</form></main></body></html>"""
    policy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    base = {"Content-Security-Policy": policy, "Cache-Control": "no-store"}
    return Response(
        body, status_code=status, media_type="text/html", headers=base | (headers or {})
    )


def not_logged_in() -> Response:
    return PlainTextResponse("log in first", status_code=401)
