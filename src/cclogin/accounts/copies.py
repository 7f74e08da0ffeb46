"""Copies of a profile's secret outside its store that cclogin knows of.

Migration backups (`<profile>.<12 hex>.bak`, kept with `--keep-backup` or left by an
interrupted run) live in the backup dir, and so may temp files of a killed backup
write; logout removes them with the secret. Names are matched exactly, so logging out
`claude` never touches `claude-api-key`'s backups.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..fsio import TEMP_SUFFIX
from ..model import Profile
from .context import AppContext


def known_copies(ctx: AppContext, profile: Profile) -> list[Path]:
    backup_dir = ctx.paths.backup_dir
    if not backup_dir.is_dir():
        return []
    name = re.escape(profile.name)
    backup = re.compile(rf"{name}(?:\.[0-9a-f]{{12}}\.bak)?")
    temp = re.compile(rf"\.{name}\.[0-9a-f]{{12}}\.bak\.[0-9a-f]+{re.escape(TEMP_SUFFIX)}")
    return sorted(
        p for p in backup_dir.iterdir() if backup.fullmatch(p.name) or temp.fullmatch(p.name)
    )
