"""The refresh race: many processes find the same access token about to expire.

With rotating refresh tokens, two refreshes with the same refresh token get the whole
token family revoked (Claude Code users were logged out exactly this way). cclogin
must refresh once, and every caller must get the one new token.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support.cli import CCLOGIN, World, make_encrypted_world
from support.oidc import OidcServer, write_browser

pytestmark = [pytest.mark.oidc, pytest.mark.slow]

CALLERS = 30

# Run inside the world's environment: make the stored access token expire in 30 s,
# i.e. inside the 60 s refresh margin, without waiting for the clock.
EXPIRE_SOON = textwrap.dedent(
    """
    import dataclasses, os, sys, time
    from cclogin.accounts.context import AppContext
    from cclogin.accounts.credentials import read_credential, write_credential
    from cclogin.accounts.token import resolve_profile
    from cclogin.paths import get_paths
    ctx = AppContext(paths=get_paths(), environ=os.environ)
    profile = resolve_profile(ctx, sys.argv[1])
    cred = read_credential(ctx, profile)
    write_credential(ctx, profile, dataclasses.replace(cred, expires_at=time.time() + 30))
    """
)


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
    done = subprocess.run([sys.executable, "-c", EXPIRE_SOON, "corp"], env=world.environ(),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
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
