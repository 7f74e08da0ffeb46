"""`migrate --undo`: write each migrated file back exactly as it was, then drop the profile.

The bytes come from the undo records inside the stored blob. When the file is as the
migration left it, the edits are reversed exactly; when it changed since, the removed
members (JSON) or lines (.env) are put back into what is there now.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path
from typing import Any

from ..accounts.context import AppContext
from ..accounts.copies import known_copies
from ..accounts.profiles import editing_metadata, read_metadata
from ..errors import CcloginError, SecretNotFound, StoreError
from ..model import Profile, secret_key
from . import jsonedit
from .claude_locks import claude_locks
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
from .journal import Journal, migrate_lock
from .plan import SETTINGS_SHAPE, Edit, origins_of
from .recover import CouldNotAsk, recover_all
from .splice import Spliced


class UndoRefused(CcloginError):
    default_hint = "move the current file aside (it may hold a newer login) and run the undo again"


def undo(ctx: AppContext, name: str | None, force: bool = False) -> list[str]:
    lines: list[str] = []
    with migrate_lock(ctx.paths):
        lines += recover_all(ctx)
        meta = read_metadata(ctx.paths)
        profiles = (
            [meta.get(name)]
            if name
            else sorted((p for p in meta.profiles.values() if p.source), key=lambda p: p.name)
        )
        pairs: list[tuple[dict[str, Any], Profile]] = []
        for profile in profiles:
            origins = origins_of(ctx.store_for(profile).get(secret_key(profile.name)))
            if not origins:
                lines.append(
                    f"profile {profile.name!r} was not migrated from a file; nothing to undo"
                )
            pairs += [(origin, profile) for origin in origins]
        pairs.sort(key=lambda pair: int(pair[0].get("at", 0)), reverse=True)
        journals: dict[str, list[Journal]] = {}
        for origin, profile in pairs:
            if origin.get("shape") == SETTINGS_SHAPE:  # a setting cclogin wrote (apiKeyHelper)
                lines.append(restore_setting(origin)[1])
                journals.setdefault(profile.name, [])
                continue
            line, journal = _restore(ctx, profile, origin, force)
            lines.append(line)
            journals.setdefault(profile.name, []).append(journal)
        for profile in profiles:
            if profile.name not in journals:
                continue
            _drop_profile(ctx, profile)
            for journal in journals[profile.name]:
                journal.remove(ctx.paths)
            lines.append(f"removed profile {profile.name!r} and its stored secret")
            crash_point("undo-profile-removed")
        if not pairs:
            lines.append("nothing to undo: no migrated profile")
    return lines


def _restore(
    ctx: AppContext, profile: Profile, origin: dict[str, Any], force: bool
) -> tuple[str, Journal]:
    path = Path(str(origin["path"]))
    edits = [Edit.from_json(e) for e in origin.get("edits", [])]
    json_file = origin.get("shape") == "json"
    guard = (
        claude_locks(ctx.paths, ctx.environ, ctx.notify, files=[path])
        if json_file
        else contextlib.nullcontext()
    )
    with guard:
        current = read_source(path, source_limit(ctx.environ))
        data = current.data if current else b""
        if (current.digest if current else sha256(b"")) == origin.get("after_sha256"):
            restored = _reverse(data, edits)
            how = "exactly as it was"
        else:
            restored = _merge(path, current is not None, data, origin, edits, force)
            how = "with its credential put back into the current content"
        restored_sha = restored.digest()
        recorded = origin.get("mode")
        if how == "exactly as it was" and isinstance(recorded, int):
            mode = recorded  # migrate may have made it 0600 (secrets kept in it)
        else:
            mode = current.mode if current else 0o600
        journal = Journal(
            id=secrets.token_hex(6),
            op="undo",
            path=str(path),
            source_sha=restored_sha,
            after_sha=current.digest if current else sha256(b""),
            delete=False,
            mode=mode,
            backup=None,
            keep_backup=False,
            claude_file=json_file,
            profiles=[{"profile": profile.to_json()}],
        )
        journal.write(ctx.paths)
        crash_point("undo-journal-written")
        replace_file(path, restored.pieces, mode)
        crash_point("undo-source-restored")
        again = read_digest(path)  # in blocks: no second copy of a large file
        if again is None or again.digest != restored_sha:
            raise CcloginError(f"{path} does not read back as written; the profile is kept")
    return f"wrote {path} back {how}", journal


def _reverse(data: bytes, edits: list[Edit]) -> Spliced:
    """The edits undone, newest first; views into `data`, not a copy of it."""
    restored = Spliced(data)
    for edit in reversed(edits):
        if restored.slice(edit.offset, edit.offset + len(edit.new)) != edit.new:
            raise CcloginError("the undo record does not fit the file; the profile is kept")
        try:
            restored.replace(edit.offset, len(edit.new), edit.old)
        except IndexError:
            raise CcloginError(
                "the undo record does not fit the file; the profile is kept"
            ) from None
    return restored


def _merge(
    path: Path, exists: bool, data: bytes, origin: dict[str, Any], edits: list[Edit], force: bool
) -> Spliced:
    if origin.get("shape") == "dotenv":
        text = data.decode("utf-8", "replace")
        for edit in edits:
            new, old = edit.new.decode(), edit.old.decode()
            if new in text:
                text = text.replace(new, old, 1)
            elif old not in text:  # not already back (an undo killed after writing it)
                text += ("" if text.endswith("\n") or not text else "\n") + old
        return Spliced(text.encode())
    members = [str(m) for m in origin.get("members", [])]
    within = tuple(str(k) for k in origin.get("within", []))  # e.g. ("env",) in settings.json
    if not exists:
        body = ",\n  ".join(members)
        for key in reversed(within):
            body = f"{json.dumps(key)}: {{{body}}}"
        return Spliced(("{\n  " + body + "\n}\n").encode())
    try:
        index = jsonedit.parse(data)  # once, however large: Claude Code rewrote it since
    except ValueError:
        index = None
    if index is None or index.members is None:
        raise UndoRefused(f"{path} is no longer a JSON object; not overwritten")
    present = jsonedit.members(data, index, within) or []
    keys = {m.key for m in present}
    wanted = {m.split('"', 2)[1] for m in members}
    if keys & wanted and not force:
        raise UndoRefused(
            f"{path} holds {', '.join(sorted(keys & wanted))} again (written since the migration); not overwritten"
        )
    if keys & wanted:  # --force: only a whole file can be put back as it was
        if edits and edits[-1].offset == 0 and edits[-1].new == b"":
            return _reverse(b"", edits)
        raise UndoRefused(f"{path} holds the same keys again; cannot merge")
    span = jsonedit.insert_span(data, index, [m.encode() for m in members], within)
    if span is None:
        raise UndoRefused(f"{path} could not be merged into")
    merged = Spliced(data)
    merged.replace(span[0], 0, span[1])
    return merged


def _drop_profile(ctx: AppContext, profile: Profile) -> None:
    store = ctx.store_for(profile)
    store.delete(secret_key(profile.name))
    for copy in known_copies(ctx, profile):
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()
    with editing_metadata(ctx.paths) as meta:
        meta.remove(profile.name)


def settle_undo(ctx: AppContext, journal: Journal) -> list[str]:
    """A killed undo: if the file was written back, finish dropping the profile."""
    path = Path(journal.path)
    remove_stale_temps(path)
    profile = Profile.from_json(journal.profiles[0]["profile"])
    current = read_digest(path)
    if current is not None and current.digest == journal.source_sha:
        lines: list[str] = []
        if profile.name in read_metadata(ctx.paths).profiles:
            try:  # the profile's record is needed (settings to put back) and then deleted
                ctx.store_for(profile).get(secret_key(profile.name))
            except SecretNotFound:
                pass
            except StoreError as exc:
                raise CouldNotAsk(
                    f"an interrupted undo of {path} will be finished later: the store "
                    f"could not be asked ({exc.message})"
                ) from None
            lines += _settings_back(ctx, profile)
            _drop_profile(ctx, profile)
        journal.remove(ctx.paths)
        return [
            *lines,
            f"finished an interrupted undo: {path} is back, profile {profile.name!r} removed",
        ]
    journal.remove(ctx.paths)
    return [f"rolled back an interrupted undo of {path}: profile {profile.name!r} is kept"]


def restore_setting(origin: dict[str, Any]) -> tuple[bool, str]:
    """Put a setting cclogin wrote (a `settings` origin) back as it was before.

    Exactly, when the file is as cclogin left it; else only the member, and only while
    it still holds what cclogin wrote (someone who changed it since meant it). A file
    cclogin created goes again. Returns (changed?, one line for people).
    """
    path = Path(str(origin["path"]))
    key = str(origin.get("key", "apiKeyHelper"))
    remove_stale_temps(path)
    current = read_source(path)
    if current is None:
        return False, f"{path} is gone; {key} is not there to put back"
    data = current.data
    if current.digest == origin.get("after_sha256"):
        restored = _reverse(data, [Edit.from_json(e) for e in origin.get("edits", [])])
        if origin.get("created") and not len(restored):
            remove_file(path)
            return True, f"removed {path} again (cclogin had created it for {key})"
        how = "exactly as it was"
    else:
        try:
            index = jsonedit.parse(data, (key,))
            ours = key in index.values and index.values[key] == json.loads(
                str(origin.get("written"))
            )
        except ValueError:
            ours = False
        if not ours:
            return False, f"{key} in {path} was changed since the migration; left as it is"
        restored = Spliced(data)
        before = origin.get("before")
        if before is None:
            found = list(index.members or ())
            member = next(m for m in reversed(found) if m.key == key)
            start, end = jsonedit.removal_span(found, member)
            restored.replace(start, end - start, b"")
        else:
            wrapped = b"{" + str(before).encode() + b"}"
            try:
                value = jsonedit.value_bytes(wrapped, jsonedit.parse(wrapped), key)
            except ValueError:
                value = None
            span = None if value is None else jsonedit.upsert_span(data, index, key, value)
            if span is None:
                raise UndoRefused(f"{key} in {path} could not be put back; the profile is kept")
            restored.replace(span[0], span[1] - span[0], span[2])
        how = "as it was (the rest of the file as it is now)"
    replace_file(path, restored.pieces, current.mode)
    what = "removed" if origin.get("before") is None else "put back"
    return True, f"wrote {path} back {how} ({key} {what})"


def _settings_back(ctx: AppContext, profile: Profile) -> list[str]:
    """An interrupted undo: settings the profile's records hold go back before it goes."""
    try:
        origins = origins_of(ctx.store_for(profile).get(secret_key(profile.name)))
    except CcloginError:
        return []
    lines: list[str] = []
    for origin in origins:
        if origin.get("shape") == SETTINGS_SHAPE:
            try:
                changed, line = restore_setting(origin)
            except CcloginError as exc:
                changed, line = True, f"warning: {exc.message}"
            if changed:
                lines.append(line)
    return lines
