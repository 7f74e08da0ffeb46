"""Step 0001, doing it: each legacy file into the selected store, never losing a credential.

Per file: journal -> store + read back -> metadata -> 0600 backup -> (Claude Code's
locks) re-read, and only if unchanged remove the plaintext -> verify -> drop the
backup -> drop the journal. A changed file is re-read and migrated again. Any error or
kill after the journal is settled by `recover.settle` (now, or on the next run).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..accounts.context import AppContext
from ..accounts.profiles import editing_metadata, read_metadata
from ..errors import CcloginError, StoreCorrupt, StoreError
from ..fsio import atomic_write, private_digest
from ..model import Credential, Profile, load_credential, profile_name, secret_key
from ..store.base import SecretStore
from .claude_locks import claude_locks
from .claude_running import check_running, running_claude
from .crash import crash_point
from .files import read_digest, read_source, remove_file, replace_file, sha256, source_limit
from .journal import Journal, migrate_lock
from .plan import FilePlan, Item, Namer, build_blob, origins_of, plan_file
from .recover import recover_all, settle
from .scan import Scanned, loaded, scan
from .sources import detect, kept_lines

MAX_ATTEMPTS = 3  # re-reads of a file that keeps changing under us


@dataclass
class Options:
    from_paths: list[Path] = field(default_factory=list)
    dry_run: bool = False
    keep_backup: bool = False
    force: bool = False
    even_if_claude_running: bool = False
    confirm: Callable[[str], bool] | None = None  # a terminal's yes/no; None: no terminal
    leave_reference: bool = False  # .env: `cclogin://PROFILE` takes the key's place
    progress: Callable[[str], None] | None = None  # each report line as it happens


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)  # what happened, in order, for people
    migrated: list[Profile] = field(default_factory=list)
    failures: int = 0
    found_any: bool = False
    moved: list[Path] = field(default_factory=list)  # files whose plaintext is gone
    store_name: str | None = None
    emit: Callable[[str], None] | None = None  # told each line at once (Options.progress)

    def say(self, line: str) -> None:
        self.lines.append(line)
        if self.emit is not None:
            self.emit(line)

    def fail(self, line: str) -> None:
        self.failures += 1
        self.say(f"error: {line}")

    def summary(self) -> str:
        """The last line of a real run: how many files moved, how many failed."""
        moved = len(self.moved)
        where = f" into {self.store_name}" if self.store_name and moved else ""
        failed = f"; {self.failures} error(s), see above" if self.failures else ""
        return f"done: {moved} file(s) migrated{where}{failed}"


def migrate(ctx: AppContext, opts: Options) -> Report:
    from ..store.batch import one_connection

    report = Report(emit=opts.progress)
    lock = contextlib.nullcontext() if opts.dry_run else migrate_lock(ctx.paths)
    with lock, one_connection():  # every file's profiles over one keychain connection
        if not opts.dry_run:
            try:
                for line in recover_all(ctx):
                    report.say(line)
            except CcloginError as exc:
                report.fail(exc.message)
        scanned = scan(ctx.environ, opts.from_paths)
        _check_claude_running(ctx, opts, scanned, report)
        run = _Run(ctx, opts, report, _namer(ctx, opts.force, set()))
        for item in scanned:
            # A large file's bytes were let go after its scan; they are read again for
            # its turn and let go once `_one_file` returns: one large file at a time.
            _one_file(run, loaded(item, run.limit) if item.detection.hits else item)
        if not report.found_any and report.failures == 0:
            report.say("nothing to migrate: no plaintext credential found (already migrated?)")
    return report


@dataclass
class _Run:
    ctx: AppContext
    opts: Options
    report: Report
    namer: Namer
    store: SecretStore | None = None
    store_name: str | None = None

    @property
    def limit(self) -> int:
        return source_limit(self.ctx.environ)


def _one_file(run: _Run, item: Scanned) -> None:
    ctx, opts, report = run.ctx, run.opts, run.report
    if _migrated_before(ctx, item, report):
        return
    if not _usable(item, report) or item.read is None:
        return
    report.found_any = True
    if run.store_name is None:  # first: the passphrase is asked before any file is planned
        run.store, run.store_name = _select(ctx, opts.dry_run, report)
        report.store_name = run.store_name
    plan = plan_file(
        item.path,
        item.read,
        item.detection.hits,
        run.namer,
        opts.leave_reference,
        item.detection.index,
    )
    _describe(plan, run.store_name, report, opts.dry_run, item.note)
    if plan.conflicts:
        for c in plan.conflicts:
            report.fail(
                f"profile {c.profile!r} already holds a different credential; {item.path} "
                "was left as it is (pass --force to replace the profile)"
            )
        return
    if not opts.dry_run and run.store is not None:
        _migrate_file(ctx, run.store, plan, opts, report)


def _check_claude_running(
    ctx: AppContext, opts: Options, scanned: list[Scanned], report: Report
) -> None:
    """Before any file is touched: a running Claude Code on them is asked about or refused."""
    touched = [
        i.path for i in scanned if i.error is None and i.read is not None and i.detection.hits
    ]
    if touched:
        check_running(
            running_claude(ctx.environ, touched),
            dry_run=opts.dry_run,
            allowed=opts.even_if_claude_running,
            confirm=opts.confirm,
            say=report.say,
        )


def _migrated_before(ctx: AppContext, item: Scanned, report: Report) -> bool:
    """A --from file that is gone because an earlier run migrated it: a no-op."""
    if not item.explicit or item.read is not None or item.path.exists():
        return False
    names = [
        p.name for p in read_metadata(ctx.paths).profiles.values() if p.source == str(item.path)
    ]
    if not names:
        return False
    report.say(f"{item.path} was migrated already (profile {', '.join(names)}); nothing to do")
    return True


def _usable(item: Scanned, report: Report) -> bool:
    if item.error is not None:
        report.fail(f"{item.error.message} ({item.error.hint})")
        return False
    det = item.detection
    for warning in det.warnings:
        report.say(f"warning: {warning}")
    for line in kept_lines(item.path, det.kept):
        report.say(f"kept: {line}")
    if item.exposed_kept and not det.hits and item.read is not None:
        report.say(
            f"warning: {item.path} has mode {item.read.mode:03o} and keeps Claude Code's "
            f"secrets; run `chmod 600 {item.path}`"
        )
    if det.problem and item.abandoned_temp:
        report.say(f"warning: {det.problem} ({det.hint})")
        return False
    if det.problem:
        report.fail(det.problem)
        return False
    for line in det.notes:
        report.say(line)
    if not det.hits:
        named = item.path.name.endswith("credentials.json") or item.path.name == ".claude.json"
        if not det.kept and not det.notes and (item.explicit or named):
            # Settings, configs and backups without a secret are the usual case: silent.
            report.say(f"no credential in {item.path}; left alone")
        return False
    if item.read is not None and item.read.exposed:
        report.say(
            f"warning: {item.path} was readable by other users (mode {item.read.mode:03o}); "
            "the credential may have been copied already: consider rotating it"
        )
    return True


def _namer(ctx: AppContext, force: bool, owned: set[str]) -> Namer:
    def read_existing(profile: Profile) -> Credential | None:
        try:
            blob = ctx.store_for(profile).get(secret_key(profile.name))
            return load_credential(blob) if blob is not None else None
        except CcloginError:
            return None

    return Namer(read_metadata(ctx.paths).profiles, read_existing, force, owned)


def _select(ctx: AppContext, dry: bool, report: Report) -> tuple[SecretStore | None, str]:
    """The store the credentials go to. A preview goes on without one, and says so."""
    if not dry:
        # The instance recovery and rollbacks reach too (store_for), so one passphrase
        # and one key derivation serve the whole run.
        store = ctx.store_named(ctx.select_store().name)
        _unlock(store)
        return store, store.name
    try:
        store = ctx.select_store()
    except StoreError as exc:
        report.say(
            f"warning: no store is available, so a real run would stop here: {exc.message}"
        )
        report.say(f"  to fix it: {exc.hint}")
        return None, "the store (none is available yet)"
    return store, store.name


def _unlock(store: SecretStore) -> None:
    """Ask for the store's passphrase once, now: a mistake is re-asked or ends the run
    before any file is touched, and every file (and any rollback) reuses it."""
    from ..store.encrypted_file import EncryptedFileStore

    if not isinstance(store, EncryptedFileStore):
        return  # OS keychains ask (if ever) on their own
    try:
        store.unlock()
    except CcloginError as exc:
        exc.message = f"{exc.message}; nothing was migrated, every file is as it was"
        raise


def _describe(
    plan: FilePlan, store_name: str, report: Report, dry: bool, note: str = ""
) -> None:
    verb = "would go" if dry else "goes"
    for item in plan.items:
        report.say(
            f"found {item.hit.label} in {plan.path}"
            + (f" ({note})" if note else "")
            + f": {verb} to profile {item.profile!r} ({item.hit.cred.kind}) in {store_name}"
            + (" (already stored there)" if item.action == "same" else "")
        )
    if dry:
        if plan.delete:
            report.say(f"  {plan.path} would be removed (it holds nothing else)")
        elif plan.reference:
            refs = ", ".join(f"cclogin://{i.profile}" for i in plan.items)
            report.say(
                f"  {plan.path}: the key(s) would be replaced by {refs} in their line(s); "
                "the rest kept byte for byte"
            )
        elif plan.items and plan.items[0].hit.shape == "dotenv":
            report.say(
                f"  {plan.path}: the line(s) would become comments; the rest kept byte for byte"
            )
        else:
            keys = sorted({".".join((*i.hit.within, k)) for i in plan.items for k in i.hit.keys})
            report.say(
                f"  {plan.path}: {', '.join(keys)} would be removed; the rest kept byte for byte"
            )


def _migrate_file(
    ctx: AppContext, store: SecretStore, plan: FilePlan, opts: Options, report: Report
) -> None:
    owned: set[str] = set()
    for _attempt in range(MAX_ATTEMPTS):
        journal = _journal(plan, store, opts, ctx)
        try:
            outcome = _attempt_file(ctx, store, plan, journal, opts, report)
        except CcloginError as exc:
            report.fail(f"{plan.path}: {exc.message}")
            try:
                for line in settle(ctx, journal, interrupted=False):
                    report.say(line)
            except CcloginError as again:
                report.say(f"  {again.message}")
            return
        if not outcome:
            return
        # The file changed between our read and its removal: migrate what is there now.
        report.say(f"{plan.path} changed while being migrated; reading it again")
        owned |= {i.profile for i in plan.items}
        path = plan.path
        del plan  # its bytes go before the new ones come
        current = read_source(path, source_limit(ctx.environ))
        if current is None:
            report.fail(f"{path} disappeared while being migrated; its credential is stored")
            return
        detection = detect(path, current.data)
        if not detection.hits:
            report.say(f"{path} no longer holds a credential; the stored copy stays")
            return
        namer = _namer(ctx, opts.force, owned)
        plan = plan_file(
            path, current, detection.hits, namer, opts.leave_reference, detection.index
        )
    report.fail(f"{plan.path} kept changing; try again when nothing else writes it")


def _journal(plan: FilePlan, store: SecretStore, opts: Options, ctx: AppContext) -> Journal:
    jid = secrets.token_hex(6)
    first = plan.items[0].profile
    return Journal(
        id=jid,
        op="migrate",
        path=str(plan.path),
        source_sha=plan.read.digest,
        after_sha=plan.after_sha,
        delete=plan.delete,
        mode=plan.read.mode,
        backup=str(ctx.paths.backup_dir / f"{first}.{jid}.bak"),
        keep_backup=opts.keep_backup,
        claude_file=plan.claude_file,
        reference=plan.reference,
    )


def _attempt_file(
    ctx: AppContext,
    store: SecretStore,
    plan: FilePlan,
    journal: Journal,
    opts: Options,
    report: Report,
) -> bool:
    """False when done; True when the file changed before its removal (nothing removed)."""
    existing = read_metadata(ctx.paths).profiles
    targets = _targets(ctx, store, plan, existing)
    journal.profiles = [
        {"profile": p.to_json(), "blob_sha": sha256(blob), "was_new": p.name not in existing}
        for item in plan.items
        for p, blob in [targets[item.profile][1:]]
    ]
    journal.write(ctx.paths)
    crash_point("journal-written")
    for target, profile, blob in targets.values():
        target.set(secret_key(profile.name), blob)
        if target.get(secret_key(profile.name)) != blob:
            raise StoreCorrupt(f"{target.name} returned something else than was stored")
    crash_point("stored")
    with editing_metadata(ctx.paths) as meta:
        for _t, profile, _b in targets.values():
            meta.put(profile)
            if meta.active is None:
                meta.active = profile.name
    for _t, profile, _b in targets.values():
        old = existing.get(profile.name)
        if old is not None and old.backend != profile.backend:
            # --force moved the profile to another backend: no copy stays in the old one.
            ctx.store_for(old).delete(secret_key(old.name))
    crash_point("profile-written")
    backup = Path(str(journal.backup))
    atomic_write(backup, plan.read.data)
    if private_digest(backup) != plan.read.digest:  # read back in blocks: no second copy
        raise CcloginError(f"the backup {backup} does not read back as written")
    crash_point("backup-written")
    changed = _remove_plaintext(ctx, plan)
    crash_point("locks-released")
    if changed:
        backup.unlink()
        journal.remove(ctx.paths)
        return True
    _verify(targets, plan)
    if opts.keep_backup:
        report.say(f"  kept a backup (mode 600) in {backup}")
    else:
        backup.unlink()
    crash_point("backup-removed")
    journal.remove(ctx.paths)
    for _t, profile, _b in targets.values():
        if profile not in report.migrated:
            report.migrated.append(profile)
    report.moved.append(plan.path)
    report.say(_done_line(plan))
    return False


def _targets(
    ctx: AppContext, store: SecretStore, plan: FilePlan, existing: dict[str, Profile]
) -> dict[str, tuple[SecretStore, Profile, bytes]]:
    """Per profile: where it goes, its metadata and its blob (undo records appended)."""
    out: dict[str, tuple[SecretStore, Profile, bytes]] = {}
    for item in plan.items:
        name = item.profile
        old = existing.get(name)
        target = ctx.store_for(old) if old is not None and item.action == "same" else store
        origins = (
            [*origins_of(target.get(secret_key(profile_name(name)))), item.origin(plan.path)]
            if item.action == "same"
            else [item.origin(plan.path)]
        )
        if name in out:
            target, profile, blob = out[name]
            origins = [*origins_of(blob), item.origin(plan.path)]
        else:
            profile = _profile(name, item, target, plan.path, old)
        out[name] = (target, profile, build_blob(item.hit.cred, origins))
    return out


def _profile(
    name: str, item: Item, target: SecretStore, path: Path, old: Profile | None
) -> Profile:
    if old is not None and item.action == "same":
        return old
    return Profile(
        name=profile_name(name),
        kind=item.hit.cred.kind,
        backend=target.name,
        storage_class=target.storage_class,
        created_at=time.time(),
        expires_at=getattr(item.hit.cred, "expires_at", None),
        source=str(path),
        extra={"migration": "0001-claude-code-plaintext"},
    )


def _remove_plaintext(ctx: AppContext, plan: FilePlan) -> bool:
    """Under Claude Code's locks: the plaintext goes if the file is still exactly as read
    (its digest, read in blocks); True when it changed (nothing removed)."""
    guard = (
        claude_locks(ctx.paths, ctx.environ, ctx.notify, files=[plan.path])
        if plan.claude_file
        else contextlib.nullcontext()
    )
    with guard:
        crash_point("before-source-check")
        current = read_digest(plan.path)
        if current is None:
            raise CcloginError(
                f"{plan.path} disappeared while being migrated; its credential is stored"
            )
        if current.digest != plan.read.digest:
            return True
        if plan.delete:
            remove_file(plan.path)
        else:
            replace_file(plan.path, plan.after.pieces, plan.mode)
        crash_point("source-rewritten")
    return False


def _verify(targets: dict[str, tuple[SecretStore, Profile, bytes]], plan: FilePlan) -> None:
    for target, profile, blob in targets.values():
        if target.get(secret_key(profile.name)) != blob:
            raise StoreCorrupt(f"profile {profile.name!r} no longer reads back from {target.name}")
    now = read_digest(plan.path)
    if (now.digest if now else sha256(b"")) != plan.after_sha:
        raise CcloginError(f"{plan.path} does not read back as written")


def _done_line(plan: FilePlan) -> str:
    names = ", ".join(dict.fromkeys(repr(i.profile) for i in plan.items))
    if plan.delete:
        return f"migrated {plan.path} into profile {names}; the file is removed"
    if plan.reference:
        refs = ", ".join(dict.fromkeys(f"cclogin://{i.profile}" for i in plan.items))
        return (
            f"migrated {plan.path} into profile {names}; the key's line now holds {refs}: "
            f"load the file with `cclogin run --env-file {plan.path} -- CMD`"
        )
    return f"migrated {plan.path} into profile {names}; the credential is removed from it, the rest is kept"
