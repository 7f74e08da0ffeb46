"""Logout: revoke (best effort), wipe every copy, then prove nothing is left.

Every profile being logged out (one, a team link and its Vault login, or all of them)
goes through the same passes, each one pass over all of them, so `logout --all` costs
one keychain connection, one read-back pass per store and one metadata write, however
many profiles there are (issue 13.5):

1. read each secret (the plaintext sweep and the revocation need it) and start its
   revocation; a hard-linked plaintext copy refuses that profile before anything goes;
2. give the revocations REVOKE_HEAD_START seconds, once for all: a prompt server is done
   before the wipe, a slow one never holds it back (oauth/revoke.py gives it the rest of
   its own deadline, recorded at the end);
3. remove the known and plaintext copies of each secret (its entry still stands);
4. under the metadata lock (no login can put a profile back meanwhile): delete the
   secrets (one batch per store), prove them gone (one pass per store: store/batch.py),
   then drop the entries of the proven ones, in one write.

A profile's entry goes only after its secret is proven gone, so logout never leaves a
secret without a profile entry. A crash (or a full disk) between the deletes and the
write leaves entries whose secrets are gone, which is what a crash in that window of
a single profile always left: `status` says such a profile has no secret, and running
`logout` (or `logout --all`) again removes the entries.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
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
from .profiles import metadata_lock, read_metadata, resolve_name, write_metadata


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
    tally = _Tally()
    from ..store.batch import one_connection

    with one_connection():  # every Secret Service call of this logout: one connection
        _logout_all_of(ctx, targets, revoke, report, tally, everything=everything)
        failures = tally.failures()
        if everything:
            _wipe_orphans(ctx, report, failures)
    if everything:
        _lock(ctx, report)
    if failures or tally.left:
        parts = (["still stored: " + "; ".join(failures)] if failures else []) + tally.left
        hints = tally.hints
        raise LogoutIncomplete(
            "logout is incomplete; " + "; ".join(parts),
            hints[0] if len(set(hints)) == 1 and len(failures) + len(tally.left) == 1 else None,
        )
    return report


def _lock(ctx: AppContext, report: LogoutReport) -> None:
    """`logout --all` also locks: the unlock cache's data key leaves the kernel keyring."""
    from .unlock import lock

    if lock(ctx):
        report.removed.append("the unlock cache (the data key in the kernel keyring)")


class _Tally:
    """What could not be logged out, and why: each reason said once, for its profiles."""

    def __init__(self) -> None:
        self.why: dict[tuple[str, str], list[str]] = {}  # (backend, reason) -> profiles
        self.left: list[str] = []  # profiles whose secret is gone but whose entry is not
        self.hints: list[str] = []

    def failed(self, profile: Profile, exc: CcloginError) -> None:
        if isinstance(exc, ProfileEntryLeft):
            self.left.append(f"{profile.name}: {exc.message}")
            self.hints.append(exc.hint)
            return
        where = exc.message.removeprefix(f"{profile.backend}: ")
        self.why.setdefault((profile.backend, where), []).append(profile.name)
        if isinstance(exc, HardLinkedCopy | StoreLocked):
            self.hints.append(exc.hint)

    def failures(self) -> list[str]:
        return [f"{', '.join(names)} ({backend}: {where})"
                for (backend, where), names in self.why.items()]


@dataclass
class _Wipe:
    """One profile on its way out."""

    profile: Profile
    store: SecretStore | None  # None: a team profile, a link with nothing to wipe here
    key: str = ""
    cred: Credential | None = None
    pending: _PendingRevoke | None = None


def _logout_all_of(
    ctx: AppContext,
    targets: list[Profile],
    revoke: bool,
    report: LogoutReport,
    tally: _Tally,
    *,
    everything: bool,
) -> None:
    """The passes of the module docstring over `targets` (plus, for one team profile, its
    Vault login when no other team profile reads through it)."""
    from .team import is_team

    wipes: list[_Wipe] = []
    queue = list(targets)
    while queue:
        profile = queue.pop(0)
        try:
            wipes.append(_prepare(ctx, profile, revoke))
        except CcloginError as exc:
            tally.failed(profile, exc)
            continue
        if not everything and is_team(profile):
            login = _chained_login(ctx, profile, report)
            if login is not None:
                queue.append(login)
    try:
        deadline = time.monotonic() + REVOKE_HEAD_START
        for wipe in wipes:  # a prompt server is done before the wipe
            if wipe.pending is not None:
                wipe.pending.wait(max(0.0, deadline - time.monotonic()))
        ready = [w for w in wipes if w.store is None or _copies_removed(ctx, w, report, tally)]
        with metadata_lock(ctx.paths):
            gone = _prove(_delete(ready, report, tally), tally)
            _unlist(ctx, gone, report, tally, clear_active=everything)
    finally:
        for wipe in wipes:
            if wipe.pending is not None:
                _record_revoke(wipe.profile, wipe.cred, wipe.pending, report)


def _prepare(ctx: AppContext, profile: Profile, revoke: bool) -> _Wipe:
    """Read the secret, refuse a hard-linked plaintext copy, start the revocation."""
    from .team import is_team

    if is_team(profile):
        return _Wipe(profile, None)
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
    return _Wipe(profile, store, key, cred, pending)


def _chained_login(ctx: AppContext, profile: Profile, report: LogoutReport) -> Profile | None:
    """A team profile's Vault login goes with it, unless another team profile still
    reads through it (the shared secret itself always stays)."""
    from .team import LOGIN_KEY, users_of_login

    login_name = profile.extra.get(LOGIN_KEY)
    if not login_name:
        return None
    login = read_metadata(ctx.paths).profiles.get(ProfileName(login_name))
    if login is None or login.kind != "vault_token":
        return None
    others = users_of_login(ctx, login.name, profile.name)
    if others:
        report.removed.append(f"(Vault login {login.name!r} kept: {', '.join(others)} use it)")
        return None
    return login


def _copies_removed(ctx: AppContext, wipe: _Wipe, report: LogoutReport, tally: _Tally) -> bool:
    """Backups and plaintext copies of the secret go first, while it is still stored."""
    for path in known_copies(ctx, wipe.profile):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            report.removed.append(f"copy {path}")
    if wipe.cred is None:
        return True
    try:
        _remove_plaintext_copies(ctx, wipe.profile, wipe.cred, report)
    except CcloginError as exc:
        tally.failed(wipe.profile, exc)
        return False
    return True


def _by_store(wipes: list[_Wipe]) -> Iterator[tuple[SecretStore, list[_Wipe]]]:
    groups: dict[int, tuple[SecretStore, list[_Wipe]]] = {}
    for wipe in wipes:
        if wipe.store is not None:
            groups.setdefault(id(wipe.store), (wipe.store, []))[1].append(wipe)
    yield from groups.values()


def _delete(wipes: list[_Wipe], report: LogoutReport, tally: _Tally) -> list[_Wipe]:
    """Delete the secrets, one batch per store; the wipes that went (team links pass)."""
    from ..store.batch import delete_many

    done = [w for w in wipes if w.store is None]
    for store, group in _by_store(wipes):
        answers = delete_many(store, [w.key for w in group])
        for wipe in group:
            answer = answers.get(wipe.key, False)
            if isinstance(answer, CcloginError):
                tally.failed(wipe.profile, answer)
                continue
            if answer:
                report.removed.append(f"secret of {wipe.profile.name!r} from {store.name}")
            done.append(wipe)
    return done


def _prove(wipes: list[_Wipe], tally: _Tally) -> list[_Wipe]:
    """Read every store back, one pass each: those whose secret is proven gone."""
    from ..store.batch import still_there

    proven = [w for w in wipes if w.store is None]
    for store, group in _by_store(wipes):
        try:
            left = still_there(store, [w.key for w in group])
        except CcloginError as exc:
            for wipe in group:
                tally.failed(wipe.profile, exc)
            continue
        for wipe in group:
            if wipe.key in left:
                tally.failed(wipe.profile, LogoutIncomplete(
                    f"{wipe.key} is still readable from {store.name} after deletion"))
            else:
                proven.append(wipe)
    return proven


def _unlist(
    ctx: AppContext, gone: list[_Wipe], report: LogoutReport, tally: _Tally, *, clear_active: bool
) -> None:
    """Drop the entries of `gone` (and, for --all, the active pointer) in one write;
    runs under the metadata lock."""
    where = ctx.paths.metadata_file
    try:
        meta = read_metadata(ctx.paths)
        changed = False
        for wipe in gone:
            changed = meta.remove(wipe.profile.name) is not None or changed
        if clear_active and meta.active is not None:
            meta.active = None
            changed = True
        if changed:
            write_metadata(ctx.paths, meta)
    except (CcloginError, OSError) as exc:
        # The secrets are gone (proven above): say what is left, not "still stored".
        why = exc.message if isinstance(exc, CcloginError) else (exc.strerror or str(exc))
        for wipe in gone:
            gone_secret = "its secret is gone, but " if wipe.store is not None else ""
            tally.failed(wipe.profile, ProfileEntryLeft(
                f"{gone_secret}its entry in {where} could not be removed ({why})"))
        return
    for wipe in gone:
        profile = wipe.profile
        if wipe.store is None:
            report.removed.append(f"link {profile.name!r} to the shared secret "
                                  f"{profile.account or ''} (the secret stays)")
        else:
            report.removed.append(f"profile {profile.name!r} from {where}")
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


def _wipe_orphans(ctx: AppContext, report: LogoutReport, failures: list[str]) -> None:
    """`--all` leaves no cclogin entry at all, even ones the metadata lost track of: every
    backend that holds cclogin entries is walked (accounts/orphans.py), whatever the
    metadata says, its orphans deleted, and a second walk must find none. (The active
    pointer was cleared with the profiles' entries, in the one metadata write.)"""
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
