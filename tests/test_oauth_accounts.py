"""Provider logins through the real `cclogin` executable, against the real server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support.cli import World, make_encrypted_world
from support.oidc import OidcServer, write_browser
from support.tokens import expire_soon

pytestmark = [pytest.mark.oidc, pytest.mark.slow]


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_encrypted_world(tmp_path)
    w.env["BROWSER"] = str(write_browser(tmp_path / "browser"))
    return w


def _login(world: World, server: OidcServer) -> None:
    res = world.cclogin("login", "--profile", "corp", "--issuer", server.issuer,
                        "--client-id", server.client_id)
    assert res.rc == 0, res


def test_login_token_logout_through_the_executable(world: World, oidc_server: OidcServer
                                                   ) -> None:
    t0 = time.monotonic()
    _login(world, oidc_server)
    print(f"cclogin login (browser flow) took {time.monotonic() - t0:.2f} s")
    token = world.cclogin("token")
    assert token.rc == 0, token
    access = token.stdout.strip()
    assert oidc_server.introspect(access)["active"] is True
    assert world.traces(access) != []  # it is in the encrypted store...
    out = world.cclogin("logout", "--profile", "corp")
    assert out.rc == 0, out
    assert oidc_server.introspect(access)["active"] is False  # ...revoked at the server
    assert world.traces(access) == []  # ...and gone from every local place


def test_a_dead_refresh_token_asks_for_a_new_login_and_keeps_the_store(
    world: World, oidc_server: OidcServer
) -> None:
    _login(world, oidc_server)
    # Revoke the whole grant at the server behind cclogin's back.
    from cclogin.oauth.provider import discover
    from cclogin.oauth.revoke import revoke

    access = world.cclogin("token").stdout.strip()
    keys_before = world.stored_keys()
    expire_soon(world, "corp")  # the next `token` must refresh
    provider = discover(oidc_server.issuer, oidc_server.client_id)
    from cclogin.model import OAuthTokens
    from cclogin.secret import Secret

    assert revoke(provider, OAuthTokens(access_token=Secret(access))) is True
    # The server now answers invalid_grant to the refresh (seen in its event log).
    res = world.cclogin("token")
    assert res.rc == 5, res
    assert "needs a new login" in res.stderr and access not in res.output
    assert world.stored_keys() == keys_before  # nothing was blanked
    again = world.cclogin("token")
    assert again.rc == 5 and oidc_server.count("grant.error", "refresh_token") >= 1
