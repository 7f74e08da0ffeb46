"""The refresh single-flight: one refresh per profile at a time, across processes.

Rotating refresh tokens make a double refresh fatal (the second use is invalid_grant
and the server revokes the family). So, per profile: take the lock, re-read the
store, refresh only if the stored token still needs it, write durably, release.
On invalid_grant, re-read and adopt a newer token if one appeared; otherwise mark the
profile as needing a login and keep what is stored. A network failure changes nothing.
"""

from __future__ import annotations

import time

from ..errors import NeedsRelogin, NetworkError
from ..fsio import file_lock
from ..model import OAuthTokens, Profile
from .context import AppContext
from .credentials import read_credential, write_credential
from .profiles import editing_metadata, read_metadata
from .token import REFRESH_MARGIN


def _expiring(tokens: OAuthTokens, now: float, margin: float) -> bool:
    return tokens.expires_within(margin, now)


def _relogin(profile: Profile) -> NeedsRelogin:
    return NeedsRelogin(
        f"profile {profile.name!r} needs a new login (the server no longer accepts "
        "its refresh token)",
        f"run `cclogin login --profile {profile.name}` with the same provider",
    )


def fresh_tokens(
    ctx: AppContext, profile: Profile, margin: float = REFRESH_MARGIN
) -> OAuthTokens:
    from ..oauth.errors import RefreshRejected
    from ..oauth.provider import from_extra
    from ..oauth.refresh import refresh

    with file_lock(ctx.paths.lock_file(f"refresh-{profile.name}")):
        current = read_metadata(ctx.paths).get(profile.name)
        if current.needs_login:
            raise _relogin(current)
        stored = read_credential(ctx, current)
        if not isinstance(stored, OAuthTokens):
            raise NeedsRelogin(f"profile {profile.name!r} holds no provider tokens")
        if not _expiring(stored, time.time(), margin):
            ctx.debug("another process refreshed meanwhile; using its token")
            return stored  # another process refreshed while we waited for the lock
        provider = from_extra(current.extra)
        try:
            new = refresh(provider, stored)
        except RefreshRejected:
            again = read_credential(ctx, current)
            if (
                isinstance(again, OAuthTokens)
                and again != stored
                and not _expiring(again, time.time(), REFRESH_MARGIN)
            ):
                return again  # someone logged in again meanwhile: adopt it
            with editing_metadata(ctx.paths) as meta:
                meta.mark(current.name, needs_login=True)
            raise _relogin(current) from None
        except NetworkError:
            if stored.expires_at is not None and stored.expires_at > time.time():
                ctx.notify(
                    f"cclogin: note: could not refresh profile {profile.name!r} "
                    "(network); its token is still valid for a little while"
                )
                return stored
            raise
        ctx.debug(f"refreshed at {provider.token_endpoint}; storing the new tokens")
        write_credential(ctx, current, new)
        with editing_metadata(ctx.paths) as meta:
            meta.mark(current.name, expires_at=new.expires_at, needs_login=False)
        return new
