"""The OAuth client against a real authorization server (oidc-provider on 127.0.0.1)."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import webbrowser
from pathlib import Path

import httpx
import pytest

from cclogin.errors import NetworkError, OAuthError
from cclogin.model import OAuthTokens
from cclogin.oauth.device import device_login
from cclogin.oauth.errors import (
    AuthorizationDenied,
    ConnectFailed,
    DeviceCodeExpired,
    ProxyFailed,
    RefreshRejected,
    StateMismatch,
    TokenRequestFailed,
)
from cclogin.oauth.flows import authorization_url, browser_login, exchange_code, paste_login
from cclogin.oauth.http import HttpClient
from cclogin.oauth.pkce import new_pkce, new_state
from cclogin.oauth.provider import Provider, discover
from cclogin.oauth.refresh import refresh
from cclogin.oauth.revoke import revoke
from cclogin.oauth.tokens import token_request
from support.oidc import OidcServer, deliver, play_user, start_server, write_browser

pytestmark = pytest.mark.oidc


@pytest.fixture
def provider(oidc_server: OidcServer) -> Provider:
    return discover(oidc_server.issuer, oidc_server.client_id, name="corp")


@pytest.fixture
def fresh_webbrowser(monkeypatch: pytest.MonkeyPatch) -> None:
    # webbrowser reads BROWSER once per process; make it read ours.
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})


def _user_opener(consent: bool = True) -> tuple[list[int], object]:
    statuses: list[int] = []

    def open_url(url: str) -> None:
        def run() -> None:
            statuses.append(deliver(play_user(url, consent=consent)).status_code)

        threading.Thread(target=run, daemon=True).start()

    return statuses, open_url


def _assert_usable(server: OidcServer, tokens: OAuthTokens) -> None:
    info = server.introspect(tokens.access_token.reveal())
    assert info["active"] is True
    assert info["sub"] == "alice@example.test"
    assert tokens.refresh_token is not None
    assert tokens.expires_at is not None and tokens.expires_at > time.time()


def test_discovery_finds_every_endpoint(oidc_server: OidcServer, provider: Provider) -> None:
    assert provider.issuer == oidc_server.issuer
    assert provider.token_endpoint == f"{oidc_server.issuer}/token"
    assert provider.device_authorization_endpoint and provider.revocation_endpoint
    assert provider.scopes == ("openid", "offline_access")
    assert ("prompt", "consent") in provider.authorize_params
    assert provider.require_iss  # the server announces RFC 9207
    assert all(provider.supports(f) for f in ("browser", "paste", "device"))


def test_browser_login_with_a_browser_command_that_plays_the_user(
    oidc_server: OidcServer, provider: Provider, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, fresh_webbrowser: None,
) -> None:
    monkeypatch.setenv("BROWSER", str(write_browser(tmp_path / "browser")))
    err = io.StringIO()
    tokens = browser_login(provider, timeout=60, stderr=err)
    _assert_usable(oidc_server, tokens)
    shown = err.getvalue()
    assert "/start" in shown and "state=" not in shown and "code_challenge" not in shown


def test_browser_login_does_not_wait_for_a_blocking_browser_command(
    oidc_server: OidcServer, provider: Provider, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, fresh_webbrowser: None,
) -> None:
    release, pid_file = tmp_path / "release", tmp_path / "browser.pid"
    browser = write_browser(tmp_path / "browser", hold_until=release, pid_file=pid_file)
    monkeypatch.setenv("BROWSER", str(browser))
    try:
        tokens = browser_login(provider, timeout=60, stderr=io.StringIO())
        _assert_usable(oidc_server, tokens)
        # The browser command is still running: we returned without waiting for it.
        os.kill(int(pid_file.read_text()), 0)
    finally:
        release.touch()


def test_the_callback_is_served_once_then_closed(provider: Provider) -> None:
    seen: list[str] = []

    def open_url(url: str) -> None:
        def run() -> None:
            cb = play_user(url)
            seen.append(cb)
            deliver(cb)

        threading.Thread(target=run, daemon=True).start()

    browser_login(provider, timeout=60, open_browser=open_url, stderr=io.StringIO())
    with pytest.raises(Exception, match=r"(?i)connect"):
        deliver(seen[0])  # a replay finds nobody listening


def test_a_replayed_callback_from_another_login_is_refused(
    oidc_server: OidcServer, provider: Provider
) -> None:
    # Finish one login and keep its callback address (code + state).
    old: list[str] = []

    def keep(url: str) -> None:
        def run() -> None:
            cb = play_user(url)
            old.append(cb)
            deliver(cb)

        threading.Thread(target=run, daemon=True).start()

    browser_login(provider, timeout=60, open_browser=keep, stderr=io.StringIO())
    grants = oidc_server.count("grant.success", "authorization_code")

    # Replay it into a new login's listener: refused (400), and the login goes on;
    # the real answer that follows completes it.
    statuses: list[int] = []

    def replay_then_sign_in(start_url: str) -> None:
        def run() -> None:
            query = old[0].split("?", 1)[1]
            base = start_url.split("/start", 1)[0]
            statuses.append(deliver(f"{base}/callback?{query}").status_code)
            statuses.append(deliver(play_user(start_url)).status_code)

        threading.Thread(target=run, daemon=True).start()

    tokens = browser_login(provider, timeout=60, open_browser=replay_then_sign_in,
                           stderr=io.StringIO())
    _assert_usable(oidc_server, tokens)
    assert statuses == [400, 200]
    # Only the real answer's code was exchanged.
    assert oidc_server.count("grant.success", "authorization_code") == grants + 1


def test_wrong_state_is_refused_before_any_token_request_and_the_login_goes_on(
    oidc_server: OidcServer, provider: Provider
) -> None:
    pages: list[httpx.Response] = []
    before: list[int] = []

    def forge(url: str) -> None:
        def run() -> None:
            cb = play_user(url)
            head, _, query = cb.partition("?")
            forged = "&".join(p if not p.startswith("state=") else "state=forged"
                              for p in query.split("&"))
            before.append(len(oidc_server.events()))
            pages.append(deliver(f"{head}?{forged}"))
            before.append(len(oidc_server.events()))
            pages.append(deliver(cb))

        threading.Thread(target=run, daemon=True).start()

    tokens = browser_login(provider, timeout=60, open_browser=forge, stderr=io.StringIO())
    _assert_usable(oidc_server, tokens)
    assert pages[0].status_code == 400 and "forged" not in pages[0].text
    assert before[0] == before[1]  # the forged answer's code was never exchanged
    assert pages[1].status_code == 200 and "Signed in" in pages[1].text


def test_denied_consent_is_a_clear_error(provider: Provider) -> None:
    _, opener = _user_opener(consent=False)
    with pytest.raises(AuthorizationDenied, match="denied or cancelled"):
        browser_login(provider, timeout=60, open_browser=opener, stderr=io.StringIO())


def test_paste_login_with_the_whole_address(oidc_server: OidcServer, provider: Provider) -> None:
    err = io.StringIO()

    def answer(prompt: str) -> str:
        url = next(line.strip() for line in err.getvalue().splitlines()
                   if line.strip().startswith("http"))
        return play_user(url)  # what the address bar shows at the end

    tokens = paste_login(provider, read_answer=answer, stderr=err)
    _assert_usable(oidc_server, tokens)


def test_paste_login_refuses_an_answer_for_another_login(provider: Provider) -> None:
    err = io.StringIO()
    with pytest.raises(StateMismatch):
        paste_login(provider, read_answer=lambda _: "code-from-elsewhere#other-state",
                    stderr=err)


def test_a_wrong_or_missing_code_verifier_gets_no_tokens(
    oidc_server: OidcServer, provider: Provider
) -> None:
    redirect = "http://127.0.0.1:9/callback"
    for attempt in ("wrong", "missing"):
        pkce, state = new_pkce(), new_state()
        cb = play_user(authorization_url(provider, redirect_uri=redirect, state=state,
                                         pkce=pkce))
        code = dict(p.split("=", 1) for p in cb.split("?", 1)[1].split("&"))["code"]
        with pytest.raises(TokenRequestFailed, match=r"invalid_grant|invalid_request") as info:
            if attempt == "wrong":
                exchange_code(provider, code=code, redirect_uri=redirect, pkce=new_pkce())
            else:
                with HttpClient() as http:
                    token_request(provider, http, {"grant_type": "authorization_code",
                                                   "code": code, "redirect_uri": redirect},
                                  "the sign-in")
        assert code not in str(info.value)


def test_device_login_after_the_user_approves(oidc_server: OidcServer, provider: Provider
                                              ) -> None:
    err = io.StringIO()
    approved: list[str] = []

    def approve_when_shown(seconds: float) -> None:
        if not approved:
            code = next(line.strip() for line in err.getvalue().splitlines()
                        if line.startswith("    "))
            approved.append(oidc_server.approve_device(code))
        time.sleep(seconds)

    tokens = device_login(provider, stderr=err, sleep=approve_when_shown)
    _assert_usable(oidc_server, tokens)
    assert f"{oidc_server.issuer}/device" in err.getvalue()


def test_device_login_denied_on_the_device_page(oidc_server: OidcServer, provider: Provider
                                                ) -> None:
    err = io.StringIO()

    def deny_when_shown(seconds: float) -> None:
        if "denied" not in err.getvalue():
            code = next(line.strip() for line in err.getvalue().splitlines()
                        if line.startswith("    "))
            oidc_server.approve_device(code, consent=False)
            err.write("denied\n")
        time.sleep(seconds)

    with pytest.raises(AuthorizationDenied):
        device_login(provider, stderr=err, sleep=deny_when_shown)


def test_an_expired_device_code_stops_polling(oidc_server: OidcServer) -> None:
    short = discover(oidc_server.issuer, oidc_server.short_device_client_id, name="corp")
    with pytest.raises(DeviceCodeExpired, match="expired before it was approved"):
        device_login(short, stderr=io.StringIO())


def test_refresh_rotates_and_the_old_refresh_token_is_then_rejected(
    oidc_server: OidcServer, provider: Provider
) -> None:
    _, opener = _user_opener()
    first = browser_login(provider, timeout=60, open_browser=opener, stderr=io.StringIO())
    before = oidc_server.refresh_grants()
    t0 = time.monotonic()
    second = refresh(provider, first)
    elapsed = time.monotonic() - t0
    assert oidc_server.refresh_grants() == before + 1
    assert second.refresh_token is not None and second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert oidc_server.introspect(second.access_token.reveal())["active"] is True
    with pytest.raises(RefreshRejected, match="no longer accepts"):
        refresh(provider, first)
    assert oidc_server.refresh_grants() == before + 1
    print(f"refresh took {elapsed * 1000:.0f} ms")


def test_revocation_makes_the_tokens_inactive(oidc_server: OidcServer, provider: Provider
                                              ) -> None:
    _, opener = _user_opener()
    tokens = browser_login(provider, timeout=60, open_browser=opener, stderr=io.StringIO())
    assert revoke(provider, tokens) is True
    assert oidc_server.introspect(tokens.access_token.reveal())["active"] is False
    assert tokens.refresh_token is not None
    assert oidc_server.introspect(tokens.refresh_token.reveal())["active"] is False
    with pytest.raises(RefreshRejected):
        refresh(provider, tokens)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_that_is_down(oidc_server: OidcServer, provider: Provider) -> None:
    port = _closed_port()
    with pytest.raises(ConnectFailed, match=f"127.0.0.1 \\(port {port}\\)"):
        discover(f"http://127.0.0.1:{port}", "cclogin-test")
    down = Provider(name="corp", issuer=provider.issuer, client_id=provider.client_id,
                    token_endpoint=f"http://127.0.0.1:{port}/token",
                    revocation_endpoint=f"http://127.0.0.1:{port}/revoke")
    tokens = OAuthTokens(access_token=provider_secret("a" * 30),
                         refresh_token=provider_secret("r" * 30))
    with pytest.raises(NetworkError):
        refresh(down, tokens)
    assert revoke(down, tokens) is False  # offline logout goes on


def provider_secret(value: str):  # type: ignore[no-untyped-def]
    from cclogin.secret import Secret

    return Secret(value)


def test_a_proxy_that_refuses_and_no_proxy_bypassing_it(
    oidc_server: OidcServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", dead)
    monkeypatch.setenv("HTTPS_PROXY", dead)
    with pytest.raises(ProxyFailed, match="proxy") as info:
        discover(oidc_server.issuer, oidc_server.client_id)
    assert "HTTPS_PROXY" in info.value.hint
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert discover(oidc_server.issuer, oidc_server.client_id).issuer == oidc_server.issuer


def test_refresh_through_the_dead_proxy_leaves_an_error_not_tokens(
    oidc_server: OidcServer, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, opener = _user_opener()
    tokens = browser_login(provider, timeout=60, open_browser=opener, stderr=io.StringIO())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    before = oidc_server.refresh_grants()
    with pytest.raises(ProxyFailed):
        refresh(provider, tokens)
    assert oidc_server.refresh_grants() == before
    monkeypatch.delenv("HTTP_PROXY")
    assert refresh(provider, tokens).refresh_token is not None  # the old one still works


def test_login_timeout_when_nobody_signs_in(provider: Provider) -> None:
    with pytest.raises(OAuthError, match="no sign-in arrived"):
        browser_login(provider, timeout=0.3, open_browser=lambda url: None,
                      stderr=io.StringIO())


def test_a_second_server_instance_is_independent(tmp_path: Path) -> None:
    # The fixture's factory starts and stops servers by PID; nothing stays behind.
    server = start_server(tmp_path / "second")
    pid = server.proc.pid
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
