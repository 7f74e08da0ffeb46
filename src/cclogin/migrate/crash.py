"""Named crash points, so tests can SIGKILL a migration at every step.

`CCLOGIN_TEST_ONLY_CRASH_AT=<point>` kills the process at that point; with
`CCLOGIN_TEST_ONLY_PAUSE_AT=<point>` the process creates `<CCLOGIN_HOME>/paused-<point>`
and waits (at most a minute) until a test deletes it, to act like a concurrent writer;
`CCLOGIN_TEST_ONLY_PROGRESS=<file>` appends each point's name to that file as it is
passed, so a test can kill at an instant tied to progress, not to the machine's speed.
None of these has any effect unless set; nothing else reads them.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CRASH_ENV = "CCLOGIN_TEST_ONLY_CRASH_AT"
PAUSE_ENV = "CCLOGIN_TEST_ONLY_PAUSE_AT"
PROGRESS_ENV = "CCLOGIN_TEST_ONLY_PROGRESS"

# Every point, in the order a migration passes them (the kill test walks this list).
MIGRATE_POINTS = (
    "journal-written",  # intent recorded, nothing else changed
    "stored",  # secret in the store and read back, no metadata yet
    "profile-written",  # metadata names the profile
    "backup-written",  # 0600 copy of the source in the backup dir
    "claude-locks-taken",  # Claude Code's lock directories held
    "before-source-check",  # about to re-read the source under the locks
    "source-rewritten",  # plaintext gone from the source, locks still held
    "locks-released",
    "backup-removed",  # only the journal is left
)
UNDO_POINTS = (
    "undo-journal-written",
    "undo-source-restored",  # file written back, profile still there
    "undo-profile-removed",
)
RECOVER_POINTS = ("recover-started",)
# `cclogin scan --fix` (migrate/spanfix.py), per file, and its undo.
FIX_POINTS = (
    "fix-journal-written",  # intent recorded (no secret), nothing else changed
    "fix-stored",  # every new profile's secret in the store and read back
    "fix-profile-written",  # metadata names the new profiles
    "fix-undo-written",  # the undo record (no secret) is on disk
    "fix-file-rewritten",  # the plaintext is gone from the file, journal still there
)
FIX_UNDO_POINTS = (
    "fix-undo-journal-written",
    "fix-undo-file-restored",  # file written back, its profiles still there
    "fix-undo-profiles-removed",  # profiles the fix created are gone, record still there
)
ALL_POINTS = MIGRATE_POINTS + UNDO_POINTS + RECOVER_POINTS + FIX_POINTS + FIX_UNDO_POINTS
_paused: set[str] = set()


def crash_point(name: str) -> None:
    progress = os.environ.get(PROGRESS_ENV)
    if progress:
        with open(progress, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
    if os.environ.get(CRASH_ENV) == name:
        kill = getattr(signal, "SIGKILL", None)
        if kill is None:  # pragma: no cover - Windows: no SIGKILL, same effect
            os._exit(137)
        os.kill(os.getpid(), kill)
    if os.environ.get(PAUSE_ENV) == name and name not in _paused:
        _paused.add(name)  # once per process: a retry must not wait again
        _pause(name)


def _pause(name: str) -> None:
    home = os.environ.get("CCLOGIN_HOME")
    if not home:
        return
    marker = Path(home) / f"paused-{name}"
    marker.touch()
    deadline = time.monotonic() + 60
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
