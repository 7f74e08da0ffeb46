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
from .files import read_source, remove_file, replace_file
from .plan import Namer, plan_file, same_credential
from .scan import scan


def plaintext_copies(ctx: AppContext, cred: Credential, extra: list[Path]) -> list[Path]:
    """Known legacy files (and `extra`, e.g. the profile's source) holding `cred`."""
    return [
        item.path
        for item in scan(ctx.environ, extra)
        if any(same_credential(hit.cred, cred) for hit in item.detection.hits)
    ]


def remove_copies(ctx: AppContext, cred: Credential, extra: list[Path]) -> list[Path]:
    """Strip `cred` from every file that holds it; returns the files changed."""
    changed: list[Path] = []
    for item in scan(ctx.environ, extra):
        if item.read is None:
            continue
        hits = [h for h in item.detection.hits if same_credential(h.cred, cred)]
        if not hits:
            continue
        plan = plan_file(item.path, item.read, hits, Namer({}, None, True, set()))
        guard = (
            claude_locks(ctx.paths, ctx.environ, ctx.notify, files=[item.path])
            if plan.claude_file
            else contextlib.nullcontext()
        )
        with guard:
            current = read_source(item.path)
            if current is None or current.data != item.read.data:
                continue  # changed meanwhile: the re-scan after logout reports it
            if plan.delete:
                remove_file(item.path)
            else:
                replace_file(item.path, plan.after, item.read.mode)
        changed.append(item.path)
    return changed
