"""`status`: what is stored and what would be used, from metadata; exit codes that mean one thing.

Writes nothing: the active profile's store is probed read-only (a keychain: is it
there and unlocked, from its `Locked` property, never `Unlock`), so a locked or absent
keychain is reported as such, then its entry is read back where a read raises no prompt
(not macOS), so an entry deleted behind cclogin's back is reported too. On the
encrypted file it reads the record as `token` would (names are not authenticated), so
a wrong passphrase or a damaged record is reported, not "logged in". A provider token
about to expire is refreshed, as `token` would (the one write `status` may cause).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    EXIT_NOT_LOGGED_IN,
    EXIT_OK,
    EXIT_RELOGIN,
    EXIT_STORE_UNAVAILABLE,
    CcloginError,
    NeedsRelogin,
    StoreCorrupt,
    StoreError,
)
from ..model import Profile, secret_key
from .context import AppContext
from .profiles import Metadata, read_metadata, resolve_name
from .token import ENV_OVERRIDE, env_override, usable_credential


@dataclass
class StatusReport:
    exit_code: int
    summary: str
    active: str | None
    env_override: bool
    profiles: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    # The encrypted store's unlock cache in this session (accounts/unlock.py), or None.
    unlock_cache: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "summary": self.summary,
            "active": self.active,
            "env_override": ENV_OVERRIDE if self.env_override else None,
            "profiles": self.profiles,
            "problem": self.problem,
            "unlock_cache": self.unlock_cache,
        }


def _profile_row(p: Profile, active: str | None, now: float) -> dict[str, Any]:
    return {
        "name": p.name,
        "active": p.name == active,
        "kind": p.kind,
        "account": p.account,
        "provider": p.provider,
        "backend": p.backend,
        "storage_class": p.storage_class,
        "expires_at": p.expires_at,
        "expired": p.expires_at is not None and p.expires_at <= now,
        "seconds_left": None if p.expires_at is None else max(0, int(p.expires_at - now)),
        "needs_login": p.needs_login,
        "source": p.source,
    }


def time_left(expires_at: float, now: float | None = None) -> str:
    """`7 h 41 min`, `12 min`, `3 d 4 h`: how long until expires_at, for people."""
    seconds = max(0, int(expires_at - (time.time() if now is None else now)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _rows(meta: Metadata, chosen: str | None, now: float) -> list[dict[str, Any]]:
    return [
        _profile_row(p, chosen, now) for p in sorted(meta.profiles.values(), key=lambda p: p.name)
    ]


def status(ctx: AppContext, explicit: str | None = None) -> StatusReport:
    report = _status(ctx, explicit)
    from .unlock import cache_state

    report.unlock_cache = cache_state(ctx)  # after the read: a stale key is dropped by then
    return report


def _status(ctx: AppContext, explicit: str | None) -> StatusReport:
    meta = read_metadata(ctx.paths)
    override = env_override(ctx) is not None
    chosen = explicit or ctx.profile_env() or meta.active
    now = time.time()
    rows = _rows(meta, chosen, now)
    if override:
        return StatusReport(
            EXIT_OK,
            f"using {ENV_OVERRIDE} from the environment; it wins over every stored profile",
            chosen,
            True,
            rows,
        )
    try:
        profile = meta.get(resolve_name(meta, chosen))
    except CcloginError as exc:
        return StatusReport(EXIT_NOT_LOGGED_IN, exc.message, None, False, rows, exc.hint)
    try:
        _check_usable(ctx, profile)
    except NeedsRelogin as exc:
        return StatusReport(EXIT_RELOGIN, exc.message, profile.name, False, rows, exc.hint)
    except StoreError as exc:
        # A wrong passphrase or a damaged store exits 1, as `token` does.
        corrupt = isinstance(exc, StoreCorrupt)
        code = exc.exit_code if exc.exit_code != 1 or corrupt else EXIT_STORE_UNAVAILABLE
        return StatusReport(
            code, f"profile {profile.name!r}: {exc.message}", profile.name, False, rows, exc.hint
        )
    return StatusReport(
        EXIT_OK,
        f"logged in as profile {profile.name!r}",
        profile.name,
        False,
        # Read again: checking usability may have refreshed a token and its expiry.
        _rows(read_metadata(ctx.paths), profile.name, now),
    )


def _check_usable(ctx: AppContext, profile: Profile) -> None:
    if profile.needs_login:
        raise NeedsRelogin(
            f"profile {profile.name!r} needs a new login",
            f"run `cclogin login --profile {profile.name}` with the same provider",
        )
    store = ctx.store_for(profile)
    probe = getattr(store, "probe", None)
    if callable(probe) and (profile.storage_class == "keychain" or not _in_secret(profile)):
        # Read-only: a locked keychain is reported here, before a read could unlock it.
        probe()
    if _in_secret(profile):
        # Expiry lives in the secret; refresh provider tokens that are about to expire.
        usable_credential(ctx, profile)
        return
    if profile.storage_class in ("encrypted-file", "secret-server"):
        # A secret server's read is a read like `token`'s: the shared key is there and
        # this user's token may read it (a listing proves neither).
        # Encrypted file: record names are not authenticated (docs/store-format.md): a listed name
        # says nothing about the passphrase or the record. Read it as `token` would:
        # unwrap the data key, verify the file MAC, decrypt and parse the record.
        from .credentials import read_credential

        read_credential(ctx, profile)
        return
    key = secret_key(profile.name)
    present = key in store.keys()
    if present and profile.storage_class == "keychain" and profile.backend != "macos-keychain":
        # keys() of a keychain is cclogin's own index, which still lists an entry that
        # another tool deleted; where a read raises no prompt, ask the keychain itself.
        present = store.get(key) is not None
    if not present:
        from ..errors import SecretNotFound

        raise SecretNotFound(f"profile {profile.name!r} has no secret in {store.name}")


def _in_secret(profile: Profile) -> bool:
    """Whether what status reports (the expiry) is in the secret, not the metadata."""
    return profile.kind in ("oauth", "claude_login")
