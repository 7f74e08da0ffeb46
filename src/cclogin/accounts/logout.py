"""Logout: revoke (best effort), wipe every copy, then prove nothing is left."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CcloginError, StoreError
from ..model import (
    PROFILE_KEY_PREFIX,
    Credential,
    OAuthTokens,
    Profile,
    load_credential,
    secret_key,
)
from ..store.base import SecretStore
from .context import AppContext
from .copies import known_copies
from .profiles import editing_metadata, read_metadata, resolve_name


class LogoutIncomplete(StoreError):
    default_hint = "unlock or reach the store and run `cclogin logout` again"


@dataclass
class LogoutReport:
    removed: list[str] = field(default_factory=list)  # human lines: what went
    revoked: list[str] = field(default_factory=list)  # profiles revoked at the server
    not_revoked: list[str] = field(default_factory=list)
    logged_out: list[str] = field(default_factory=list)  # profile names


def logout(
    ctx: AppContext, name: str | None, *, everything: bool = False, revoke: bool = True
) -> LogoutReport:
    meta = read_metadata(ctx.paths)
    if everything:
        targets = sorted(meta.profiles.values(), key=lambda p: p.name)
    else:
        targets = [meta.get(resolve_name(meta, name or ctx.profile_env()))]
    report = LogoutReport()
    failures: list[str] = []
    hints: list[str] = []
    for profile in targets:
        try:
            _logout_one(ctx, profile, revoke, report)
        except CcloginError as exc:
            where = exc.message.removeprefix(f"{profile.backend}: ")
            failures.append(f"{profile.name} ({profile.backend}: {where})")
            if isinstance(exc, HardLinkedCopy):
                hints.append(exc.hint)
    if everything:
        _wipe_orphans(ctx, {p.backend for p in targets}, report, failures)
    if failures:
        raise LogoutIncomplete(
            "logout is incomplete; still stored: " + "; ".join(failures),
            hints[0] if len(hints) == 1 and len(failures) == 1 else None,
        )
    return report


def _logout_one(ctx: AppContext, profile: Profile, revoke: bool, report: LogoutReport) -> None:
    store = ctx.store_for(profile)
    key = secret_key(profile.name)
    ctx.debug(f"logging out {profile.name!r} from {store.name}")
    cred = _stored(store, key)
    if cred is not None:
        _refuse_hard_linked(ctx, profile, cred)  # before anything is deleted
    if revoke and profile.kind == "oauth":
        _revoke(ctx, profile, cred, report)
    if store.delete(key):
        report.removed.append(f"secret of {profile.name!r} from {store.name}")
    for path in known_copies(ctx, profile):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            report.removed.append(f"copy {path}")
    if cred is not None:
        _remove_plaintext_copies(ctx, profile, cred, report)
    _prove_gone(store, key)
    with editing_metadata(ctx.paths) as meta:
        meta.remove(profile.name)
    report.removed.append(f"profile {profile.name!r} from {ctx.paths.metadata_file}")
    report.logged_out.append(profile.name)


def _stored(store: SecretStore, key: str) -> Credential | None:
    """The credential being logged out, when it can still be read (None otherwise)."""
    blob = store.get(key)
    if blob is None:
        return None
    try:
        return load_credential(blob)
    except CcloginError:
        return None  # a damaged entry is still deleted; there is nothing to compare


def _revoke(
    ctx: AppContext, profile: Profile, cred: Credential | None, report: LogoutReport
) -> None:
    if not isinstance(cred, OAuthTokens):
        report.not_revoked.append(profile.name)
        return
    from .oauth_login import revoke_profile_tokens

    if revoke_profile_tokens(ctx, profile, cred):
        report.revoked.append(profile.name)
    else:
        report.not_revoked.append(profile.name)


def _remove_plaintext_copies(
    ctx: AppContext, profile: Profile, cred: Credential, report: LogoutReport
) -> None:
    """The same secret in a legacy plaintext file (Claude Code wrote it again, a restored
    backup, the profile's own migration source) goes too, then a re-scan proves it."""
    from ..migrate.forget import plaintext_copies, remove_copies

    extra = [Path(profile.source)] if profile.source else []
    for path in remove_copies(ctx, cred, extra):
        report.removed.append(f"plaintext copy from {path}")
    left = plaintext_copies(ctx, cred, extra)
    if left:
        raise LogoutIncomplete(
            f"a plaintext copy of the secret is still in {left[0]}",
            "it changed while logging out; run `cclogin logout` again or remove it by hand",
        )


class HardLinkedCopy(CcloginError):
    """A plaintext copy with other names: removing one name would leave the secret."""


def _refuse_hard_linked(ctx: AppContext, profile: Profile, cred: Credential) -> None:
    """Logout would strip the plaintext copy from one name only: refuse, changing nothing."""
    from ..migrate.files import hard_linked
    from ..migrate.forget import plaintext_copies

    extra = [Path(profile.source)] if profile.source else []
    for path in plaintext_copies(ctx, cred, extra):
        try:
            links = os.lstat(path).st_nlink
        except OSError:
            continue
        if links > 1:
            refusal = hard_linked(path, links)
            raise HardLinkedCopy(refusal.message, refusal.hint)


def _prove_gone(store: SecretStore, key: str) -> None:
    if store.get(key) is not None or key in store.keys():
        raise LogoutIncomplete(f"{key} is still readable from {store.name} after deletion")


def _wipe_orphans(
    ctx: AppContext, backends: set[str], report: LogoutReport, failures: list[str]
) -> None:
    """`--all` leaves no cclogin entry at all, even ones the metadata lost track of."""
    for backend in sorted(backends):
        try:
            store = ctx.store_named(backend)
            for key in store.keys():
                if key.startswith(PROFILE_KEY_PREFIX):
                    store.delete(key)
                    _prove_gone(store, key)
                    report.removed.append(f"orphaned entry {key} from {backend}")
        except CcloginError as exc:
            failures.append(f"{backend}: {exc.message}")
    with editing_metadata(ctx.paths) as meta:
        meta.active = None
