"""Test setup for stored OAuth tokens, run inside a world's own environment."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from .cli import World

_EXPIRE_SOON = textwrap.dedent(
    """
    import os, sys, time
    from cclogin.accounts.context import AppContext
    from cclogin.accounts.credentials import read_credential, write_credential
    from cclogin.accounts.token import resolve_profile
    from cclogin.paths import get_paths
    ctx = AppContext(paths=get_paths(), environ=os.environ)
    profile = resolve_profile(ctx, sys.argv[1])
    cred = read_credential(ctx, profile)
    expires = time.time() + float(sys.argv[2])
    write_credential(ctx, profile, cred._replace(expires_at=expires))
    """
)


def expire_soon(world: World, profile: str, seconds: float = 30.0) -> None:
    """Make the stored access token expire in `seconds` (inside the 60 s refresh
    margin by default) without waiting for the clock or shortening the server's TTL."""
    done = subprocess.run(
        [sys.executable, "-c", _EXPIRE_SOON, profile, str(seconds)],
        env=world.environ(), capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"could not rewrite the stored expiry: {done.stderr}")
