"""Small unit tests beside the real-server ones: pure functions and tiny fakes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import httpx
import pytest

from cclogin.errors import NeedsRelogin, OAuthError
from cclogin.model import OAuthTokens
from cclogin.oauth.device import device_login
from cclogin.oauth.errors import (
    ClaudeProviderRefused,
    DiscoveryError,
    DnsError,
    IssuerMismatch,
    ProviderNotFound,
    RefreshRejected,
    TlsError,
)
from cclogin.oauth.flows import check_callback, parse_pasted
from cclogin.oauth.http import HttpClient
from cclogin.oauth.loopback import LoopbackServer
from cclogin.oauth.pkce import challenge_for, new_pkce, new_state
from cclogin.oauth.provider import (
    Provider,
    discover,
    discovery_urls,
    from_extra,
    load_provider,
    to_extra,
)
from cclogin.oauth.refresh import refresh
from cclogin.oauth.tokens import parse_tokens
from cclogin.secret import Secret

ISSUER = "https://login.example.test"


def _provider(**kw: object) -> Provider:
    base: dict[str, object] = dict(
        name="corp", issuer=ISSUER, client_id="cli", token_endpoint=f"{ISSUER}/token",
        authorization_endpoint=f"{ISSUER}/auth",
        device_authorization_endpoint=f"{ISSUER}/device",
    )
    base.update(kw)
    return Provider(**base)  # type: ignore[arg-type]


def _mock(handler: object) -> HttpClient:
    return HttpClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


# --- PKCE -------------------------------------------------------------------------


def test_pkce_is_s256_of_a_fresh_256_bit_verifier() -> None:
    a, b = new_pkce(), new_pkce()
    assert a.method == "S256" and a.verifier != b.verifier
    v = a.verifier.reveal()
    assert len(v) >= 43
    digest = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=")
    assert a.challenge == digest.decode() == challenge_for(v)
    assert v not in repr(a) and new_state().reveal() not in repr(new_state())
    with pytest.raises(ValueError, match="32"):
        new_pkce(16)


# --- providers --------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["https://claude.ai", "https://console.anthropic.com",
                                    "https://auth.claude.com/x", "https://CLAUDE.AI."])
def test_anthropic_issuers_are_refused_before_any_request(issuer: str) -> None:
    calls: list[httpx.Request] = []
    with pytest.raises(ClaudeProviderRefused, match="no OAuth client for Claude") as info:
        discover(issuer, "some-id", http=_mock(calls.append))
    assert "cclogin login --claude" in info.value.hint
    assert calls == []


def test_a_configured_provider_with_an_anthropic_token_endpoint_is_refused() -> None:
    cfg = {"providers": {"sneaky": {"issuer": ISSUER, "client_id": "x",
                                    "token_endpoint": "https://api.anthropic.com/oauth/token"}}}
    with pytest.raises(ClaudeProviderRefused):
        load_provider("sneaky", cfg)


def test_not_claude_lookalikes_are_fine() -> None:
    assert _provider(issuer="https://notclaude.ai.example.com").issuer


def test_discovery_falls_back_to_openid_and_checks_the_issuer() -> None:
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url.path)
        if req.url.path.startswith("/.well-known/oauth-authorization-server"):
            return httpx.Response(404)
        return httpx.Response(200, json={"issuer": f"{ISSUER}/tenant",
                                          "token_endpoint": f"{ISSUER}/t",
                                          "authorization_endpoint": f"{ISSUER}/a",
                                          "scopes_supported": ["openid", "profile"]})

    p = discover(f"{ISSUER}/tenant", "cli", http=_mock(handler))
    assert seen == ["/.well-known/oauth-authorization-server/tenant",
                    "/tenant/.well-known/openid-configuration"]
    assert p.scopes == ("openid",) and p.authorize_params == ()  # no offline_access offered
    assert p.flows == ("browser", "paste") and not p.supports("device")

    def liar(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": "https://evil.test",
                                          "token_endpoint": "https://evil.test/t"})

    with pytest.raises(DiscoveryError, match=r"evil\.test"):
        discover(ISSUER, "cli", http=_mock(liar))


def test_discovery_urls_follow_rfc8414() -> None:
    assert discovery_urls("https://h.test") == [
        "https://h.test/.well-known/oauth-authorization-server",
        "https://h.test/.well-known/openid-configuration"]


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(DiscoveryError, match="https"):
        discover("http://login.example.test", "cli", http=_mock(lambda r: httpx.Response(500)))


def test_provider_round_trips_through_profile_extra() -> None:
    p = _provider(scopes=("openid", "offline_access", "gw:use"), base_url="https://gw.test",
                  authorize_params=(("audience", "gw & co"), ("prompt", "consent")),
                  token_request="json", require_iss=True, revocation_endpoint=f"{ISSUER}/r")
    extra = to_extra(p)
    assert all(isinstance(v, str) for v in extra.values())
    assert from_extra({**extra, "unrelated": "kept apart"}) == p


def test_config_table_with_explicit_endpoints_needs_no_network() -> None:
    cfg = {"providers": {"corp": {
        "issuer": ISSUER, "client_id": "cli", "token_endpoint": f"{ISSUER}/token",
        "authorization_endpoint": f"{ISSUER}/auth", "scopes": "openid email",
        "base_url": "https://gw.test", "token_request": "json",
        "authorize_params": {"audience": "gw"}}}}
    p = load_provider("corp", cfg)
    assert p.scopes == ("openid", "email") and p.base_url == "https://gw.test"
    assert p.token_request == "json" and p.authorize_params == (("audience", "gw"),)
    with pytest.raises(ProviderNotFound, match="corp"):
        load_provider("other", cfg)


# --- callbacks and pasted answers -----------------------------------------------------


def test_callback_checks_state_iss_and_error() -> None:
    p, state = _provider(require_iss=True), new_state()
    good = {"code": "c", "state": state.reveal(), "iss": ISSUER}
    assert check_callback(p, state, good) is None
    assert "state mismatch" in str(check_callback(p, state, {**good, "state": "x"}))
    assert isinstance(check_callback(p, state, {**good, "iss": "https://evil.test"}),
                      IssuerMismatch)
    no_iss = {k: v for k, v in good.items() if k != "iss"}
    assert isinstance(check_callback(p, state, no_iss), IssuerMismatch)
    denied = {"error": "access_denied", "state": state.reveal(), "iss": ISSUER}
    assert "denied" in str(check_callback(p, state, denied))


def test_pasted_answers() -> None:
    url = "http://127.0.0.1/callback?code=abc&state=xyz&iss=https%3A%2F%2Fh"
    assert parse_pasted(f"  {url}\n") == {"code": "abc", "state": "xyz", "iss": "https://h"}
    assert parse_pasted("abc#xyz") == {"code": "abc", "state": "xyz"}
    with pytest.raises(OAuthError, match="not the address") as info:
        parse_pasted("just-a-code")
    assert "address bar" in info.value.hint


# --- the loopback listener -------------------------------------------------------------


def test_loopback_ignores_other_paths_and_serves_one_callback() -> None:
    import threading

    with LoopbackServer(lambda params: None, "https://idp.test/auth?x=1") as srv:
        assert srv.redirect_uri.startswith("http://127.0.0.1:")
        with httpx.Client(trust_env=False) as c:
            assert c.get(f"http://127.0.0.1:{srv.port}/favicon.ico").status_code == 404
            assert c.get(f"http://127.0.0.1:{srv.port}/other?code=x").status_code == 404
            assert c.get(f"http://127.0.0.1:{srv.port}/start").status_code == 404
            start = c.get(srv.start_url)
            assert start.status_code == 302
            assert start.headers["location"] == "https://idp.test/auth?x=1"
        pages: list[httpx.Response] = []

        def browser() -> None:
            with httpx.Client(trust_env=False, timeout=30) as b:
                pages.append(b.get(srv.redirect_uri + "?code=one&state=s"))

        t = threading.Thread(target=browser)
        t.start()
        assert srv.wait(5).params["code"] == "one"
        srv.finish(None)  # the exchange worked: only now does the page say so
        t.join(10)
        assert pages[0].status_code == 200 and "Signed in" in pages[0].text
        with httpx.Client(trust_env=False) as c:
            again = c.get(srv.redirect_uri + "?code=two&state=s")
            assert again.status_code == 410


def test_loopback_error_page_and_timeout() -> None:
    from cclogin.oauth.errors import IssuerMismatch, StateMismatch

    with LoopbackServer(lambda p: StateMismatch("the answer is not ours")) as srv:
        with httpx.Client(trust_env=False) as c:
            page = c.get(srv.redirect_uri + "?code=c&state=bad")
        assert page.status_code == 400 and "code=c" not in page.text
        # Not this login's answer: refused, and the login goes on waiting.
        with pytest.raises(Exception, match="wrong state"):
            srv.wait(0.05)
    with LoopbackServer(lambda p: IssuerMismatch("the answer is not ours")) as srv:
        with httpx.Client(trust_env=False) as c:
            page = c.get(srv.redirect_uri + "?code=c&state=good")
        assert page.status_code == 400 and "the answer is not ours" in page.text
        assert isinstance(srv.wait(5).problem, IssuerMismatch)
    with LoopbackServer(lambda p: None) as srv, pytest.raises(Exception, match="within"):
        srv.wait(0.05)


# --- tokens, device polling, refresh ----------------------------------------------------


def test_token_response_parsing() -> None:
    t = parse_tokens({"access_token": "A" * 20, "token_type": "bearer", "expires_in": 60,
                      "scope": "openid"}, requested_scopes=("x",),
                     previous_refresh=Secret("R" * 20), clock=lambda: 1000.0)
    assert t.expires_at == 1060.0 and t.scopes == ("openid",)
    assert t.refresh_token == Secret("R" * 20)  # none came back: the old one is kept
    with pytest.raises(Exception, match="access_token"):
        parse_tokens({"token_type": "Bearer"}, requested_scopes=())


def test_device_polling_obeys_interval_and_slow_down() -> None:
    answers = iter(["authorization_pending", "slow_down", "authorization_pending", None])
    waits: list[float] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/device":
            return httpx.Response(200, json={"device_code": "DC" * 10, "user_code": "AB-CD",
                                             "verification_uri": f"{ISSUER}/activate",
                                             "expires_in": 600, "interval": 2})
        body = dict(x.split("=", 1) for x in req.content.decode().split("&"))
        assert body["device_code"] == "DC" * 10
        err = next(answers)
        if err:
            return httpx.Response(400, json={"error": err})
        return httpx.Response(200, json={"access_token": "T" * 20, "token_type": "Bearer"})

    err = io.StringIO()
    clock = [0.0]

    def sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    tokens = device_login(_provider(), http_client=_mock(handler), stderr=err, sleep=sleep,
                          monotonic=lambda: clock[0])
    assert tokens.access_token == Secret("T" * 20)
    assert waits == [2, 2, 7, 7]
    assert "AB-CD" in err.getvalue() and "DC" * 10 not in err.getvalue()


def test_refresh_keeps_the_old_refresh_token_and_maps_invalid_grant() -> None:
    old = OAuthTokens(access_token=Secret("a" * 20), refresh_token=Secret("r" * 20),
                      scopes=("openid",))

    def ok(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "b" * 20, "expires_in": 10})

    new = refresh(_provider(), old, http_client=_mock(ok))
    assert new.access_token == Secret("b" * 20) and new.refresh_token == old.refresh_token

    def dead(req: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_grant"})

    with pytest.raises(RefreshRejected) as info:
        refresh(_provider(), old, http_client=_mock(dead))
    assert isinstance(info.value, NeedsRelogin) and "r" * 20 not in str(info.value)


def test_json_token_requests_for_providers_that_want_json() -> None:
    bodies: list[dict[str, str]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(req.content))
        return httpx.Response(200, json={"access_token": "b" * 20})

    old = OAuthTokens(access_token=Secret("a" * 20), refresh_token=Secret("r" * 20))
    refresh(_provider(token_request="json"), old, http_client=_mock(handler))
    assert bodies[0]["grant_type"] == "refresh_token" and bodies[0]["client_id"] == "cli"


# --- network errors ------------------------------------------------------------------


def test_dns_failure_is_named() -> None:
    with pytest.raises(DnsError, match="could not be resolved"):
        discover("https://no-such-host.invalid", "cli")


def test_a_missing_ca_bundle_is_a_tls_error(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="does not exist"):
        HttpClient(ca_bundle=tmp_path / "nope.pem")


def test_a_server_without_pkce_s256_is_refused_saying_why() -> None:
    from cclogin.oauth.errors import FlowNotSupported
    from cclogin.oauth.flows import _require
    from cclogin.oauth.provider import from_metadata

    doc = {
        "issuer": "https://idp.example.test",
        "token_endpoint": "https://idp.example.test/token",
        "authorization_endpoint": "https://idp.example.test/authorize",
        "code_challenge_methods_supported": ["plain"],
    }
    provider = from_metadata(doc, name="corp", client_id="cli")
    for flow in ("browser", "paste"):
        with pytest.raises(FlowNotSupported) as raised:
            _require(provider, flow)  # type: ignore[arg-type]
        assert "S256" in raised.value.message and "plain" in raised.value.message
        assert "--paste" not in raised.value.hint  # the paste flow would fail the same way
    with_device = from_metadata(
        {**doc, "device_authorization_endpoint": "https://idp.example.test/device"},
        name="corp", client_id="cli",
    )
    with pytest.raises(FlowNotSupported) as raised:
        _require(with_device, "browser")
    assert "--device" in raised.value.hint


@pytest.mark.parametrize("bad", ["tok en", "tok\nen", "tok\x1ben", "tok\ten", "tökén"])
def test_server_tokens_outside_rfc6750_characters_are_refused_unechoed(bad: str) -> None:
    from cclogin.oauth.errors import InvalidTokenResponse

    for field in ("access_token", "refresh_token"):
        doc = {"access_token": "good-token", "token_type": "Bearer", field: bad}
        with pytest.raises(InvalidTokenResponse) as raised:
            parse_tokens(doc, requested_scopes=())
        assert bad not in raised.value.message and field in raised.value.message
