"""Claude Code's own lock directories, taken while cclogin touches its files.

Claude Code serialises its token refresh with mkdir-based locks
(`<config>/.oauth_refresh.lock`, `~/.claude.lock`): create, hold, remove. We do the
same, wait a bounded time when one is present, and say so. A record in the journal dir
names the directories we hold, so a run killed while holding them lets the next run
remove exactly those (same inode) rather than leave Claude Code waiting.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ..errors import CcloginError
from ..fsio import atomic_write
from ..paths import Paths
from .crash import crash_point
from .locations import claude_lock_dirs
from .pending import LOCKS_RECORD

WAIT_ENV = "CCLOGIN_CLAUDE_LOCK_WAIT"
DEFAULT_WAIT = 10.0  # seconds; Claude Code holds these for one token refresh
STALE_AFTER = 60.0  # a lock untouched this long has no live holder (Claude Code: 10 s)


class ClaudeBusy(CcloginError):
    default_hint = "close Claude Code (or wait for it to finish) and run `cclogin migrate` again"


def _record(paths: Paths) -> Path:
    return paths.journal_dir / LOCKS_RECORD


@contextlib.contextmanager
def claude_locks(
    paths: Paths, environ: Mapping[str, str], notify: Callable[[str], None]
) -> Iterator[None]:
    wait = _wait_seconds(environ)
    held: list[dict[str, object]] = []
    try:
        for lock in claude_lock_dirs(environ):
            if not lock.parent.is_dir():
                continue  # no Claude Code config here: nothing of its to guard
            _write_record(paths, [*held, {"path": str(lock)}])
            _acquire(lock, wait, notify)
            st = os.lstat(lock)
            held.append({"path": str(lock), "ino": st.st_ino, "dev": st.st_dev})
            _write_record(paths, held)
        crash_point("claude-locks-taken")
        yield
    finally:
        for entry in reversed(held):
            _release(Path(str(entry["path"])), entry)
        with contextlib.suppress(FileNotFoundError):
            _record(paths).unlink()


def _wait_seconds(environ: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(environ.get(WAIT_ENV, DEFAULT_WAIT)))
    except ValueError:
        return DEFAULT_WAIT


def _acquire(lock: Path, wait: float, notify: Callable[[str], None]) -> None:
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            os.mkdir(lock, 0o700)
            return
        except FileExistsError:
            pass
        except OSError as exc:
            raise CcloginError(
                f"cannot take Claude Code's lock {lock}: {exc.strerror or exc}",
                f"make {lock.parent} writable and run `cclogin migrate` again",
            ) from None
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.lstat(lock).st_mtime > STALE_AFTER:
                notify(
                    f"cclogin: note: removing stale Claude Code lock {lock} (untouched for over a minute)"
                )
                with contextlib.suppress(OSError):
                    os.rmdir(lock)
                continue
        if not told:
            notify(f"cclogin: note: Claude Code holds {lock}; waiting up to {wait:g} s for it")
            told = True
        if time.monotonic() >= deadline:
            raise ClaudeBusy(
                f"Claude Code still holds its lock {lock} after {wait:g} s; nothing was removed"
            )
        time.sleep(0.05)


def _release(lock: Path, entry: Mapping[str, object]) -> None:
    with contextlib.suppress(OSError):
        st = os.lstat(lock)
        if st.st_ino == entry.get("ino") and st.st_dev == entry.get("dev"):
            os.rmdir(lock)


def _write_record(paths: Paths, held: list[dict[str, object]]) -> None:
    atomic_write(_record(paths), json.dumps({"pid": os.getpid(), "held": held}).encode())


def release_leftover_locks(paths: Paths, notify: Callable[[str], None]) -> None:
    """After a kill: remove the lock directories a dead cclogin run left behind.

    Called only under the migrate lock, so no live cclogin holds them. A directory
    recorded without its inode (killed between mkdir and the record) counts as ours
    if it was created no earlier than the record.
    """
    record = _record(paths)
    try:
        doc = json.loads(record.read_bytes())
        written = record.stat().st_mtime
    except (OSError, ValueError):
        return
    for entry in doc.get("held", []):
        lock = Path(str(entry.get("path")))
        try:
            st = os.lstat(lock)
        except OSError:
            continue
        ours = (
            st.st_ino == entry.get("ino")
            if "ino" in entry
            else written - 1.0 <= st.st_mtime <= written + 5.0
        )
        if ours:
            with contextlib.suppress(OSError):
                os.rmdir(lock)
                notify(f"cclogin: note: removed Claude Code lock {lock} left by an interrupted run")
    with contextlib.suppress(FileNotFoundError):
        record.unlink()
