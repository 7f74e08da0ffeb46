"""Is a killed `migrate` waiting to be settled? Asked by every command, `token` included,
so it imports almost nothing (no dataclasses, no json): one listdir."""

from __future__ import annotations

import os

from ..paths import Paths

JOURNAL_SUFFIX = ".journal.json"
LOCKS_RECORD = "claude-locks.json"


def has_leftovers(paths: Paths) -> bool:
    """One listdir of a folder that is usually absent."""
    try:
        return any(
            n.endswith(JOURNAL_SUFFIX) or n == LOCKS_RECORD for n in os.listdir(paths.journal_dir)
        )
    except OSError:
        return False
