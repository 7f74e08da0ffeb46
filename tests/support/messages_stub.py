"""A stub of the Anthropic Messages API on 127.0.0.1, for the real Claude Code to talk to.

It answers `POST /v1/messages` streaming (SSE) and non-streaming the way the real API
does, answers 401 `authentication_error` when no credential came, and records every
request's path and headers, so a test sees which header Claude Code sent with which
value. With `tool_command` set, the first answer is a `tool_use` of Bash running that
command; the tool's output comes back in the next request and lands in `tool_results`,
which shows what Claude Code's children see. `hold()` keeps answers waiting until
`release()`, so a test can hold a real Claude Code session open.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-api-key")

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


@dataclass
class MessagesStub:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    tool_command: str | None = None
    tool_results: list[str] = field(default_factory=list)
    reply_text: str = "hi from the stub"
    _gate: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._gate.set()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.tool_results.clear()
        self.tool_command = None

    def messages(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1/messages") and "count_tokens" not in r.path]

    def last(self) -> Recorded:
        found = self.messages()
        if not found:
            raise AssertionError(f"Claude Code sent no Messages request; saw {[r.path for r in self.requests]}")
        return found[-1]

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    # --- what the server answers ------------------------------------------------------

    def answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The content blocks of the reply to one request."""
        results = _tool_results(body)
        if results:
            with self._lock:
                self.tool_results.extend(results)
            return [{"type": "text", "text": "the command ran"}]
        if self.tool_command is not None and _has_tool(body, "Bash"):
            return [
                {
                    "type": "tool_use",
                    "id": "toolu_stub_0001",
                    "name": "Bash",
                    "input": {"command": self.tool_command, "description": "print the environment"},
                }
            ]
        return [{"type": "text", "text": self.reply_text}]


def _tool_results(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages") or []
    if not messages or not isinstance(messages[-1].get("content"), list):
        return []
    out = []
    for block in messages[-1]["content"]:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            content = block.get("content")
            if isinstance(content, list):
                content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
            out.append(str(content))
    return out


def _has_tool(body: dict[str, Any], name: str) -> bool:
    return any(isinstance(t, dict) and t.get("name") == name for t in body.get("tools") or [])


def _handler(stub: MessagesStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._record({})
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "stub"}})

        def do_HEAD(self) -> None:
            self._record({})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            self._record(body if isinstance(body, dict) else {})
            path = self.path.split("?", 1)[0]
            if path == "/v1/messages/count_tokens":
                self._json(200, {"input_tokens": 10})
                return
            if path != "/v1/messages":
                self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "stub"}})
                return
            key = (self.headers.get("x-api-key") or "").strip()
            auth = (self.headers.get("authorization") or "").removeprefix("Bearer").strip()
            if not key and not auth:
                self._json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
                return
            stub._gate.wait(120)
            blocks = stub.answer(body)
            stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
            message = {
                "id": "msg_stub_0001",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "claude-stub"),
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }
            if body.get("stream"):
                self._stream(message)
            else:
                self._json(200, message)

        def _record(self, body: dict[str, Any]) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with stub._lock:
                stub.requests.append(Recorded(self.command, self.path, headers, body))

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, message: dict[str, Any]) -> None:
            events: list[tuple[str, dict[str, Any]]] = [
                ("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}),
            ]
            for index, block in enumerate(message["content"]):
                if block["type"] == "text":
                    events += [
                        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
                        ("ping", {"type": "ping"}),
                        ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}}),
                    ]
                else:
                    events += [
                        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}),
                        ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}),
                    ]
                events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
            events += [
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None}, "usage": {"output_tokens": 5}}),
                ("message_stop", {"type": "message_stop"}),
            ]
            data = b"".join(f"event: {name}\ndata: {json.dumps(doc)}\n\n".encode() for name, doc in events)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def running_stub() -> Iterator[MessagesStub]:
    stub = MessagesStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.release()
        server.shutdown()
        server.server_close()
