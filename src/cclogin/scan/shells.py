"""Running shells that may write a key back into a history file the fix cleaned.

A shell reads its history file when it starts and keeps the list in memory; it writes
it back later: bash when it exits (the whole list, or with `histappend` the session's
lines; `history -a` at once), zsh at exit or after every command with
`INC_APPEND_HISTORY` / `SHARE_HISTORY` (and it rewrites the whole file from memory
when it trims it to `SAVEHIST`), fish after every command. So a key removed from the
file can come back from any shell that is still open. Linux only (`/proc`): the
processes named bash, zsh or fish of the same user whose `HOME` is the cleaned home
(or whose environment cannot be read), marking the ones this command runs under.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")
PROC = Path("/proc")
HOW_TO_FORGET = {
    "bash": (
        "run `history -c; history -r` in it (forget its list, read the cleaned file "
        "again), or `unset HISTFILE` before you close it"
    ),
    "zsh": (
        "run `unset HISTFILE` in it and close it (zsh would otherwise write its list "
        "back, at exit or when it trims the file)"
    ),
    "fish": (
        "if it typed the key, run `history delete --contains sk-ant-` in it (it asks "
        "which entries), or close it"
    ),
}
FORMAT_SHELL = {"bash": "bash", "zsh": "zsh", "zsh-extended": "zsh", "fish": "fish"}


@dataclass(frozen=True)
class Shell:
    pid: int
    name: str  # bash, zsh or fish
    ours: bool  # this command runs under it


def _ancestors() -> set[int]:
    found: set[int] = set()
    pid = os.getppid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            status = (PROC / str(pid) / "status").read_text()
        except OSError:
            break
        ppid = [line.split()[1] for line in status.splitlines() if line.startswith("PPid:")]
        pid = int(ppid[0]) if ppid else 0
    return found


def _home_of(pid: str) -> str | None:
    """HOME in a process's environment (as it was started); None if unreadable or unset."""
    try:
        data = (PROC / pid / "environ").read_bytes()
    except OSError:
        return None
    for item in data.split(b"\0"):
        if item.startswith(b"HOME="):
            return os.fsdecode(item[5:])
    return None


def running_shells(home: Path) -> list[Shell] | None:
    """The user's running bash, zsh and fish with this home; None without /proc."""
    if not (PROC / "self").exists():
        return None
    uid, me = os.getuid(), os.getpid()
    ours = _ancestors()
    real_home = os.path.realpath(home)
    found: list[Shell] = []
    try:
        pids = [p for p in os.listdir(PROC) if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            name = (PROC / pid / "comm").read_text().strip()
            if name not in SHELLS or int(pid) == me:
                continue
            status = (PROC / pid / "status").read_text()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        uids = fields.get("Uid", "").split()
        if not uids or int(uids[0]) != uid:
            continue
        their_home = _home_of(pid)
        if their_home is not None and os.path.realpath(their_home) != real_home:
            continue
        found.append(Shell(int(pid), name, int(pid) in ours))
    return sorted(found, key=lambda s: (s.name, s.pid))


def history_advice(formats: Iterable[str], shells: list[Shell] | None) -> list[str]:
    """What to tell the user after cleaning history files of these formats."""
    kinds = sorted({FORMAT_SHELL.get(f, "bash") for f in formats})
    lines = [
        "running shells keep their history in memory and write it back to the file, so "
        "a key removed from it can come back:"
    ]
    if shells is None:
        lines += [f"  in every open {kind}: {HOW_TO_FORGET[kind]}" for kind in kinds]
    else:
        relevant = [s for s in shells if s.name in kinds]
        if not relevant:
            lines = [
                "no other running "
                + " or ".join(kinds)
                + " of yours uses this home: a shell started from now on reads the cleaned "
                "history"
            ]
            return lines
        for kind in kinds:
            mine = [s for s in relevant if s.name == kind]
            if not mine:
                continue
            pids = ", ".join(
                str(s.pid) + (" (the one you ran this from)" if s.ours else "") for s in mine
            )
            lines.append(f"  {kind} (pid {pids}): {HOW_TO_FORGET[kind]}")
    lines.append("  then run `cclogin scan` again: it finds a key that came back")
    return lines
