"""A Vault login's token, renewed before use: once, across processes.

A renewable token is renewed (`auth/token/renew-self`) once a third of its lease has
passed: the lease is the TTL the token was issued with (its period, if periodic),
and each renewal asks for it again. Vault Agent renews at two thirds; a CLI runs only
now and then, so it renews earlier and an idle gap is less likely to let the token
lapse. With no lease on record, it is renewed within `margin` seconds of expiring.

The single flight is the OAuth refresh's (accounts/refresh.py): per profile, take the
lock, re-read the store, renew only if the stored token is still the one that needed
it, write the new expiry durably, release. Many concurrent callers renew once.

What cannot be renewed is handed out while it is valid. An expired token, or one the
server no longer accepts, is `VaultLoginNeeded` (exit 5): "log in to Vault again";
nothing stored is blanked, deleted or marked. A server that cannot be reached leaves
the stored token as it is and uses it while it is still valid.

Imports stay lean here (the `token` hot path); the Vault client is loaded only to renew.
"""

from __future__ import annotations

import time

from ..errors import CcloginError, VaultLoginNeeded
from ..model import Profile, VaultToken
from .context import AppContext

RENEW_AFTER = 1 / 3  # of the lease
MARGIN = 60.0  # seconds, where the lease is not known
# Waiting for another process's renewal: with a valid token in hand, this long, then
# use it; with an expired one, the server's deadline plus this.
WAIT_WITH_VALID_TOKEN = 20.0
LOCK_GRACE = 10.0


def needs_renewal(tok: VaultToken, now: float, margin: float = MARGIN) -> bool:
    if not tok.renewable or tok.expires_at is None:
        return False
    left = tok.expires_at - now
    if left <= 0:
        return False  # expired: a renewal would be refused
    if tok.lease:
        return left <= tok.lease * (1 - RENEW_AFTER)
    return left < margin


def relogin_hint(profile: Profile) -> str:
    method = profile.extra.get("auth_method", "token")
    role = profile.extra.get("auth_role")
    addr = (profile.extra.get("vault_addr") or "").split(",")[0].strip()
    where = f" --vault-addr {addr}" if addr else ""
    how, tail = {
        "approle": (" --method approle --role-id ID --secret-id-file FILE", ""),
        "jwt": (f" --method jwt --role {role or 'ROLE'} --jwt-file FILE", ""),
        "oidc": (f" --method oidc{f' --role {role}' if role else ''}", ""),
        "token-helper": ("", "; or `bao login` again, which stores its token here"),
    }.get(method, (" --with-token", " (token on stdin)"))
    if method == "token-helper":
        how = " --with-token"
    return (f"log in to Vault again: `cclogin vault login --profile {profile.name}{where}"
            f"{how} --force`{tail or ''}")


def check_not_expired(tok: VaultToken, profile: Profile, now: float) -> None:
    if tok.expires_at is not None and tok.expires_at <= now:
        from .token import when

        raise VaultLoginNeeded(
            f"the Vault token of profile {profile.name!r} expired at {when(tok.expires_at)}",
            relogin_hint(profile),
        )


def usable_vault_token(
    ctx: AppContext, profile: Profile, held: VaultToken, margin: float = MARGIN
) -> VaultToken:
    """`held` (just read from the store), renewed first if it is due."""
    now = time.time()
    check_not_expired(held, profile, now)
    if not needs_renewal(held, now, margin):
        return held
    ctx.debug(f"the Vault token of {profile.name!r} is due for renewal")
    return renew_once(ctx, profile, held, margin)


def renew_once(ctx: AppContext, profile: Profile, held: VaultToken, margin: float) -> VaultToken:
    from .refresh import RefreshBusy, refresh_lock

    valid = held.expires_at is None or held.expires_at > time.time()
    wait = WAIT_WITH_VALID_TOKEN if valid else _deadline(ctx, profile) + LOCK_GRACE
    with refresh_lock(ctx.paths.lock_file(f"refresh-{profile.name}"), wait) as got:
        if got:
            return _renew_locked(ctx, profile, held, margin)
    again = _reread(ctx, profile)
    if again is not None and (again.expires_at is None or again.expires_at > time.time()):
        ctx.notify(
            f"cclogin: note: another cclogin process is still renewing the Vault token of "
            f"{profile.name!r}; using the stored token, which is still valid"
        )
        return again
    raise RefreshBusy(
        f"another cclogin process has been renewing the Vault token of {profile.name!r} "
        f"for more than {wait:g} s and the stored token has expired; gave up waiting"
    )


def _deadline(ctx: AppContext, profile: Profile) -> float:
    from ..vault.settings import DEFAULT_TIMEOUT

    try:
        from .vault_login import login_settings

        return login_settings(ctx, profile).timeout
    except CcloginError:
        return DEFAULT_TIMEOUT


def _reread(ctx: AppContext, profile: Profile) -> VaultToken | None:
    from .credentials import read_credential
    from .profiles import read_metadata

    current = read_metadata(ctx.paths).profiles.get(profile.name)
    if current is None or current.kind != "vault_token":
        return None
    cred = read_credential(ctx, current)
    return cred if isinstance(cred, VaultToken) else None


def _renew_locked(
    ctx: AppContext, profile: Profile, held: VaultToken, margin: float
) -> VaultToken:
    from ..errors import NetworkError, StoreError, VaultPermissionDenied
    from ..vault.client import VaultClient
    from .credentials import write_credential
    from .profiles import editing_metadata, read_metadata
    from .vault_login import login_settings

    current = read_metadata(ctx.paths).get(profile.name)
    stored = _reread(ctx, current)
    if stored is None:
        raise VaultLoginNeeded(f"profile {profile.name!r} no longer holds a Vault token",
                               relogin_hint(profile))
    now = time.time()
    if stored != held or not needs_renewal(stored, now, margin):
        ctx.debug("another process renewed the Vault token meanwhile; using it")
        check_not_expired(stored, current, now)
        return stored
    settings = login_settings(ctx, current)
    client = VaultClient(settings, lambda: stored.token)
    asked = int(stored.lease) if stored.lease else None
    started = time.time()
    try:
        auth = client.renew_self(increment=asked)
    except VaultLoginNeeded as exc:
        raise VaultLoginNeeded(exc.message, relogin_hint(current)) from None
    except (NetworkError, StoreError, VaultPermissionDenied) as exc:
        if stored.expires_at is not None and stored.expires_at > time.time():
            ctx.notify(
                f"cclogin: note: could not renew the Vault token of {profile.name!r} "
                f"({exc.message}); it is still valid for {int(stored.expires_at - time.time())} s"
            )
            return stored
        raise
    granted = auth.get("lease_duration")
    if not isinstance(granted, int | float) or granted <= 0:
        # No TTL any more (the server says so): keep what we have, renewed or not.
        return stored
    new_expiry = started + float(granted)
    # A grant shorter than asked means the token reached its max TTL: later renewals
    # could not extend it, so it is used until it expires, then "log in again".
    capped = asked is not None and granted < asked - 1
    renewed = stored._replace(
        expires_at=new_expiry,
        renewable=bool(auth.get("renewable", stored.renewable)) and not capped,
    )
    ctx.debug(f"renewed the Vault token of {profile.name!r} for {granted:g} s"
              + (" (its max TTL: no further renewal)" if capped else ""))
    write_credential(ctx, current, renewed)
    with editing_metadata(ctx.paths) as meta:
        meta.mark(current.name, expires_at=new_expiry)
    return renewed
