"""Settling a journal: after a kill (next run) or an error (same run), no credential lost.

The rule: look at what is actually there, not at how far the journal says we got.
  * every credential verified in its store -> roll forward: finish removing the
    plaintext (if the file is still exactly as read), drop the backup;
  * otherwise -> roll back: the source is (or is put back) as it was, the backup goes,
    half-made profiles go.
"Is it in the store?" has three answers: held, absent, or could not ask (no session
bus, a locked keychain, no passphrase source, a timeout, a wrong passphrase). Only
the first two decide anything; with the third the journal stays, nothing changes,
and a later run (with the store reachable) settles it.
Settling is idempotent, so being killed while settling is just another leftover.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..accounts.context import AppContext
from ..accounts.profiles import editing_metadata, read_metadata
from ..errors import CcloginError, SecretNotFound
from ..fsio import TEMP_SUFFIX, private_digest, read_private
from ..model import Profile, secret_key
from .claude_locks import claude_locks, release_leftover_locks
from .crash import crash_point
from .files import (
    read_digest,
    read_source,
    remove_file,
    remove_stale_temps,
    replace_file,
    sha256,
    source_limit,
)
from .journal import Journal, journal_files, migrate_lock, try_migrate_lock
from .pending import has_leftovers
from .spanfix import is_span_journal, settle_path

Notify = Callable[[str], None]

HELD, ABSENT = "held", "absent"


class CouldNotAsk(CcloginError):
    """The store did not answer, so a journal cannot be settled yet: it is kept as it is."""


def recover_all(ctx: AppContext) -> list[str]:
    """Settle every leftover journal; call with the migrate lock held."""
    lines: list[str] = []
    release_leftover_locks(ctx.paths, ctx.notify)
    for path in journal_files(ctx.paths):
        crash_point("recover-started")
        if is_span_journal(path):  # `cclogin scan --fix` / `--undo` (spanfix.py)
            try:
                lines += settle_path(ctx, path)
            except CouldNotAsk as exc:
                lines.append(f"note: {exc.message}")
            continue
        journal = Journal.load(path)
        try:
            if journal.op == "undo":
                from .undo import settle_undo

                lines += settle_undo(ctx, journal)
            else:
                lines += settle(ctx, journal, interrupted=True)
        except CouldNotAsk as exc:
            lines.append(f"note: {exc.message}")
    _remove_backup_temps(ctx)
    return lines


def recover_if_pending(ctx: AppContext) -> None:
    """The cheap check `status`, `token` and friends run: only acts on a leftover journal."""
    if not has_leftovers(ctx.paths):
        return
    try:
        with try_migrate_lock(ctx.paths) as mine:
            if not mine:
                return  # a migration is running right now: its journal is no leftover
            for line in recover_all(ctx):
                ctx.notify(f"cclogin: {line}")
    except CcloginError as exc:
        ctx.notify(
            f"cclogin: warning: could not finish an interrupted migration ({exc.message}); "
            "run `cclogin migrate` to retry"
        )


def recover_locked(ctx: AppContext) -> list[str]:
    with migrate_lock(ctx.paths):
        return recover_all(ctx)


def settle(ctx: AppContext, journal: Journal, *, interrupted: bool) -> list[str]:
    path = Path(journal.path)
    what = "an interrupted migration of" if interrupted else "the migration of"
    profiles, stored = ask_all(ctx, journal.profiles, f"{what} {path}", "cclogin migrate")
    current: str | _Unknown | None  # the file's digest now (read in blocks, not kept)
    try:
        now = read_digest(path)
        current = now.digest if now is not None else None
    except CcloginError:
        current = None if not path.exists() else _Unknown()
    backup = Path(journal.backup) if journal.backup else None
    lines: list[str] = []
    remove_stale_temps(path)
    if stored:
        _ensure_profiles(ctx, profiles)
        untouched = current == journal.source_sha
        if untouched:
            try:
                with (
                    claude_locks(ctx.paths, ctx.environ, ctx.notify, files=[path])
                    if journal.claude_file
                    else contextlib.nullcontext()
                ):
                    _remove_plaintext(ctx, path, journal)
                lines.append(f"finished {what} {path}: the plaintext is gone")
            except CcloginError as exc:
                lines.append(
                    f"{path}: stored as profile(s) {_names(profiles)}, but the plaintext could "
                    f"not be removed: {exc.message}"
                )
                if backup and not journal.keep_backup:
                    _unlink(backup)
                journal.remove(ctx.paths)
                raise CcloginError(lines[-1], exc.hint) from None
        elif interrupted:
            lines.append(f"finished {what} {path}")
        if backup and not journal.keep_backup:
            _unlink(backup)
    else:
        lines += _roll_back(ctx, journal, profiles, current, what)
    journal.remove(ctx.paths)
    return lines


def _roll_back(
    ctx: AppContext,
    journal: Journal,
    profiles: list[Profile],
    current: str | _Unknown | None,
    what: str,
) -> list[str]:
    """The store does not hold every credential: the source is (or goes back) as it was."""
    path = Path(journal.path)
    backup = Path(journal.backup) if journal.backup else None
    backup_ok = (
        backup is not None and backup.exists() and private_digest(backup) == journal.source_sha
    )
    lines: list[str] = []
    intact = current == journal.source_sha
    gone = current is None or current == journal.after_sha
    backup_data = (
        read_private(backup, source_limit(ctx.environ)) if gone and backup_ok and backup else None
    )
    if gone and backup_ok and backup is not None and backup_data is not None:
        # Should not happen (the source changes only once the store holds it), but
        # if the store lost it, the backup is the credential: put it back.
        replace_file(path, backup_data, journal.mode)
        lines.append(f"restored {path} from its backup: the store did not hold it")
        intact = _as_read(path, journal.source_sha)
        if intact:
            _unlink(backup)
    elif backup is not None and intact:
        _unlink(backup)
    elif backup is not None and backup.exists():
        lines.append(f"{path} changed meanwhile; its earlier content is kept in {backup}")
    _drop_unfinished(ctx, profiles, journal)
    if intact:  # checked above: the file holds exactly the bytes the run started from
        lines.append(f"rolled back {what} {path}: the file is as it was; nothing was lost")
    elif backup is not None and backup.exists():
        lines.append(f"rolled back {what} {path}; the file as it was is kept in {backup}")
    else:
        lines.append(
            f"warning: rolled back {what} {path}, but the file is not as it was read and "
            "no backup of it is left; check it"
        )
    return lines


class _Unknown:
    """A source that exists but can no longer be read safely (left for the next scan)."""


def ask_all(
    ctx: AppContext, entries: list[dict[str, Any]], what: str, retry: str
) -> tuple[list[Profile], bool]:
    """The journal's profiles, and whether every one holds the bytes the run wrote.

    A store that cannot answer is never taken as "absent": neither rolling forward nor
    back is safe without knowing, so nothing changes (CouldNotAsk, retried later).
    Shared by migrate's journals and scan --fix's (spanfix.py)."""
    profiles = [Profile.from_json(e["profile"]) for e in entries]
    answers = [_ask(ctx, p, e["blob_sha"]) for p, e in zip(profiles, entries, strict=True)]
    unknown = [a for a in answers if isinstance(a, CcloginError)]
    if unknown:
        raise CouldNotAsk(
            f"{what} will be finished later: the store could not be asked "
            f"({unknown[0].message})",
            "make the store reachable (unlock the keychain, or set a passphrase source), "
            f"then run `{retry}`",
        )
    return profiles, all(a == HELD for a in answers)


def _ask(ctx: AppContext, profile: Profile, blob_sha: str) -> str | CcloginError:
    """HELD, ABSENT (not there, or not the bytes this run wrote), or the error that kept
    the store from answering (StoreUnavailable, StoreLocked, StoreTimeout,
    PassphraseUnavailable, a wrong passphrase, ...): "could not ask" is never "absent"."""
    try:
        blob = ctx.store_for(profile).get(secret_key(profile.name))
    except SecretNotFound:
        return ABSENT
    except CcloginError as exc:
        return exc
    return HELD if blob is not None and sha256(blob) == blob_sha else ABSENT


def _as_read(path: Path, source_sha: str) -> bool:
    try:
        again = read_digest(path)
    except CcloginError:
        return False
    return again is not None and again.digest == source_sha


def _ensure_profiles(ctx: AppContext, profiles: list[Profile]) -> None:
    meta = read_metadata(ctx.paths)
    if all(meta.profiles.get(p.name) == p for p in profiles):
        return
    with editing_metadata(ctx.paths) as meta:
        for profile in profiles:
            meta.put(profile)
            if meta.active is None:
                meta.active = profile.name


def _drop_unfinished(ctx: AppContext, profiles: list[Profile], journal: Journal) -> None:
    """Profiles this run created whose secret never made it: remove the dangling names."""
    for profile, entry in zip(profiles, journal.profiles, strict=True):
        if not entry.get("was_new") or _ask(ctx, profile, entry["blob_sha"]) != ABSENT:
            continue
        with contextlib.suppress(CcloginError):
            ctx.store_for(profile).delete(secret_key(profile.name))
        with editing_metadata(ctx.paths) as meta:
            if profile.name in meta.profiles:
                meta.remove(profile.name)


def _remove_plaintext(ctx: AppContext, path: Path, journal: Journal) -> None:
    """Finish what the journal planned, recomputed from the file (the journal has no
    secret); only while the file is still exactly as the run read it."""
    current = read_source(path, source_limit(ctx.environ))
    if current is None or current.digest != journal.source_sha:
        return
    if journal.delete:
        remove_file(path)
        return
    from .plan import replan

    names = [str(e["profile"]["name"]) for e in journal.profiles]
    plan = replan(path, current, names, journal.reference)
    if plan.after_sha != journal.after_sha:
        raise CcloginError(f"{path}: the recomputed file does not match the journal; left as it is")
    replace_file(path, plan.after.pieces, current.mode)


def _remove_backup_temps(ctx: AppContext) -> None:
    """Half-written temp files of a killed run: backups (plaintext) and journals."""
    for folder in (ctx.paths.backup_dir, ctx.paths.journal_dir):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                    _unlink(Path(entry.path))


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _names(profiles: list[Profile]) -> str:
    return ", ".join(repr(p.name) for p in profiles)
