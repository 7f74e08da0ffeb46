"""The loopback redirect listener (RFC 8252 section 7.3).

Bound to 127.0.0.1 on a port the OS picks (or, for a server whose redirect URIs are
registered with a fixed port, such as a Vault role's `allowed_redirect_uris`, on that
port), started before the browser opens. The port is no secret (every local user can list it), so the listener trusts nothing
about who connects:

- every request from another local user is answered 403 and changes nothing, where
  the OS tells who owns the connecting socket (Linux: the `uid` column of
  /proc/net/tcp and tcp6); a connection whose owner cannot be found there is refused
  too. Where no such table exists the other protections stand alone;
- a `Host` other than 127.0.0.1:PORT or localhost:PORT is answered 400 (DNS
  rebinding: a web page cannot make the browser talk to us under its own name);
- `/start/<token>` (128 random bits, made per login) redirects to the authorization
  URL, once. A second fetch means someone else has the address: the login stops
  with `LoginHijacked`. `/start` without the token is 404;
- `/callback` with a `state` that is not this login's is answered 400 and the
  listener keeps waiting: a stranger's answer cannot end the login. The first
  callback with the right state is the answer; its page says "Signed in" only
  after the caller reports (`finish`) that the code exchange worked.

It runs in its own threads: a BROWSER command that blocks until the page is done
cannot block it, and a browser's idle pre-connections cannot stall it.
"""

from __future__ import annotations

import html
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from ..errors import CcloginError, OAuthError
from .errors import LoginTimeout, StateMismatch

CALLBACK_PATH = "/callback"
START_PATH = "/start"
# How long the browser's callback request waits for the code exchange to finish
# before its page says "see the terminal" instead.
OUTCOME_WAIT = 120.0
# Where Linux lists TCP sockets with their owner's uid; tests point this elsewhere.
PROC_TCP_TABLES: Sequence[str] = ("/proc/net/tcp", "/proc/net/tcp6")

# Decides whether a callback's parameters are acceptable: returns the error to raise
# (its message also goes on the browser page), or None when the login can go on. A
# StateMismatch means "not this login's answer": it is refused and the wait goes on.
Validator = Callable[[dict[str, str]], CcloginError | None]


class LoginHijacked(OAuthError):
    """The one-time sign-in address was used twice: someone else may hold it."""

    default_hint = ("run `cclogin login` again; if this repeats, check who else is "
                    "logged in to this machine (`who`) and tell your admin")


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


# --- who is connecting (Linux) ------------------------------------------------------


def _hex_addr(ip: str, *, v6: bool) -> str:
    """An address as /proc/net/tcp{,6} prints it: 32-bit words in host byte order."""
    if ":" in ip:
        raw = socket.inet_pton(socket.AF_INET6, ip)
    else:
        raw = socket.inet_aton(ip)
        if v6:  # an AF_INET6 client socket talking to our IPv4 listener
            raw = b"\0" * 10 + b"\xff\xff" + raw
    return "".join(f"{int.from_bytes(raw[i:i + 4], sys.byteorder):08X}"
                   for i in range(0, len(raw), 4))


class PeerUnknown(Exception):
    """The tables exist but list no live socket for the peer."""


def peer_uid(ours: tuple[str, int], peer: tuple[str, int],
             tables: Sequence[str] | None = None) -> int | None:
    """The uid owning the socket at `peer` connected to `ours`; None if the OS cannot
    tell (no tables: not Linux). Raises PeerUnknown when the tables are there but the
    socket is not (closed already, or a time-wait entry, which has no owner)."""
    paths = [Path(p) for p in (PROC_TCP_TABLES if tables is None else tables)]
    readable = False
    for path in paths:
        try:
            lines = path.read_text(encoding="ascii", errors="replace").splitlines()[1:]
        except OSError:
            continue
        readable = True
        v6 = path.name.endswith("6")
        try:
            want_local = f"{_hex_addr(peer[0], v6=v6)}:{peer[1]:04X}"
            want_remote = f"{_hex_addr(ours[0], v6=v6)}:{ours[1]:04X}"
        except OSError:  # an address this table cannot hold
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[1] != want_local or f[2] != want_remote:
                continue
            if f[9] == "0":  # no inode: a time-wait entry, owned by nobody
                continue
            try:
                return int(f[7])
            except ValueError:
                continue
    if not readable:
        return None
    raise PeerUnknown


def _connection_owner_ok(conn: socket.socket) -> bool:
    """False when the connecting socket belongs to another uid, or cannot be found."""
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows
        return True
    ours = conn.getsockname()[:2]
    peer = conn.getpeername()[:2]
    for _ in range(3):  # the kernel's listing can skip a socket that moves meanwhile
        try:
            uid = peer_uid(ours, peer)
        except PeerUnknown:
            continue
        return uid is None or uid == os.getuid()
    return False


# --- the server ---------------------------------------------------------------------


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
    """One-login callback listener. Use as a context manager; `wait()` for the answer,
    then `finish()` with how the code exchange went (the browser page says it)."""

    def __init__(
        self,
        validate: Validator,
        authorization_url: str | None = None,
        *,
        port: int = 0,
        callback_path: str = CALLBACK_PATH,
        redirect_host: str = "127.0.0.1",
    ) -> None:
        """`port`, `callback_path` and `redirect_host` (127.0.0.1 or localhost: the
        listener is on 127.0.0.1 either way) shape `redirect_uri` where the server
        insists on a registered one; an OSError means the port is taken."""
        if redirect_host not in ("127.0.0.1", "localhost") or not callback_path.startswith("/"):
            raise ValueError("the loopback redirect must be 127.0.0.1 or localhost, with a path")
        self._validate = validate
        self._callback_path = callback_path
        self._redirect_host = redirect_host
        self._auth_url = authorization_url
        self._start_token = secrets.token_urlsafe(16)  # 128 bits, this login only
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._result: Callback | None = None
        self._started = False  # /start/<token> was served once
        self._consumed = False  # set under the lock by the answer that ends the login
        self._refused_callbacks = 0  # answers with another login's state
        self._outcome_ready = threading.Event()
        self._outcome: CcloginError | None = None
        self._answered = threading.Event()  # the accepted callback's page was sent
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="cclogin-loopback", daemon=True,
        )
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://{self._redirect_host}:{self.port}{self._callback_path}"

    @property
    def start_url(self) -> str:
        """The one address that leads to the sign-in; holds a one-time secret."""
        return f"http://127.0.0.1:{self.port}{START_PATH}/{self._start_token}"

    def set_authorization_url(self, url: str) -> None:
        self._auth_url = url

    def wait(self, timeout: float) -> Callback:
        """Block until the answer arrived (or the login was stopped), or raise
        LoginTimeout."""
        if not self._done.wait(timeout):
            refused = self._refused_callbacks
            extra = (f"; refused {refused} answer(s) that did not belong to this "
                     "login (wrong state)") if refused else ""
            raise LoginTimeout(
                f"no sign-in arrived within {timeout:.0f} seconds{extra}",
            )
        result = self._result
        if result is None:  # pragma: no cover - _done is only set after _result
            raise LoginTimeout("the sign-in listener stopped without an answer")
        return result

    def finish(self, problem: CcloginError | None) -> None:
        """Say how the code exchange went; the waiting browser page shows it."""
        self._outcome = problem
        self._outcome_ready.set()
        # Let the page reach the browser before the listener closes (bounded).
        if self._result is not None and self._result.problem is None:
            self._answered.wait(10)

    def close(self) -> None:
        if not self._outcome_ready.is_set():  # left by an exception: no "Signed in"
            self._outcome = CcloginError("cclogin stopped before finishing the sign-in")
            self._outcome_ready.set()
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

    def _end(self, result: Callback) -> bool:
        """Make `result` the login's outcome; False if another one came first."""
        with self._lock:
            if self._consumed:
                return False
            self._consumed = True
            self._result = result
        self._done.set()
        return True

    def _start(self) -> str | None:
        """The authorization URL for the first fetch; None (and the login stopped)
        for any later one."""
        with self._lock:
            first = not self._started
            self._started = True
        if first:
            return self._auth_url
        self._end(Callback(params={}, problem=LoginHijacked(
            "the sign-in address was opened a second time, so another program or "
            "person on this machine may have it and could sign you in to their own "
            "account; this login was stopped and nothing was stored"
        )))
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self
        start_path = f"{START_PATH}/{self._start_token}"

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

            def _admitted(self) -> bool:
                """Refuse other users and foreign Host names; True if we may go on."""
                if not _connection_owner_ok(self.connection):
                    self.close_connection = True
                    self._send(403, _page("Not yours",
                                          "This sign-in belongs to another user."))
                    return False
                host = (self.headers.get("Host") or "").strip().lower()
                if host not in (f"127.0.0.1:{owner.port}", f"localhost:{owner.port}"):
                    self._send(400, _page("Bad request", "Unexpected Host header."))
                    return False
                return True

            def do_GET(self) -> None:
                if not self._admitted():
                    return
                parts = urlsplit(self.path)
                if parts.path == start_path and owner._auth_url:
                    self._start()
                elif parts.path == owner._callback_path:
                    self._callback(dict(parse_qsl(parts.query, keep_blank_values=True)))
                else:
                    self._send(404, _page("Not found", "This page does not exist."))

            def _start(self) -> None:
                url = owner._start()
                if url is None:
                    self._send(400, _page(
                        "Sign-in stopped",
                        "This sign-in address was opened twice. Someone else may be "
                        "trying to take over the login, so cclogin stopped it. Close "
                        "this window and run `cclogin login` again."))
                else:
                    self._send(302, _page("Redirecting", "Opening the sign-in page..."), url)

            def _callback(self, params: dict[str, str]) -> None:
                problem = owner._validate(params)
                if isinstance(problem, StateMismatch):
                    with owner._lock:
                        owner._refused_callbacks += 1
                    self._send(400, _page("Not this sign-in",
                                          "This answer does not belong to the sign-in "
                                          "cclogin is waiting for. You can close this "
                                          "window."))
                    return
                if not owner._end(Callback(params=params, problem=problem)):
                    self._send(410, _page("Already used",
                                          "This sign-in link was already used. "
                                          "You can close this window."))
                    return
                if problem is not None:
                    self._send(400, _page("Sign-in failed",
                                          f"{problem.message}. You can close this window; "
                                          "the terminal says what to do next."))
                    return
                try:
                    self._send_outcome()
                finally:
                    owner._answered.set()

            def _send_outcome(self) -> None:
                """The accepted answer's page, once the code exchange is over."""
                if not owner._outcome_ready.wait(OUTCOME_WAIT):
                    self._send(200, _page("Still finishing",
                                          "cclogin received your sign-in and is still "
                                          "finishing it; the terminal says whether it "
                                          "worked."))
                elif owner._outcome is None:
                    self._send(200, _page("Signed in",
                                          "cclogin completed your sign-in. You can close "
                                          "this window and return to the terminal."))
                else:
                    self._send(502, _page("Sign-in failed",
                                          "The sign-in could not be completed: "
                                          f"{owner._outcome.message}. You can close this "
                                          "window; the terminal says what to do next."))

            def do_POST(self) -> None:
                if self._admitted():
                    self._send(405, _page("Not allowed", "This address only accepts GET."))

        return Handler
