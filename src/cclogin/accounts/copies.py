"""Copies of a profile's secret outside its store that cclogin knows of.

Migration backups (kept with `--keep-backup`) live in the backup dir named after the
profile; logout removes them with the secret.
"""

from __future__ import annotations

from pathlib import Path

from ..model import Profile
from .context import AppContext


def known_copies(ctx: AppContext, profile: Profile) -> list[Path]:
    backup_dir = ctx.paths.backup_dir
    if not backup_dir.is_dir():
        return []
    return sorted(
        p
        for p in backup_dir.iterdir()
        if p.name == profile.name or p.name.startswith(f"{profile.name}.")
    )
