"""OAuth servers that are slow, strange or hostile (issue 9, items 5, 12-15).

One real HTTP server on 127.0.0.1 (http.server in a thread), written here, plays the
provider: discovery, a device-code endpoint, a token endpoint and a revocation
endpoint, each switchable to misbehave (drip one byte a second forever, answer 403,
redirect, serve an HTML catch-all page, issue no refresh token). Logins go through
the real `cclogin` executable with the device flow.

No assertion is about elapsed time: each is about the outcome and the message; the
subprocess timeouts are only generous upper bounds that keep a regression from
hanging the suite.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from cclogin.oauth.device import device_login
from cclogin.oauth.errors import DeviceCodeExpired
from cclogin.oauth.provider import discover
from support.cli import CCLOGIN, World, make_encrypted_world
from support.tokens import expire_soon

CLIENT_ID = "hostile-test"
DEADLINE = "2"  # CCLOGIN_TEST_ONLY_HTTP_DEADLINE for the dripping cases
HTML = b"<html><body>Welcome to the portal</body></html>"


class Provider:
    """The server's behaviour (set by tests) and what it saw."""

    def __init__(self) -> None:
        self.rfc8414 = "404"  # 404 | 403 | 302 | html | valid
        self.openid = "valid"  # valid | 403 | html
        self.token = "normal"  # normal | drip
        self.revoke = "ok"  # ok | refuse | drip | missing | closed
        self.refresh_tokens = True
        self.expires_in = 3600
        self.pending = 0  # authorization_pending answers before the device grant succeeds
        self.device_interval: Any = 0.2  # clamped to 1 s
        self.device_expires: Any = 60
        self.token_requests = 0
        self.refresh_grants = 0
        self.revocations = 0
        self.stop = threading.Event()
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base}/tenant"

    def metadata(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "issuer": self.issuer,
            "token_endpoint": f"{self.base}/token",
            "device_authorization_endpoint": f"{self.base}/device",
        }
        if self.revoke == "closed":
            doc["revocation_endpoint"] = "http://127.0.0.1:9/revoke"  # discard: closed
        elif self.revoke != "missing":
            doc["revocation_endpoint"] = f"{self.base}/revoke"
        return doc


def _handler(p: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json",
                  extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            self._send(status, json.dumps(doc).encode())

        def _drip(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                while not p.stop.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    p.stop.wait(1.0)
            except OSError:
                pass  # the client gave up: that is what is being tested

        def _answer(self, mode: str) -> None:
            if mode == "valid":
                self._json(200, p.metadata())
            elif mode == "302":
                self._send(302, b"", extra={"Location": f"{p.base}/login"})
            elif mode == "html":
                self._send(200, HTML, "text/html; charset=utf-8")
            else:
                self._send(int(mode), b"{}")

        def do_GET(self) -> None:
            if self.path == "/.well-known/oauth-authorization-server/tenant":
                self._answer(p.rfc8414)
            elif self.path == "/tenant/.well-known/openid-configuration":
                self._answer(p.openid)
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path == "/device":
                self._json(200, {"device_code": "dc-" + secrets.token_hex(8),
                                 "user_code": "ABCD-EFGH",
                                 "verification_uri": f"{p.base}/activate",
                                 "interval": p.device_interval,
                                 "expires_in": p.device_expires})
            elif self.path == "/token":
                self._token(form)
            elif self.path == "/revoke":
                p.revocations += 1
                if p.revoke == "drip":
                    self._drip()
                elif p.revoke == "refuse":
                    self._json(403, {"error": "unauthorized_client"})
                else:
                    self._send(200, b"")
            else:
                self._send(404, b"{}")

        def _token(self, form: dict[str, str]) -> None:
            p.token_requests += 1
            if form.get("grant_type") == "refresh_token":
                p.refresh_grants += 1
            if p.token == "drip":
                self._drip()
                return
            if form.get("grant_type", "").endswith("device_code") and p.pending > 0:
                p.pending -= 1
                self._json(400, {"error": "authorization_pending"})
                return
            doc: dict[str, Any] = {"access_token": "at-" + secrets.token_urlsafe(24),
                                   "token_type": "Bearer", "expires_in": p.expires_in}
            if p.refresh_tokens:
                doc["refresh_token"] = "rt-" + secrets.token_urlsafe(24)
            self._json(200, doc)

    return Handler


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(p))
    server.daemon_threads = True
    p.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield p
    finally:
        p.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_encrypted_world(tmp_path)


def login(world: World, p: Provider) -> None:
    res = world.cclogin("login", "--profile", "corp", "--issuer", p.issuer,
                        "--client-id", CLIENT_ID, "--device")
    assert res.rc == 0, res


def token(world: World, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CCLOGIN, "token"], env=world.environ(extra), text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=90,
                          check=False)


# --- 12: discovery ----------------------------------------------------------------


@pytest.mark.parametrize("answer", ["403", "302", "html", "500"])
def test_discovery_moves_past_a_strange_rfc8414_answer(
    world: World, provider: Provider, answer: str
) -> None:
    provider.rfc8414 = answer
    login(world, provider)
    assert world.cclogin("token").rc == 0


def test_discovery_names_every_address_and_what_it_said(
    world: World, provider: Provider
) -> None:
    provider.rfc8414, provider.openid = "403", "html"
    res = world.cclogin("login", "--profile", "corp", "--issuer", provider.issuer,
                        "--client-id", CLIENT_ID, "--device")
    assert res.rc == 1, res
    assert "/.well-known/oauth-authorization-server/tenant answered HTTP 403" in res.stderr
    assert "/tenant/.well-known/openid-configuration answered a document that is not " \
           "JSON metadata (text/html)" in res.stderr
    assert "client id" not in res.stderr  # the old, misleading 403 hint


def test_discovery_skips_a_redirect_without_following_it(provider: Provider) -> None:
    provider.rfc8414 = "302"
    found = discover(provider.issuer, CLIENT_ID)
    assert found.token_endpoint == f"{provider.base}/token"


# --- 5 and 15: deadlines ------------------------------------------------------------


def test_a_dripping_token_endpoint_hands_out_the_still_valid_token(
    world: World, provider: Provider
) -> None:
    login(world, provider)
    before = world.cclogin("token").stdout.strip()
    expire_soon(world, "corp", 30)
    provider.token = "drip"
    res = token(world, CCLOGIN_TEST_ONLY_HTTP_DEADLINE=DEADLINE)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == before
    assert "could not refresh profile 'corp'" in res.stderr
    assert provider.refresh_grants == 1


def test_a_dripping_token_endpoint_with_an_expired_token_is_a_network_error(
    world: World, provider: Provider
) -> None:
    login(world, provider)
    expire_soon(world, "corp", -5)
    provider.token = "drip"
    res = token(world, CCLOGIN_TEST_ONLY_HTTP_DEADLINE=DEADLINE)
    assert res.returncode == 6, res.stderr
    assert res.stdout == ""
    assert f"{provider.base}/token did not finish its answer within 2 s" in res.stderr


def test_a_stuck_refresher_does_not_hold_other_callers_back(
    world: World, provider: Provider
) -> None:
    login(world, provider)
    before = world.cclogin("token").stdout.strip()
    expire_soon(world, "corp", 30)
    provider.token = "drip"
    stuck = subprocess.Popen([CCLOGIN, "token"], env=world.environ(), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until the first caller holds the lock and is dripped on
            if provider.refresh_grants:
                break
            time.sleep(0.05)
        assert provider.refresh_grants == 1
        res = token(world)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == before
        assert "another cclogin process is still refreshing profile 'corp'" in res.stderr
        assert provider.refresh_grants == 1  # the second caller did not refresh too
    finally:
        stuck.kill()
        stuck.communicate()


def test_an_expired_token_behind_a_held_lock_exits_4(world: World, provider: Provider) -> None:
    login(world, provider)
    expire_soon(world, "corp", -5)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         "from cclogin.fsio import file_lock\n"
         "from cclogin.paths import get_paths\n"
         "with file_lock(get_paths().lock_file('refresh-corp')):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(120)\n"],
        env=world.environ(), text=True, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        res = token(world, CCLOGIN_TEST_ONLY_HTTP_DEADLINE="1")
        assert res.returncode == 4, res.stderr
        assert res.stdout == ""
        assert "has been refreshing profile 'corp'" in res.stderr
        assert "gave up waiting" in res.stderr
        assert provider.refresh_grants == 0
    finally:
        holder.kill()
        holder.communicate()


# --- 13: no refresh token -----------------------------------------------------------


def test_a_short_token_without_refresh_is_used_until_it_really_expires(
    world: World, provider: Provider
) -> None:
    provider.refresh_tokens = False
    provider.expires_in = 61
    login(world, provider)  # used to be refused right after it succeeded
    first = world.cclogin("token")
    assert first.rc == 0, first
    expire_soon(world, "corp", 20)  # inside the refresh margin: still handed out
    again = world.cclogin("token")
    assert again.rc == 0, again
    assert again.stdout == first.stdout
    assert provider.refresh_grants == 0
    expire_soon(world, "corp", -1)
    res = world.cclogin("token")
    assert res.rc == 5, res
    assert res.stdout == ""
    assert "the access token of profile 'corp' expired at " in res.stderr
    assert "UTC" in res.stderr
    assert "--profile corp" in res.stderr and "127.0.0.1" in res.stderr
    assert "has expired" not in res.stderr


# --- 5 and 14: logout and revocation ------------------------------------------------


def _logout(world: World, p: Provider, mode: str) -> str:
    p.revoke = mode
    login(world, p)
    secret = world.cclogin("token").stdout.strip()
    res = world.cclogin("logout", extra={"CCLOGIN_TEST_ONLY_HTTP_DEADLINE": DEADLINE})
    assert res.rc == 0, res
    assert world.traces(secret) == []
    assert "offline?" not in res.stderr
    return res.stderr


def test_logout_revokes_when_the_server_confirms(world: World, provider: Provider) -> None:
    err = _logout(world, provider, "ok")
    assert "revoked the tokens of 'corp'" in err
    assert provider.revocations == 2


def test_logout_says_the_provider_offers_no_revocation(
    world: World, provider: Provider
) -> None:
    err = _logout(world, provider, "missing")
    assert "offers no revocation; the access token stays valid until " in err
    assert "UTC" in err


def test_logout_says_the_revocation_was_refused(world: World, provider: Provider) -> None:
    err = _logout(world, provider, "refuse")
    assert "refused the revocation: HTTP 403" in err


def test_logout_says_the_revocation_endpoint_was_unreachable(
    world: World, provider: Provider
) -> None:
    err = _logout(world, provider, "closed")
    assert "revocation endpoint was unreachable" in err


def test_logout_wipes_without_waiting_on_a_dripping_revocation(
    world: World, provider: Provider
) -> None:
    err = _logout(world, provider, "drip")
    assert "did not answer in time" in err
    assert "removed secret of 'corp'" in err
    assert world.stored_keys() == []


# --- 5: device flow numbers are clamped ---------------------------------------------


def test_device_interval_and_lifetime_are_clamped(provider: Provider) -> None:
    provider.device_interval, provider.device_expires = 10**9, 10**9
    provider.pending = 10**6  # never approved
    found = discover(provider.issuer, CLIENT_ID)
    sleeps: list[float] = []
    now = [0.0]

    def monotonic() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(DeviceCodeExpired):
        device_login(found, stderr=open("/dev/null", "w"), sleep=sleep,  # noqa: SIM115
                     monotonic=monotonic)
    assert set(sleeps) == {60.0}
    assert 30 <= len(sleeps) <= 32  # about 30 minutes of 60 s polls, not 10**9 s


def test_a_tiny_device_interval_polls_once_a_second(provider: Provider) -> None:
    provider.device_interval = 0.01
    provider.pending = 2
    found = discover(provider.issuer, CLIENT_ID)
    sleeps: list[float] = []
    tokens = device_login(found, stderr=open("/dev/null", "w"),  # noqa: SIM115
                          sleep=sleeps.append)
    assert sleeps == [1.0, 1.0, 1.0]
    assert tokens.access_token.reveal().startswith("at-")
