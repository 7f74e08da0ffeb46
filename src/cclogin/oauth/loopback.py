"""The loopback redirect listener (RFC 8252 section 7.3).

Bound to 127.0.0.1 on a port the OS picks, started before the browser opens, it
accepts exactly one request to `/callback` and then closes. Other paths get 404 and
do not consume it. `/start` redirects to the authorization URL, so the URL we print
and hand to the browser command carries no `state` (argv is visible to other local
users). It runs in its own threads: a BROWSER command that blocks until the page is
done cannot block it, and a browser's idle pre-connections cannot stall it.
"""

from __future__ import annotations

import html
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from ..errors import CcloginError
from .errors import LoginTimeout

CALLBACK_PATH = "/callback"
START_PATH = "/start"

# Decides whether a callback's parameters are acceptable: returns the error to raise
# (its message also goes on the browser page), or None when the login can go on.
Validator = Callable[[dict[str, str]], CcloginError | None]


@dataclass(frozen=True, repr=False)
class Callback:
    params: dict[str, str]  # holds the code and state: never print it
    problem: CcloginError | None  # what the validator said, None if accepted

    def __repr__(self) -> str:
        return f"Callback(problem={self.problem!r})"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cclogin: {title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32em;margin:4em auto;color:#222}}
h1{{font-size:1.4em}}</style></head>
<body><h1>{title}</h1><p>{body}</p></body></html>
"""


def _page(title: str, body: str) -> bytes:
    return _PAGE.format(title=html.escape(title), body=html.escape(body)).encode()


class _Server(ThreadingHTTPServer):
    # http.server sets SO_REUSEADDR, which on Windows lets another process bind the
    # same port and steal the callback (cpython #85307).
    allow_reuse_address = False
    allow_reuse_port = False
    daemon_threads = True

    def server_bind(self) -> None:
        if sys.platform == "win32":  # pragma: no cover - Windows CI only
            self.socket.setsockopt(
                socket.SOL_SOCKET,
                socket.SO_EXCLUSIVEADDRUSE,  # type: ignore[attr-defined,unused-ignore]
                1,
            )
        super().server_bind()


class LoopbackServer:
    """One-shot callback listener. Use as a context manager; `wait()` for the result."""

    def __init__(self, validate: Validator, authorization_url: str | None = None) -> None:
        self._validate = validate
        self._auth_url = authorization_url
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._result: Callback | None = None
        self._consumed = False  # set under the lock by the first callback
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="cclogin-loopback", daemon=True,
        )
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    @property
    def start_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{START_PATH}"

    def set_authorization_url(self, url: str) -> None:
        self._auth_url = url

    def wait(self, timeout: float) -> Callback:
        """Block until the one callback arrived, or raise LoginTimeout."""
        if not self._done.wait(timeout):
            raise LoginTimeout(
                f"no sign-in arrived within {timeout:.0f} seconds",
            )
        result = self._result
        if result is None:  # pragma: no cover - _done is only set after _result
            raise LoginTimeout("the sign-in listener stopped without an answer")
        return result

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self, params: dict[str, str]) -> Callback | None:
        """Record the first callback; None for any later one (already consumed)."""
        with self._lock:
            if self._consumed:
                return None
            self._consumed = True
            result = Callback(params=params, problem=self._validate(params))
            self._result = result
            return result

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # an idle browser pre-connection gives up, not us
            server_version = "cclogin"
            sys_version = ""

            def log_message(self, format: str, *args: object) -> None:
                pass  # the request line holds the code and state: never log it

            def _send(self, status: int, body: bytes, location: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == START_PATH and owner._auth_url and not owner._consumed:
                    self._send(302, _page("Redirecting", "Opening the sign-in page..."),
                               owner._auth_url)
                    return
                if parts.path != CALLBACK_PATH:
                    self._send(404, _page("Not found", "This page does not exist."))
                    return
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                result = owner._accept(params)
                if result is None:
                    self._send(410, _page("Already used",
                                          "This sign-in link was already used. "
                                          "You can close this window."))
                    return
                if result.problem is None:
                    self._send(200, _page("Signed in",
                                          "cclogin received your sign-in. You can close "
                                          "this window and return to the terminal."))
                else:
                    self._send(400, _page("Sign-in failed",
                                          f"{result.problem.message}. You can close this window; "
                                          "the terminal says what to do next."))
                owner._done.set()

            def do_POST(self) -> None:
                self._send(405, _page("Not allowed", "This address only accepts GET."))

        return Handler
