"""The refresh race: many processes find the same access token about to expire.

With rotating refresh tokens, two refreshes with the same refresh token get the whole
token family revoked (Claude Code users were logged out exactly this way). cclogin
must refresh once, and every caller must get the one new token.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from support.cli import CCLOGIN, World, make_encrypted_world
from support.oidc import OidcServer, write_browser
from support.tokens import expire_soon

pytestmark = [pytest.mark.oidc, pytest.mark.slow]

CALLERS = 30

@pytest.fixture
def world(tmp_path: Path, oidc_server: OidcServer) -> World:
    w = make_encrypted_world(tmp_path)
    w.env["BROWSER"] = str(write_browser(tmp_path / "browser"))
    res = w.cclogin("login", "--profile", "corp", "--issuer", oidc_server.issuer,
                    "--client-id", oidc_server.client_id)
    assert res.rc == 0, res
    return w


def test_thirty_processes_refresh_exactly_once(world: World, oidc_server: OidcServer) -> None:
    before_token = world.cclogin("token").stdout.strip()
    expire_soon(world, "corp")
    grants_before = oidc_server.refresh_grants()
    errors_before = oidc_server.count("grant.error", "refresh_token")

    started = time.monotonic()
    procs = [subprocess.Popen([CCLOGIN, "token"], env=world.environ(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL) for _ in range(CALLERS)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    print(f"{CALLERS} concurrent `cclogin token` calls took {time.monotonic() - started:.2f} s")

    assert all(rc == 0 for rc, _, _ in results), results
    outputs = {out for _, out, _ in results}
    assert len(outputs) == 1  # every process printed the same token, whole
    (fresh,) = outputs
    assert fresh.endswith("\n") and fresh.count("\n") == 1
    fresh = fresh.strip()
    assert fresh != before_token
    # The server's own record: exactly one refresh grant, and no rejected one.
    assert oidc_server.refresh_grants() == grants_before + 1
    assert oidc_server.count("grant.error", "refresh_token") == errors_before
    assert oidc_server.introspect(fresh)["active"] is True
    # Still logged in, and later calls reuse the refreshed token without a new grant.
    assert world.cclogin("status").rc == 0
    assert world.cclogin("token").stdout.strip() == fresh
    assert oidc_server.refresh_grants() == grants_before + 1
