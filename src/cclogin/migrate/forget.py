"""Logout's half of migration: remove plaintext copies of a secret being logged out.

A plaintext copy can come back after `migrate` (Claude Code writes its file again,
someone restores a backup). Logout finds every known location holding the *same*
credential and removes just that credential from it, as `migrate` would (only the
secret member of `~/.claude.json`, the `.env` line replaced by a comment), under
Claude Code's own locks. Nothing is kept for undo: the user asked for it to be gone.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..accounts.context import AppContext
from ..model import Credential
from .claude_locks import claude_locks
from .files import read_digest, remove_file, replace_file, source_limit
from .plan import Namer, plan_file, same_credential
from .scan import Scanned, loaded, scan
from .sources import kept_lines


def plaintext_copies(ctx: AppContext, cred: Credential, extra: list[Path]) -> list[Path]:
    """Known legacy files (and `extra`, e.g. the profile's source) holding `cred`."""
    return [
        item.path
        for item in scan(ctx.environ, extra)
        if any(same_credential(hit.cred, cred) for hit in item.detection.hits)
    ]


def remove_copies(ctx: AppContext, cred: Credential, extra: list[Path]) -> list[Path]:
    """Strip `cred` from every file that holds it; returns the files changed.

    Also says (once per file and process) what a sweep cannot remove: Claude Code's
    other secrets, which stay in its credentials file, and abandoned temp files of a
    killed Claude Code write that do not parse (only deleting them helps).
    """
    changed: list[Path] = []
    for scanned in scan(ctx.environ, extra):
        _say_left(ctx, scanned)
        if scanned.read is not None and _strip(ctx, scanned, cred):
            changed.append(scanned.path)
    return changed


def _strip(ctx: AppContext, scanned: Scanned, cred: Credential) -> bool:
    """Remove `cred` from one scanned file; whether it was removed. (A function of its
    own so that a large file's bytes are let go before the next file's are read.)"""
    if not any(same_credential(h.cred, cred) for h in scanned.detection.hits):
        return False
    item = loaded(scanned, source_limit(ctx.environ))  # a large file's bytes again
    hits = [h for h in item.detection.hits if same_credential(h.cred, cred)]
    if item.read is None or not hits or item.read.nlink > 1:
        return False  # another name would keep it: logout's re-scan reports the file
    namer = Namer({}, None, True, set())
    plan = plan_file(item.path, item.read, hits, namer, index=item.detection.index)
    guard = (
        claude_locks(ctx.paths, ctx.environ, ctx.notify, files=[item.path])
        if plan.claude_file
        else contextlib.nullcontext()
    )
    with guard:
        current = read_digest(item.path)
        if current is None or current.digest != item.read.digest or current.nlink > 1:
            return False  # changed meanwhile: the re-scan after logout reports it
        if plan.delete:
            remove_file(item.path)
        else:
            replace_file(item.path, plan.after.pieces, plan.mode)
    return True


_SAID: set[str] = set()  # logout --all sweeps once per profile; say each thing once


def _say_left(ctx: AppContext, item: Scanned) -> None:
    lines = [f"cclogin: kept: {line}" for line in kept_lines(item.path, item.detection.kept)]
    if item.abandoned_temp:
        lines.append(f"cclogin: warning: {item.detection.problem} ({item.detection.hint})")
    for line in lines:
        if line not in _SAID:
            _SAID.add(line)
            ctx.notify(line)
