"""OAuth interop against a second real server, oauth2-mock-server, made awkward.

Each test starts its own server with the misbehaviour it needs (no refresh token,
no revocation endpoint, a 403 at the RFC 8414 address) and drives the real
`cclogin` executable, with a BROWSER that loads exactly the address it is given.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.cli import World, make_encrypted_world
from support.oauth2_mock import MockServer, write_mock_browser
from support.tokens import expire_soon

pytestmark = [pytest.mark.oidc, pytest.mark.slow]

Start = Callable[..., MockServer]


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_encrypted_world(tmp_path)
    w.env["BROWSER"] = str(write_mock_browser(tmp_path / "browser"))
    return w


def _login(world: World, server: MockServer, profile: str = "corp") -> str:
    res = world.cclogin("login", "--profile", profile, "--issuer", server.issuer,
                        "--client-id", server.client_id)
    assert res.rc == 0, res
    token = world.cclogin("token", "--profile", profile)
    assert token.rc == 0, token
    access = token.stdout.strip()
    assert access and access not in res.output
    return access


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return doc


def test_login_token_and_revoking_logout(world: World, oauth2_mock: Start) -> None:
    server = oauth2_mock()
    access = _login(world, server)
    assert _claims(access)["iss"] == server.issuer  # the mock's own signed JWT
    assert server.token_grants("authorization_code") == 1
    assert world.traces(access) != []
    out = world.cclogin("logout", "--profile", "corp")
    assert out.rc == 0, out
    assert "revoked the tokens of 'corp'" in out.stderr
    assert server.revocations() >= 1
    assert world.traces(access) == []


def test_an_expiring_token_is_refreshed_once(world: World, oauth2_mock: Start) -> None:
    server = oauth2_mock()
    first = _login(world, server)
    expire_soon(world, "corp")  # inside the refresh margin
    second = world.cclogin("token")
    assert second.rc == 0, second
    assert second.stdout.strip() != first
    assert server.token_grants("refresh_token") == 1
    third = world.cclogin("token")
    assert third.rc == 0 and third.stdout == second.stdout
    assert server.token_grants("refresh_token") == 1  # the new token is good for an hour


def test_without_refresh_tokens_the_token_lasts_until_it_expires(
    world: World, oauth2_mock: Start
) -> None:
    server = oauth2_mock(no_refresh=True)
    access = _login(world, server)
    assert [e["refresh_token_issued"] for e in server.events()] == [False]
    expire_soon(world, "corp", 30)  # inside the refresh margin, still valid
    still = world.cclogin("token")
    assert still.rc == 0, still
    assert still.stdout.strip() == access
    assert server.token_grants("refresh_token") == 0
    expire_soon(world, "corp", -5)  # now it really expired
    over = world.cclogin("token")
    assert over.rc == 5, over
    assert "expired at" in over.stderr and access not in over.output
    assert server.token_grants("refresh_token") == 0


def test_discovery_gets_past_a_403_at_the_rfc8414_address(
    world: World, oauth2_mock: Start
) -> None:
    server = oauth2_mock(rfc8414_403=True)
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{server.issuer}/.well-known/oauth-authorization-server"
                          ).status_code == 403
    access = _login(world, server)
    assert _claims(access)["iss"] == server.issuer


def test_logout_without_a_revocation_endpoint_wipes_everything(
    world: World, oauth2_mock: Start
) -> None:
    server = oauth2_mock(no_revocation=True)
    access = _login(world, server)
    out = world.cclogin("logout", "--profile", "corp")
    assert out.rc == 0, out
    assert "offers no revocation" in out.stderr
    assert "they were wiped locally" in out.stderr
    assert server.revocations() == 0
    assert world.traces(access) == []
    assert world.stored_keys() == []
    assert world.cclogin("status").rc == 3
