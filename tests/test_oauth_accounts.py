"""Provider logins through the real `cclogin` executable, against the real server."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import CCLOGIN, World, make_encrypted_world
from support.oidc import OidcServer, start_server, write_browser

pytestmark = [pytest.mark.oidc, pytest.mark.slow]


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    # Access tokens live 63 s: 3 s after login they are inside the 60 s refresh margin.
    server = start_server(tmp_path_factory.mktemp("oidc-short"), ACCESS_TTL="63")
    try:
        yield server
    finally:
        server.stop()


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


def test_concurrent_token_calls_refresh_exactly_once(world: World, short_lived: OidcServer
                                                     ) -> None:
    _login(world, short_lived)
    first = world.cclogin("token").stdout.strip()
    time.sleep(3.5)  # now inside the refresh margin (not an assertion)
    before = short_lived.refresh_grants()
    procs = [subprocess.Popen([CCLOGIN, "token"], env=world.environ(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL) for _ in range(6)]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), results
    tokens = {out.strip() for _, out, _ in results}
    assert len(tokens) == 1 and first not in tokens  # one new token, shared by all
    assert short_lived.refresh_grants() == before + 1
    assert short_lived.count("grant.error", "refresh_token") == 0
    assert short_lived.introspect(tokens.pop())["active"] is True


def test_a_dead_refresh_token_asks_for_a_new_login_and_keeps_the_store(
    world: World, short_lived: OidcServer
) -> None:
    _login(world, short_lived)
    # Revoke the whole grant at the server behind cclogin's back.
    from cclogin.oauth.provider import discover
    from cclogin.oauth.revoke import revoke

    access = world.cclogin("token").stdout.strip()
    keys_before = world.stored_keys()
    time.sleep(3.5)
    provider = discover(short_lived.issuer, short_lived.client_id)
    from cclogin.model import OAuthTokens
    from cclogin.secret import Secret

    assert revoke(provider, OAuthTokens(access_token=Secret(access))) is True
    # The server now answers invalid_grant to the refresh (seen in its event log).
    res = world.cclogin("token")
    assert res.rc == 5, res
    assert "needs a new login" in res.stderr and access not in res.output
    assert world.stored_keys() == keys_before  # nothing was blanked
    again = world.cclogin("token")
    assert again.rc == 5 and short_lived.count("grant.error", "refresh_token") >= 1
