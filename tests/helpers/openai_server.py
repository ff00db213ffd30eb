"""A small scripted HTTP server that speaks the OpenAI chat-completions protocol.

No model runs here, so the server "answers" by quoting the source sentence that shares
the most words with the question, cited as [n], plus one marker that points
at no source ([99]) which the assistant must strip. It streams as server-sent events
exactly like the real API. ``failures`` scripts faults for the next chat requests, one
per request: an HTTP status (500, 429, 401, …), ``"stall"`` (answer after
``stall_seconds``), ``"hang"`` (never answer until the server stops), ``"not-json"`` (HTTP
200 with an HTML body), ``"bad-sse"`` (a stream whose second event is not JSON),
``"bad-shape"`` (HTTP 200 JSON without choices), ``"trickle"`` (a stream that sends one
piece every ``stall_seconds``). Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOURCE = re.compile(r'<source n="(\d+)" file="[^"]*">\n(.*?)\n</source>', re.S)


def hashed_embedding(text: str, dim: int = 64) -> list[float]:
    """A deterministic bag-of-words vector: enough to retrieve by shared words."""
    import hashlib

    vec = [0.0] * dim
    for word in re.findall(r"\w{3,}", text.lower()):
        vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


def scripted_reply(messages: list[dict]) -> str:
    system = messages[0]["content"] if messages else ""
    last = messages[-1]["content"]
    if system.startswith("Rewrite the last user question"):
        # like a model would: put the person named in the last answer in place of "er"/"he"
        answers = [m["content"] for m in messages[1:-1] if m["role"] == "assistant"]
        name = (
            re.search(r"[A-Z][a-z]+ (?:bin |von |van )?[A-Z][a-z]+", answers[-1])
            if answers
            else None
        )
        if name:
            return re.sub(r"\b(er|sie|he|she)\b", name.group(0), last)
        previous = [m["content"] for m in messages[1:-1] if m["role"] == "user"]
        return f"{previous[-1]} {last}" if previous else last
    match = re.search(r"Question: (.*)$", last, re.S)
    question = match.group(1) if match else last
    if "without sources" in question:  # a model that answers but cites nothing
        return "An answer that cites nothing."
    q_words = set(re.findall(r"\w{4,}", question.lower()))
    best, best_n, best_overlap = None, 0, 0
    for n, text in SOURCE.findall(last):
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            overlap = len(q_words & set(re.findall(r"\w{4,}", sentence.lower())))
            if overlap > best_overlap:
                best, best_n, best_overlap = sentence, int(n), overlap
    if best is None:
        decline = re.search(r"reply with exactly this sentence and nothing else: (.*)", system)
        return decline.group(1).strip() if decline else "I do not know."
    return f"{best} [{best_n}] [99]"


class _Handler(BaseHTTPRequestHandler):
    """Answers one request as the ``ScriptedOpenAI`` serving it says (``server.outer``)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        outer = self.server.outer
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        outer.requests.append({"path": self.path, "body": body})
        if self.path.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return self._json(
                200,
                {
                    "object": "list",
                    "model": body.get("model", "scripted"),
                    "data": [
                        {
                            "object": "embedding",
                            "index": i,
                            "embedding": hashed_embedding(t),
                        }
                        for i, t in enumerate(texts)
                    ],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                },
            )
        if not self.path.endswith("/chat/completions"):
            return self._json(404, {"error": {"message": "not found"}})
        reply = outer.reply or scripted_reply(body["messages"])
        failure = outer.failures.pop(0) if outer.failures else None
        if failure == "stall":
            outer._stop.wait(outer.stall_seconds)
            return self._json(200, {"error": "too late"})
        if failure == "hang":
            outer._stop.wait(3600)
            return None
        if failure == "not-json":
            return self._raw(200, b"<html><body>Bad gateway</body></html>", "text/html")
        if failure == "bad-shape":
            return self._json(200, {"id": "chatcmpl-1", "object": "chat.completion"})
        if failure == "bad-sse" and body.get("stream"):
            return self._stream(body, reply, broken=True)
        if failure == "trickle" and body.get("stream"):
            return self._stream(body, reply, delay=outer.stall_seconds)
        if isinstance(failure, int) or (isinstance(failure, str) and failure.isdigit()):
            return self._json(
                int(failure), {"error": {"message": f"scripted {failure}", "type": "x"}}
            )
        if body.get("stream"):
            return self._stream(body, reply)
        return self._json(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    def _json(self, status: int, payload: dict) -> None:
        self._raw(status, json.dumps(payload).encode(), "application/json")

    def _raw(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, body: dict, reply: str, broken: bool = False, delay: float = 0.0) -> None:
        outer = self.server.outer
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        step = outer.chunk_chars
        pieces = [reply[i : i + step] for i in range(0, len(reply), step)]
        for i, piece in enumerate(pieces + [None]):
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "delta": ({"role": "assistant"} if i == 0 else {})
                        | ({"content": piece} if piece is not None else {}),
                        "finish_reason": None if piece is not None else "stop",
                    }
                ],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            if broken and i == 1:
                self.wfile.write(b'data: {"choices": [{"delta": {"content": "x\n\n')
                self.wfile.flush()
            if delay and outer._stop.wait(delay):
                return
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    outer: ScriptedOpenAI

    def handle_error(self, request, client_address) -> None:
        pass  # clients that give up (the timeout test) are expected here


class ScriptedOpenAI:
    """Start with ``with ScriptedOpenAI() as server: server.base_url``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.failures: list[int | str] = []  # e.g. [500, 429, "stall"]
        self.stall_seconds = 5.0
        self.chunk_chars = 7
        self.reply: str | None = None  # a fixed answer instead of the scripted one
        self._stop = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.outer = self
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()  # release hanging handlers
        self.httpd.shutdown()
        self.httpd.server_close()
