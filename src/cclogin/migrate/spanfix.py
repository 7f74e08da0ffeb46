"""Crash-safe, undoable edits of byte spans in a user's files, each secret stored first.

`cclogin scan --fix` (scan/fix.py) plans, for one file, which byte spans to cut or
replace and which profiles hold the secrets in them; this module carries the plan out
with migrate's guarantees (engine.py):

  journal (no secret) -> each new profile's secret into the store, read back ->
  metadata -> undo record (no secret) -> the file re-read, and only if it is still
  exactly as planned it is replaced (a temp file in its folder, fsync, rename; its
  mode and group kept) -> read back -> journal removed.

A kill at any instant leaves the journal (`scanfix-<id>.journal.json` beside
migrate's), which every command settles first (`recover.recover_all`, reached through
`settle_leftovers` and the `token` hot path's one listdir): when every secret is
verified in its store the fix is finished (the file rewritten if it is still as it was
read), otherwise it is rolled back (the file untouched, the profiles it created gone).

The undo record (one per file, in `<data>/scan-fix/`) holds no secret: the bytes that
were cut or replaced with each secret left out, a hole in its place naming the profile
that holds it and its fingerprint (8 hex digits of its SHA-256, none for a short
value). `undo` fills the holes from the store, writes the file back byte for byte (a
file that only grew since, like a history, keeps what was appended), then removes the
profiles the fix created, never one that existed before. An undo is journaled too
(`scanundo-<id>.journal.json`) and settled the same way.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets as random_ids
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..accounts.context import AppContext
from ..accounts.copies import known_copies
from ..accounts.profiles import editing_metadata, read_metadata
from ..errors import CcloginError, SecretNotFound, StoreCorrupt, UnsafeFile
from ..fsio import (
    TEMP_SUFFIX,
    atomic_write,
    fsync_dir,
    read_at_most,
    read_private,
    temp_name,
    write_error,
)
from ..model import (
    Credential,
    Profile,
    dump_credential,
    load_credential,
    primary_secret,
    secret_key,
    secrets_of,
)
from ..paths import Paths
from ..secret import Secret
from ..store.base import SecretStore
from .claude_locks import claude_locks
from .crash import crash_point
from .files import hard_linked, remove_stale_temps
from .pending import JOURNAL_SUFFIX

FIX_PREFIX = "scanfix-"
UNDO_PREFIX = "scanundo-"
RECORD_SUFFIX = ".undo.json"
RAW, FISH = "raw", "fish"  # how a secret is written in the file (fish_variables: \xHH)
FINGERPRINT_HEX = 8
MIN_FINGERPRINTED = 20
MAX_FILE = 256 << 20  # a file the fix or its undo reads whole
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_KEYISH = re.compile(r"sk-ant-[A-Za-z0-9_-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(path: Path | str, home: Path | None = None) -> str:
    """A path for people: no `sk-ant-...` in it, control characters escaped, `~` for
    `home`."""
    text = str(path)
    if home is not None and text.startswith(str(home) + os.sep):
        text = "~" + text[len(str(home)) :].encode("utf-8", "surrogateescape").decode(
            "utf-8", "backslashreplace"
        )
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _KEYISH.sub("sk-ant-(hidden)", text)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(secret: bytes) -> str | None:
    return None if len(secret) < MIN_FINGERPRINTED else sha256(secret)[:FINGERPRINT_HEX]


def fish_escape(secret: bytes) -> bytes:
    """How fish writes a universal variable's value: every byte but [A-Za-z0-9_] as \\xHH."""
    return b"".join(
        bytes([b]) if chr(b).isascii() and (chr(b).isalnum() or b == 0x5F) else b"\\x%02x" % b
        for b in secret
    )


def written_form(secret: bytes, form: str) -> bytes:
    return fish_escape(secret) if form == FISH else secret


# --- the plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hole:
    at: int  # offset in the edit's `old` (the bytes with the secrets left out)
    profile: str
    fingerprint: str | None
    form: str = RAW

    def to_json(self) -> list[Any]:
        return [self.at, self.profile, self.fingerprint, self.form]

    @classmethod
    def from_json(cls, doc: Any) -> Hole:
        at, profile, fp, form = doc
        return cls(int(at), str(profile), None if fp is None else str(fp), str(form))


@dataclass(frozen=True)
class SpanEdit:
    start: int  # [start, end) in the file as read
    end: int
    new: bytes  # what takes its place (never a secret)
    old: bytes = b""  # the bytes of [start, end) with every secret left out
    holes: tuple[Hole, ...] = ()

    def to_json(self) -> list[Any]:
        return [
            self.start,
            self.end,
            _b64(self.new),
            _b64(self.old),
            [h.to_json() for h in self.holes],
        ]

    @classmethod
    def from_json(cls, doc: Any) -> SpanEdit:
        start, end, new, old, holes = doc
        return cls(
            int(start), int(end), _unb64(new), _unb64(old), tuple(Hole.from_json(h) for h in holes)
        )


def masked(
    data: bytes, start: int, end: int, secrets: Sequence[tuple[int, int, Hole]]
) -> tuple[bytes, tuple[Hole, ...]]:
    """(old, holes) for cutting data[start:end]: each secret span in it left out.

    `secrets`: (secret start, secret end, hole without its offset), in the file's offsets."""
    pieces: list[bytes] = []
    holes: list[Hole] = []
    at, kept = start, 0
    for s, e, hole in sorted(secrets, key=lambda x: x[0]):
        if s < at or e > end:
            raise ValueError("a secret outside its edit, or two that overlap")
        pieces.append(data[at:s])
        kept += s - at
        holes.append(Hole(kept, hole.profile, hole.fingerprint, hole.form))
        at = e
    pieces.append(data[at:end])
    return b"".join(pieces), tuple(holes)


def apply(data: bytes, edits: Sequence[SpanEdit]) -> bytes:
    """`data` with each edit's span replaced by its `new` (edits must not overlap)."""
    out: list[bytes] = []
    at = 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < at or edit.end < edit.start or edit.end > len(data):
            raise ValueError("edits overlap or fall outside the file")
        out += [data[at : edit.start], edit.new]
        at = edit.end
    out.append(data[at:])
    return b"".join(out)


def reverse(after: bytes, edits: Sequence[SpanEdit], fill: Callable[[Hole], bytes]) -> bytes:
    """The bytes `apply` was given, from what it returned: each `new` back to its `old`
    with its holes filled (`fill(hole)`: the secret as it was written)."""
    out: list[bytes] = []
    at, shift = 0, 0
    for edit in sorted(edits, key=lambda e: e.start):
        pos = edit.start + shift
        if after[pos : pos + len(edit.new)] != edit.new:
            raise CcloginError("the undo record does not fit the file; left as it is")
        pieces, kept = [], 0
        for hole in edit.holes:
            pieces += [edit.old[kept : hole.at], fill(hole)]
            kept = hole.at
        pieces.append(edit.old[kept:])
        old = b"".join(pieces)
        if len(old) != edit.end - edit.start:
            raise CcloginError("a stored secret is not the one the undo record expects")
        out += [after[at:pos], old]
        at = pos + len(edit.new)
        shift += len(edit.new) - (edit.end - edit.start)
    out.append(after[at:])
    return b"".join(out)


@dataclass
class Target:
    """A profile that holds (or will hold) one secret of the file."""

    profile: Profile
    secret: Secret  # the secret found in the file (in memory only)
    credential: Credential  # what a new profile stores
    reuse: bool  # an existing profile (the same secret already stored)


@dataclass
class UserFile:
    data: bytes
    mode: int
    gid: int
    nlink: int


@dataclass
class SpanPlan:
    path: Path
    read: UserFile
    edits: list[SpanEdit]
    targets: list[Target]
    claude_file: bool = False  # one of Claude Code's: take its locks while writing it
    after: bytes = b""

    def __post_init__(self) -> None:
        self.after = apply(self.read.data, self.edits)


# --- reading and writing a user's file ------------------------------------------------------


def read_user_file(path: Path, limit: int = MAX_FILE) -> UserFile | None:
    """The file's bytes, mode and group; None if it is missing. Refuses a symlink, a
    file that is not regular, and (POSIX) one that belongs to another user."""
    try:
        fd = os.open(path, _READ)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{shown(path)} is a symlink; not followed") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UnsafeFile(f"{shown(path)} cannot be read: permission denied") from None
        raise CcloginError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{shown(path)} is not a regular file; left alone")
        if os.name == "posix" and st.st_uid != os.getuid():
            raise UnsafeFile(
                f"{shown(path)} belongs to another user (uid {st.st_uid}); left alone",
                "run the fix as that user",
            )
        if st.st_size > limit:
            raise CcloginError(f"{shown(path)} is larger than {limit >> 20} MiB; left alone")
        data = read_at_most(fd, limit + 1)
        if len(data) > limit:
            raise CcloginError(f"{shown(path)} grew past {limit >> 20} MiB while being read")
        return UserFile(data, stat.S_IMODE(st.st_mode), st.st_gid, st.st_nlink)
    finally:
        os.close(fd)


def replace_user_file(path: Path, data: bytes, mode: int, gid: int) -> None:
    """Replace a file that is not ours atomically and durably: a temp file in its folder
    (0600 while written), its group and mode set, fsync, rename, fsync the folder."""
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, _WRITE, 0o600)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if os.name == "posix":
                if os.fstat(fd).st_gid != gid:
                    with contextlib.suppress(OSError):  # not a member of it: ours instead
                        os.fchown(fd, -1, gid)
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise write_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)


def _digest_now(path: Path) -> str | None:
    """The file's SHA-256 now; None if it is missing; "?" if it cannot be read safely."""
    try:
        now = read_user_file(path)
    except CcloginError:
        return "?"
    return None if now is None else sha256(now.data)


def _guard(
    ctx: AppContext, path: Path, claude_file: bool
) -> contextlib.AbstractContextManager[Any]:
    if claude_file:
        return claude_locks(ctx.paths, ctx.environ, ctx.notify, files=[path])
    return contextlib.nullcontext()


# --- journals and undo records -------------------------------------------------------------


def record_dir(paths: Paths) -> Path:
    return paths.data_dir / "scan-fix"


def is_span_journal(path: Path) -> bool:
    return path.name.startswith((FIX_PREFIX, UNDO_PREFIX)) and path.name.endswith(JOURNAL_SUFFIX)


@dataclass
class FixJournal:
    id: str
    path: str
    before_sha: str
    after_sha: str
    after_size: int
    mode: int
    gid: int
    claude_file: bool
    edits: list[SpanEdit]
    profiles: list[dict[str, Any]]  # {"profile": ..., "blob_sha": ..., "was_new": ...}
    at: int = field(default_factory=time.time_ns)

    def file(self, paths: Paths) -> Path:
        return paths.journal_dir / f"{FIX_PREFIX}{self.id}{JOURNAL_SUFFIX}"

    def record_file(self, paths: Paths) -> Path:
        return record_dir(paths) / f"{self.at:020d}-{self.id}{RECORD_SUFFIX}"

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "op": "scan-fix",
            "id": self.id,
            "at": self.at,
            "path": self.path,
            "before_sha": self.before_sha,
            "after_sha": self.after_sha,
            "after_size": self.after_size,
            "mode": self.mode,
            "gid": self.gid,
            "claude_file": self.claude_file,
            "edits": [e.to_json() for e in self.edits],
            "profiles": self.profiles,
        }

    def record(self) -> dict[str, Any]:
        """The undo record: no secret, and no digest of anything that holds one."""
        return {
            "v": 1,
            "id": self.id,
            "at": self.at,
            "path": self.path,
            "after_sha": self.after_sha,
            "after_size": self.after_size,
            "mode": self.mode,
            "claude_file": self.claude_file,
            "edits": [e.to_json() for e in self.edits],
            "created": [p["profile"]["name"] for p in self.profiles if p["was_new"]],
            "used": [p["profile"]["name"] for p in self.profiles],
        }

    def write(self, paths: Paths) -> None:
        atomic_write(self.file(paths), _dump(self.to_json()))

    def remove(self, paths: Paths) -> None:
        _unlink(self.file(paths))

    @classmethod
    def load(cls, doc: dict[str, Any]) -> FixJournal:
        return cls(
            id=str(doc["id"]),
            path=str(doc["path"]),
            before_sha=str(doc["before_sha"]),
            after_sha=str(doc["after_sha"]),
            after_size=int(doc["after_size"]),
            mode=int(doc["mode"]),
            gid=int(doc["gid"]),
            claude_file=bool(doc["claude_file"]),
            edits=[SpanEdit.from_json(e) for e in doc["edits"]],
            profiles=list(doc["profiles"]),
            at=int(doc["at"]),
        )


@dataclass
class Record:
    file: Path
    doc: dict[str, Any]

    @property
    def path(self) -> Path:
        return Path(str(self.doc["path"]))

    @property
    def edits(self) -> list[SpanEdit]:
        return [SpanEdit.from_json(e) for e in self.doc["edits"]]

    @property
    def created(self) -> list[str]:
        return [str(n) for n in self.doc.get("created", [])]

    @property
    def used(self) -> list[str]:
        return [str(n) for n in self.doc.get("used", [])]


def records(paths: Paths) -> list[Record]:
    """Every undo record, oldest first."""
    folder = record_dir(paths)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(RECORD_SUFFIX))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        data = read_private(folder / name, MAX_FILE)
        if data is None:
            continue
        try:
            found.append(Record(folder / name, json.loads(data)))
        except ValueError:
            raise CcloginError(
                f"the scan-fix undo record {folder / name} is unreadable",
                "move it aside; it holds no secret (the keys are in their profiles)",
            ) from None
    return found


def _used_elsewhere(paths: Paths, name: str, but: str) -> bool:
    """Does an undo record other than `but` (an id) still need profile `name`?"""
    return any(name in r.used for r in records(paths) if r.doc.get("id") != but)


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    return base64.b64decode(str(text))


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# --- doing it -------------------------------------------------------------------------------


def _holds(blob: bytes | None, secret: Secret) -> bool:
    if blob is None:
        return False
    try:
        cred = load_credential(blob)
    except CcloginError:
        return False
    return any(s.reveal() == secret.reveal() for s in secrets_of(cred))


@dataclass
class _Blob:
    store: SecretStore
    profile: Profile
    blob: bytes
    new: bool  # this fix creates the profile


def _blobs(ctx: AppContext, store: SecretStore | None, plan: SpanPlan) -> list[_Blob]:
    existing = read_metadata(ctx.paths).profiles
    out: list[_Blob] = []
    for target in plan.targets:
        old = existing.get(target.profile.name)
        if old is None:
            if store is None:
                store = ctx.store_named(ctx.select_store().name)
            profile = target.profile._replace(backend=store.name, storage_class=store.storage_class)
            out.append(_Blob(store, profile, dump_credential(target.credential), True))
            continue
        # Reused, or made by an earlier file of this run: it must hold this secret.
        where = ctx.store_for(old)
        blob = where.get(secret_key(old.name))
        if blob is None or not _holds(blob, target.secret):
            raise CcloginError(
                f"profile {old.name!r} no longer holds the key found in {shown(plan.path)}; "
                "the file was left as it is",
                "run `cclogin scan --fix` again",
            )
        out.append(_Blob(where, old, blob, False))
    return out


def fix_file(ctx: AppContext, store: SecretStore | None, plan: SpanPlan) -> None:
    """Store the plan's secrets (new profiles in `store`), then scrub them from its file.
    On an error the journal is settled at once, and the error says how."""
    blobs = _blobs(ctx, store, plan)
    journal = FixJournal(
        id=random_ids.token_hex(6),
        path=str(plan.path),
        before_sha=sha256(plan.read.data),
        after_sha=sha256(plan.after),
        after_size=len(plan.after),
        mode=plan.read.mode,
        gid=plan.read.gid,
        claude_file=plan.claude_file,
        edits=plan.edits,
        profiles=[
            {"profile": b.profile.to_json(), "blob_sha": sha256(b.blob), "was_new": b.new}
            for b in blobs
        ],
    )
    journal.write(ctx.paths)
    crash_point("fix-journal-written")
    state = {"untouched": True}
    try:
        _store_all(ctx, blobs, journal)
        _scrub(ctx, plan, journal, state)
        for b in blobs:
            if b.store.get(secret_key(b.profile.name)) != b.blob:
                raise StoreCorrupt(
                    f"profile {b.profile.name!r} no longer reads back from {b.store.name}"
                )
    except CcloginError as exc:
        try:
            lines = settle_fix(ctx, journal, interrupted=False, untouched=state["untouched"])
        except CcloginError as again:
            lines = [again.message]
        exc.message = "; ".join([exc.message, *lines])
        raise
    journal.remove(ctx.paths)


def _store_all(ctx: AppContext, blobs: list[_Blob], journal: FixJournal) -> None:
    for b in blobs:
        if b.new:
            b.store.set(secret_key(b.profile.name), b.blob)
            if b.store.get(secret_key(b.profile.name)) != b.blob:
                raise StoreCorrupt(f"{b.store.name} returned something else than was stored")
    crash_point("fix-stored")
    _ensure_profiles(ctx, [b.profile for b in blobs if b.new])
    crash_point("fix-profile-written")
    _ensure_record(ctx.paths, journal)
    crash_point("fix-undo-written")


def _scrub(ctx: AppContext, plan: SpanPlan, journal: FixJournal, state: dict[str, bool]) -> None:
    """Replace the file, only if it is still exactly as planned; then read it back."""
    with _guard(ctx, plan.path, plan.claude_file):
        now = read_user_file(plan.path)
        if now is None or sha256(now.data) != journal.before_sha:
            raise FileChanged(f"{shown(plan.path)} changed while being fixed; it was left as it is")
        if now.nlink > 1:
            raise hard_linked(plan.path, now.nlink)
        state["untouched"] = False  # from here on the file may hold the new bytes
        replace_user_file(plan.path, plan.after, now.mode, now.gid)
        crash_point("fix-file-rewritten")
    again = read_user_file(plan.path)
    if again is None or sha256(again.data) != journal.after_sha:
        raise CcloginError(f"{shown(plan.path)} does not read back as written")


class FileChanged(CcloginError):
    default_hint = "run `cclogin scan --fix` again once nothing else writes the file"


def _ensure_profiles(ctx: AppContext, profiles: list[Profile]) -> None:
    meta = read_metadata(ctx.paths)
    if all(meta.profiles.get(p.name) == p for p in profiles):
        return
    with editing_metadata(ctx.paths) as meta:
        for profile in profiles:
            meta.put(profile)
            if meta.active is None:
                meta.active = profile.name


def _remove_record_temps(paths: Paths) -> None:
    """Half-written undo records of a killed run (no secret in them, only clutter)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(record_dir(paths)):
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                _unlink(Path(entry.path))


def _ensure_record(paths: Paths, journal: FixJournal) -> None:
    target = journal.record_file(paths)
    if not target.exists():
        atomic_write(target, _dump(journal.record()))


# --- settling a journal (the next command, or an error in the same run) --------------------------


def settle_path(ctx: AppContext, path: Path) -> list[str]:
    """Settle one leftover journal of ours (called by `recover.recover_all`)."""
    try:
        doc = json.loads(path.read_bytes())
        if doc.get("op") == "scan-undo":
            return settle_undo(ctx, doc, path)
        journal = FixJournal.load(doc)
    except (OSError, ValueError, TypeError, KeyError):
        raise CcloginError(
            f"the scan-fix journal {path} is unreadable",
            "move it aside and run `cclogin scan` again; no secret is in it",
        ) from None
    return settle_fix(ctx, journal, interrupted=True)


def settle_fix(
    ctx: AppContext, journal: FixJournal, *, interrupted: bool, untouched: bool = False
) -> list[str]:
    """Finish when every secret is in its store, else roll back; `untouched`: this run
    knows it never wrote the file (a changed file is then left and the fix undone)."""
    from .recover import ask_all

    path = Path(journal.path)
    what = "an interrupted fix of" if interrupted else "the fix of"
    profiles, held = ask_all(ctx, journal.profiles, f"{what} {shown(path)}", "cclogin scan --fix")
    remove_stale_temps(path)
    _remove_record_temps(ctx.paths)
    current = _digest_now(path)
    fixed = current == journal.after_sha or _grown_from(path, journal)
    lines: list[str] = []
    if held and (current == journal.before_sha or fixed or not untouched):
        created = [p for p, e in zip(profiles, journal.profiles, strict=True) if e["was_new"]]
        _ensure_profiles(ctx, created)
        _ensure_record(ctx.paths, journal)
        if current == journal.before_sha:
            _finish(ctx, path, journal)
            lines.append(f"finished {what} {shown(path)}: the plaintext is gone")
        elif fixed:
            lines.append(f"finished {what} {shown(path)}")
        else:
            # It changed after the fix may have written it: every key is safe in the
            # store, so nothing is removed; the scan says whether the file holds one.
            lines.append(
                f"{shown(path)} changed meanwhile and was left as it is; its keys are in "
                f"profile(s) {', '.join(repr(p.name) for p in profiles)}: run `cclogin scan` "
                "to see whether it still holds one"
            )
    elif fixed:
        # Scrubbed, but the store lost a secret since (deleted by hand?): nothing to
        # roll back to. The record stays, so the undo names what is missing.
        lines.append(
            f"warning: {shown(path)} was fixed, but the store no longer holds every key "
            f"taken from it ({', '.join(repr(p.name) for p in profiles)}); check them"
        )
    else:
        _drop_created(ctx, profiles, journal)
        _unlink(journal.record_file(ctx.paths))
        if current == journal.before_sha:
            lines.append(
                f"rolled back {what} {shown(path)}: the file is as it was; nothing was lost"
            )
        else:
            lines.append(
                f"rolled back {what} {shown(path)}: it changed meanwhile and was left as it is"
            )
    journal.remove(ctx.paths)
    return lines


def _grown_from(path: Path, journal: FixJournal) -> bool:
    """The file is the fixed one with lines added since (a shell appending history)."""
    try:
        now = read_user_file(path)
    except CcloginError:
        return False
    size = journal.after_size
    return now is not None and len(now.data) > size and sha256(now.data[:size]) == journal.after_sha


def _finish(ctx: AppContext, path: Path, journal: FixJournal) -> None:
    """Rewrite the file as planned, recomputed from the journal, if it is still as read."""
    with _guard(ctx, path, journal.claude_file):
        now = read_user_file(path)
        if now is None or sha256(now.data) != journal.before_sha or now.nlink > 1:
            return
        after = apply(now.data, journal.edits)
        if sha256(after) != journal.after_sha:
            raise CcloginError(f"{shown(path)}: the recomputed file does not match the journal")
        replace_user_file(path, after, now.mode, now.gid)


def _drop_created(ctx: AppContext, profiles: list[Profile], journal: FixJournal) -> None:
    """Profiles this fix created, unless another fix's record still needs them."""
    meta = read_metadata(ctx.paths)
    for profile, entry in zip(profiles, journal.profiles, strict=True):
        if not entry["was_new"] or _used_elsewhere(ctx.paths, profile.name, journal.id):
            continue
        try:
            blob = ctx.store_for(profile).get(secret_key(profile.name))
        except SecretNotFound:
            blob = None
        if blob is not None:
            if sha256(blob) != entry["blob_sha"]:
                continue  # another secret under that name now (someone logged in): kept
            ctx.store_for(profile).delete(secret_key(profile.name))
        listed = meta.profiles.get(profile.name)
        if listed is not None and listed.created_at == profile.created_at:
            with editing_metadata(ctx.paths) as edit:
                edit.remove(profile.name)


# --- undo -----------------------------------------------------------------------------------


def _secret_for(ctx: AppContext, hole: Hole, cache: dict[str, Credential]) -> bytes:
    """The secret a hole stands for, as the file wrote it, from its profile."""
    if hole.profile not in cache:
        profile = read_metadata(ctx.paths).profiles.get(hole.profile)
        if profile is None:
            raise CcloginError(
                f"profile {hole.profile!r} is gone, and with it the key the file held",
                "the file is left as the fix made it",
            )
        blob = ctx.store_for(profile).get(secret_key(profile.name))
        if blob is None:
            raise CcloginError(f"profile {hole.profile!r} holds no secret any more")
        cache[hole.profile] = load_credential(blob)
    cred = cache[hole.profile]
    if hole.fingerprint is None:  # a short value: the profile's own secret
        return written_form(primary_secret(cred).reveal().encode(), hole.form)
    for secret in secrets_of(cred):
        raw = secret.reveal().encode()
        if fingerprint(raw) == hole.fingerprint:
            return written_form(raw, hole.form)
    raise CcloginError(
        f"profile {hole.profile!r} no longer holds the key the file held (changed since?)"
    )


def undo_all(ctx: AppContext, say: Callable[[str], None], home: Path | None = None) -> int:
    """Every fixed file back as it was, newest fix first; the number that failed.
    `home`: shown as `~` in what is said."""
    failures = 0
    found = list(reversed(records(ctx.paths)))
    if not found:
        say("nothing to undo: `cclogin scan --fix` has not changed any file")
        return 0
    for record in found:
        try:
            say(_undo_one(ctx, record, home))
        except CcloginError as exc:
            failures += 1
            say(f"error: {exc.message} ({exc.hint})")
    return failures


def _undo_one(ctx: AppContext, record: Record, home: Path | None = None) -> str:
    path = record.path
    remove_stale_temps(path)
    current = read_user_file(path)
    if current is None:
        raise CcloginError(
            f"{shown(path)} is gone; not recreated (its keys stay in profile(s) "
            f"{', '.join(record.used)})",
            "put the file back, then run `cclogin scan --undo` again",
        )
    size = int(record.doc["after_size"])
    base, tail = current.data, b""
    if sha256(current.data) != record.doc["after_sha"]:
        if len(current.data) > size and sha256(current.data[:size]) == record.doc["after_sha"]:
            base, tail = current.data[:size], current.data[size:]  # appended to since
        else:
            raise CcloginError(
                f"{shown(path)} changed since the fix (not only added to); left as it is, "
                f"with its undo record (its keys stay in profile(s) {', '.join(record.used)})",
                "print a key with `cclogin token --profile NAME` to put it back by hand",
            )
    cache: dict[str, Credential] = {}
    restored = reverse(base, record.edits, lambda hole: _secret_for(ctx, hole, cache)) + tail
    drop = [n for n in record.created if not _used_elsewhere(ctx.paths, n, str(record.doc["id"]))]
    journal_file = ctx.paths.journal_dir / f"{UNDO_PREFIX}{record.doc['id']}{JOURNAL_SUFFIX}"
    doc = {
        "v": 1,
        "op": "scan-undo",
        "id": record.doc["id"],
        "record": str(record.file),
        "path": str(path),
        "restored_sha": sha256(restored),
        "current_sha": sha256(current.data),
        "drop": drop,
    }
    atomic_write(journal_file, _dump(doc))
    crash_point("fix-undo-journal-written")
    with _guard(ctx, path, bool(record.doc.get("claude_file"))):
        again = read_user_file(path)
        if again is None or sha256(again.data) != doc["current_sha"]:
            _unlink(journal_file)
            raise FileChanged(f"{shown(path)} changed while being put back; left as it is")
        replace_user_file(path, restored, again.mode, again.gid)
        crash_point("fix-undo-file-restored")
    check = read_user_file(path)
    if check is None or sha256(check.data) != doc["restored_sha"]:
        raise CcloginError(f"{shown(path)} does not read back as written; its record is kept")
    lines = _finish_undo(ctx, doc, journal_file)
    how = "exactly as it was" if not tail else "as it was, with what was added since kept"
    return f"wrote {shown(path, home)} back {how}" + ("; " + "; ".join(lines) if lines else "")


def _finish_undo(ctx: AppContext, doc: dict[str, Any], journal_file: Path) -> list[str]:
    lines = []
    for name in doc["drop"]:
        if _drop_profile(ctx, name):
            lines.append(f"removed profile {name!r}, which the fix had created")
    crash_point("fix-undo-profiles-removed")
    _unlink(Path(str(doc["record"])))
    _unlink(journal_file)
    return lines


def _drop_profile(ctx: AppContext, name: str) -> bool:
    meta = read_metadata(ctx.paths)
    profile = meta.profiles.get(name)
    if profile is None:
        return False
    ctx.store_for(profile).delete(secret_key(profile.name))
    for copy in known_copies(ctx, profile):
        _unlink(copy)
    with editing_metadata(ctx.paths) as edit:
        edit.remove(name)
    return True


def settle_undo(ctx: AppContext, doc: dict[str, Any], journal_file: Path) -> list[str]:
    """A killed undo: if the file was written back, finish (profiles, record)."""
    path = Path(str(doc["path"]))
    remove_stale_temps(path)
    current = _digest_now(path)
    if current == doc["restored_sha"]:
        lines = _finish_undo(ctx, doc, journal_file)
        return [*lines, f"finished an interrupted undo: {shown(path)} is back as it was"]
    _unlink(journal_file)
    return [f"rolled back an interrupted undo of {shown(path)}: it is still as the fix left it"]
