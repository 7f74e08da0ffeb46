"""Logout: revoke (best effort), wipe every copy, then prove nothing is left.

Revocation starts first, in a worker thread, but never holds the wipe back: when the
server has not answered within REVOKE_HEAD_START seconds, every local copy is wiped
and the revocation is then given the rest of its own deadline (oauth/revoke.py).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CcloginError, StoreError, StoreLocked
from ..model import (
    Credential,
    OAuthTokens,
    Profile,
    ProfileName,
    VaultToken,
    load_credential,
    secret_key,
)
from ..store.base import SecretStore
from .context import AppContext
from .copies import known_copies
from .profiles import editing_metadata, read_metadata, resolve_name


class LogoutIncomplete(StoreError):
    default_hint = "unlock or reach the store and run `cclogin logout` again"


class ProfileEntryLeft(CcloginError):
    default_hint = "free some space (or fix the folder's permissions) and run `cclogin logout` again"


@dataclass
class LogoutReport:
    removed: list[str] = field(default_factory=list)  # human lines: what went
    revoked: list[str] = field(default_factory=list)  # profiles revoked at the server
    not_revoked: list[str] = field(default_factory=list)
    # Why each profile in not_revoked was not revoked, one human sentence each.
    not_revoked_why: dict[str, str] = field(default_factory=dict)
    logged_out: list[str] = field(default_factory=list)  # profile names


def logout(
    ctx: AppContext, name: str | None, *, everything: bool = False, revoke: bool = True
) -> LogoutReport:
    if not revoke:
        from ..policy import check_no_revoke

        check_no_revoke()  # the admin policy's logout.require_revoke
    meta = read_metadata(ctx.paths)
    if everything:
        targets = sorted(meta.profiles.values(), key=lambda p: p.name)
    else:
        targets = [meta.get(resolve_name(meta, name or ctx.profile_env()))]
    report = LogoutReport()
    failures: list[str] = []
    left: list[str] = []  # profiles whose secret is gone but whose entry is not
    hints: list[str] = []
    why: dict[tuple[str, str], list[str]] = {}  # (backend, reason) -> profiles, said once
    for profile in targets:
        try:
            _logout_one(ctx, profile, revoke, report, chained=not everything)
        except ProfileEntryLeft as exc:
            left.append(f"{profile.name}: {exc.message}")
            hints.append(exc.hint)
        except CcloginError as exc:
            where = exc.message.removeprefix(f"{profile.backend}: ")
            why.setdefault((profile.backend, where), []).append(profile.name)
            if isinstance(exc, HardLinkedCopy | StoreLocked):
                hints.append(exc.hint)
    failures += [f"{', '.join(names)} ({backend}: {where})" for (backend, where), names in why.items()]
    if everything:
        _wipe_orphans(ctx, report, failures)
        _lock(ctx, report)
    if failures or left:
        parts = (["still stored: " + "; ".join(failures)] if failures else []) + left
        raise LogoutIncomplete(
            "logout is incomplete; " + "; ".join(parts),
            hints[0] if len(set(hints)) == 1 and len(failures) + len(left) == 1 else None,
        )
    return report


def _lock(ctx: AppContext, report: LogoutReport) -> None:
    """`logout --all` also locks: the unlock cache's data key leaves the kernel keyring."""
    from .unlock import lock

    if lock(ctx):
        report.removed.append("the unlock cache (the data key in the kernel keyring)")


def _logout_one(
    ctx: AppContext, profile: Profile, revoke: bool, report: LogoutReport, *, chained: bool = True
) -> None:
    from .team import is_team

    if is_team(profile):
        _logout_team(ctx, profile, revoke, report, chained=chained)
        return
    store = ctx.store_for(profile)
    key = secret_key(profile.name)
    ctx.debug(f"logging out {profile.name!r} from {store.name}")
    cred = _stored(store, key)
    if cred is not None:
        _refuse_hard_linked(ctx, profile, cred)  # before anything is deleted
    pending = None
    if revoke and profile.kind == "oauth":
        pending = _start_revoke(ctx, profile, cred)
    elif revoke and profile.kind == "vault_token":
        pending = _start_vault_revoke(ctx, profile, cred)
    if pending is not None:
        pending.wait(REVOKE_HEAD_START)  # a prompt server is done before the wipe
    try:
        _wipe_one(ctx, profile, store, key, cred, report)
    finally:
        if pending is not None:
            _record_revoke(profile, cred, pending, report)


def _wipe_one(
    ctx: AppContext,
    profile: Profile,
    store: SecretStore,
    key: str,
    cred: Credential | None,
    report: LogoutReport,
) -> None:
    if store.delete(key):
        report.removed.append(f"secret of {profile.name!r} from {store.name}")
    for path in known_copies(ctx, profile):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            report.removed.append(f"copy {path}")
    if cred is not None:
        _remove_plaintext_copies(ctx, profile, cred, report)
    _prove_gone(store, key)
    try:
        with editing_metadata(ctx.paths) as meta:
            meta.remove(profile.name)
    except (CcloginError, OSError) as exc:
        # The secret is gone (proven above): say what is left, not "still stored".
        why = exc.message if isinstance(exc, CcloginError) else (exc.strerror or str(exc))
        raise ProfileEntryLeft(
            f"its secret is gone, but its entry in {ctx.paths.metadata_file} could not be "
            f"removed ({why})"
        ) from None
    report.removed.append(f"profile {profile.name!r} from {ctx.paths.metadata_file}")
    report.logged_out.append(profile.name)


def _logout_team(
    ctx: AppContext, profile: Profile, revoke: bool, report: LogoutReport, *, chained: bool
) -> None:
    """A team profile: the local link goes, the shared secret stays; the user's Vault
    login goes too unless another team profile still reads through it."""
    from .team import LOGIN_KEY, users_of_login

    with editing_metadata(ctx.paths) as meta:
        meta.remove(profile.name)
    report.removed.append(
        f"link {profile.name!r} to the shared secret {profile.account or ''} (the secret stays)"
    )
    report.logged_out.append(profile.name)
    login_name = profile.extra.get(LOGIN_KEY)
    if not chained or not login_name:
        return
    login = read_metadata(ctx.paths).profiles.get(ProfileName(login_name))
    if login is None or login.kind != "vault_token":
        return
    others = users_of_login(ctx, login.name, profile.name)
    if others:
        report.removed.append(f"(Vault login {login.name!r} kept: {', '.join(others)} use it)")
        return
    _logout_one(ctx, login, revoke, report)


def _stored(store: SecretStore, key: str) -> Credential | None:
    """The credential being logged out, when it can still be read (None otherwise)."""
    blob = store.get(key)
    if blob is None:
        return None
    try:
        return load_credential(blob)
    except CcloginError:
        return None  # a damaged entry is still deleted; there is nothing to compare


REVOKE_HEAD_START = 2.0  # seconds the revocation may run before the wipe goes ahead


class _PendingRevoke:
    """One revocation running in a daemon thread (it never keeps cclogin alive)."""

    def __init__(self, revoke: Callable[[], Any]) -> None:
        from ..oauth.revoke import RevokeOutcome

        self.outcome: RevokeOutcome | None = None

        def work() -> None:
            try:
                self.outcome = revoke()
            except CcloginError as exc:
                self.outcome = RevokeOutcome("unreachable", detail=exc.message)

        self._thread = threading.Thread(target=work, name="cclogin-revoke", daemon=True)
        self._thread.start()

    def wait(self, seconds: float) -> None:
        self._thread.join(seconds)


def _start_revoke(
    ctx: AppContext, profile: Profile, cred: Credential | None
) -> _PendingRevoke | None:
    """None when there is nothing to revoke with (no readable token, no provider)."""
    if not isinstance(cred, OAuthTokens):
        return None
    from ..oauth.provider import from_extra

    try:
        provider = from_extra(profile.extra)
    except CcloginError:  # an old or damaged record: logout still wipes
        return None
    ctx.debug(f"revoking the tokens of {profile.name!r} at its provider")
    from ..oauth.revoke import revoke_outcome

    return _PendingRevoke(lambda: revoke_outcome(provider, cred))


def _start_vault_revoke(
    ctx: AppContext, profile: Profile, cred: Credential | None
) -> _PendingRevoke | None:
    """`auth/token/revoke-self` with the Vault login's own token, within REVOKE_TIMEOUT.
    A token the server no longer accepts counts as revoked: it opens nothing any more."""
    if not isinstance(cred, VaultToken):
        return None
    from ..errors import VaultLoginNeeded, VaultPermissionDenied
    from ..oauth.revoke import REVOKE_TIMEOUT, RevokeOutcome
    from ..vault.client import VaultClient
    from .vault_login import login_settings

    try:
        settings = login_settings(ctx, profile)
    except CcloginError:  # no address on record, or a broken config: logout still wipes
        return None
    settings = settings._replace(timeout=min(settings.timeout, REVOKE_TIMEOUT))
    token = cred.token

    def revoke() -> RevokeOutcome:
        try:
            VaultClient(settings, lambda: token).revoke_self()
        except VaultLoginNeeded:
            return RevokeOutcome("revoked", detail="the server no longer accepted it")
        except VaultPermissionDenied:
            return RevokeOutcome("refused", status=403)
        except CcloginError as exc:
            return RevokeOutcome("unreachable", detail=exc.message)
        return RevokeOutcome("revoked")

    ctx.debug(f"revoking the Vault token of {profile.name!r} at {settings.address}")
    return _PendingRevoke(revoke)


def _record_revoke(
    profile: Profile, cred: Credential | None, pending: _PendingRevoke, report: LogoutReport
) -> None:
    from ..oauth.revoke import REVOKE_TIMEOUT

    pending.wait(REVOKE_TIMEOUT + 1.0)  # the worker's own deadline ends it before this
    outcome = pending.outcome
    if outcome is not None and outcome.ok:
        report.revoked.append(profile.name)
        return
    report.not_revoked.append(profile.name)
    report.not_revoked_why[profile.name] = _why_not_revoked(profile, cred, outcome)


def _why_not_revoked(profile: Profile, cred: Credential | None, outcome: Any) -> str:
    from .token import when

    expires = cred.expires_at if isinstance(cred, OAuthTokens | VaultToken) else None
    token = "the Vault token" if isinstance(cred, VaultToken) else "the access token"
    until = (f"{token} stays valid until {when(expires)}" if expires is not None
             else f"{token} stays valid until it expires")
    provider = profile.extra.get("oauth.name") or profile.provider or "its provider"
    kind = "timeout" if outcome is None else outcome.kind
    if kind == "unsupported":
        return f"{provider} offers no revocation; {until}"
    if kind == "refused":
        return f"{provider} refused the revocation: HTTP {outcome.status}; {until}"
    if kind == "timeout":
        return (f"{provider}'s revocation endpoint did not answer in time "
                f"(the wipe did not wait for it); {until}")
    detail = f" ({outcome.detail})" if outcome is not None and outcome.detail else ""
    return f"{provider}'s revocation endpoint was unreachable{detail}; {until}"


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


def _wipe_orphans(ctx: AppContext, report: LogoutReport, failures: list[str]) -> None:
    """`--all` leaves no cclogin entry at all, even ones the metadata lost track of: every
    backend that holds cclogin entries is walked (accounts/orphans.py), whatever the
    metadata says, its orphans deleted, and a second walk must find none."""
    from .orphans import repair, walk

    walked = walk(ctx)
    done = repair(ctx, walked.strays, kinds=("orphan", "stale"))
    report.removed += done.removed
    failures += done.failed
    again = walk(ctx)
    for backend, (message, _hint) in sorted(again.unreachable.items()):
        # The message names its backend already ("secret-service: ..."): once is enough.
        reason = message.removeprefix(f"{backend}: ")
        if any(f"({backend}: {reason})" in f for f in failures):
            continue  # the same reason was given for its profiles just above
        failures.append(f"{backend}: could not check it for leftover entries: {reason}")
    left = [s for s in again.strays if s.kind == "orphan"]
    failures += [
        f"{s.describe()} (still there after deletion)"
        for s in left
        if (s.backend, s.key) not in done.failed_keys
    ]
    with editing_metadata(ctx.paths) as meta:
        meta.active = None
