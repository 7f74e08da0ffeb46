"""The refresh single-flight: one refresh per profile at a time, across processes.

Rotating refresh tokens make a double refresh fatal (the second use is invalid_grant
and the server revokes the family). So, per profile: take the lock, re-read the
store, refresh only if the stored token still needs it, write durably, release.
On invalid_grant, re-read and adopt a newer token if one appeared; otherwise mark the
profile as needing a login and keep what is stored. A network failure changes nothing.

The lock is taken with a timeout: a refresh stuck on a slow server (bounded by the
token endpoint's deadline, oauth/http.py) must not hold every other `token` call for
the profile. A caller whose stored token is still valid waits briefly and then uses
it; one whose token has expired waits a little longer than a refresh can take, then
exits 4 naming the reason.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import NeedsRelogin, NetworkError, StoreError
from ..fsio import try_file_lock
from ..model import OAuthTokens, Profile
from .context import AppContext
from .credentials import read_credential, write_credential
from .profiles import editing_metadata, read_metadata
from .token import REFRESH_MARGIN, check_unrenewable

# With a still-valid token in hand, wait this long for another refresher, then use it.
# Longer than a refresh takes while 30 callers queue on a loaded 2-core machine (up to
# ~6 s measured), far shorter than a dripping server's hang.
WAIT_WITH_VALID_TOKEN = 20.0
# With an expired one: the holder's token request (its total deadline) plus this.
LOCK_GRACE = 10.0
_POLL = 0.05


class RefreshBusy(StoreError):
    default_hint = (
        "another cclogin process is stuck refreshing this profile; try again, and if it "
        "persists look for a hung `cclogin` process"
    )


@contextlib.contextmanager
def refresh_lock(path: Path, timeout: float) -> Iterator[bool]:
    """Hold the lock (True), or give up after `timeout` seconds (False)."""
    deadline = time.monotonic() + timeout
    while True:
        with try_file_lock(path) as got:
            if got:
                yield True
                return
        if time.monotonic() >= deadline:
            yield False
            return
        time.sleep(_POLL)


def _valid(tokens: OAuthTokens | None, now: float) -> bool:
    return tokens is not None and (tokens.expires_at is None or tokens.expires_at > now)


def _expiring(tokens: OAuthTokens, now: float, margin: float) -> bool:
    return tokens.expires_within(margin, now)


def _relogin(profile: Profile) -> NeedsRelogin:
    return NeedsRelogin(
        f"profile {profile.name!r} needs a new login (the server no longer accepts "
        "its refresh token)",
        f"run `cclogin login --profile {profile.name}` with the same provider",
    )


def fresh_tokens(
    ctx: AppContext,
    profile: Profile,
    margin: float = REFRESH_MARGIN,
    held: OAuthTokens | None = None,
) -> OAuthTokens:
    """`held`: the token the caller read, to decide how long the lock is worth waiting."""
    from ..oauth.http import token_deadline

    valid = _valid(held, time.time())
    wait = WAIT_WITH_VALID_TOKEN if valid else token_deadline() + LOCK_GRACE
    with refresh_lock(ctx.paths.lock_file(f"refresh-{profile.name}"), wait) as got:
        if got:
            return _refresh_locked(ctx, profile, margin)
    # Another process has held the lock all this time: it may have written meanwhile.
    again = read_credential(ctx, read_metadata(ctx.paths).get(profile.name))
    if isinstance(again, OAuthTokens) and _valid(again, time.time()):
        ctx.notify(
            f"cclogin: note: another cclogin process is still refreshing profile "
            f"{profile.name!r}; using the stored token, which is still valid"
        )
        return again
    raise RefreshBusy(
        f"another cclogin process has been refreshing profile {profile.name!r} for "
        f"more than {wait:g} s and the stored token has expired; gave up waiting"
    )


def _refresh_locked(ctx: AppContext, profile: Profile, margin: float) -> OAuthTokens:
    from ..oauth.errors import RefreshRejected
    from ..oauth.provider import from_extra
    from ..oauth.refresh import refresh

    current = read_metadata(ctx.paths).get(profile.name)
    if current.needs_login:
        raise _relogin(current)
    stored = read_credential(ctx, current)
    if not isinstance(stored, OAuthTokens):
        raise NeedsRelogin(f"profile {profile.name!r} holds no provider tokens")
    if not _expiring(stored, time.time(), margin):
        ctx.debug("another process refreshed meanwhile; using its token")
        return stored  # another process refreshed while we waited for the lock
    if stored.refresh_token is None:  # a login without one replaced it meanwhile
        check_unrenewable(stored, current, time.time())
        return stored
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
