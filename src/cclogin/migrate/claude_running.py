"""Is a Claude Code session running on the files migrate is about to change?

A running session re-reads `.credentials.json` when it changes (CLAUDE-CODE.md):
migrating its login logs it out at its next prompt, and `/login` there writes a new
plaintext file. So `migrate` looks first.

Linux only: walk `/proc`, keep the processes of our own uid whose executable or
`argv[0]` is Claude Code (basename `claude`; or a node/bun running
`@anthropic-ai/claude-code` or a script named `claude`), and read each one's
`/proc/PID/environ` for `CLAUDE_CONFIG_DIR`, `CLAUDE_SECURESTORAGE_CONFIG_DIR` and
`HOME`, which decide the files it uses. A process whose details cannot be read is
skipped. `environ` is the environment the process started with: a variable it changed
later is not seen. Elsewhere (macOS, Windows) there is no `/proc`: [] and no check.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ..errors import CcloginError
from .locations import claude_config_dir, claude_credentials_dir, claude_global_config

Session = tuple[int, str]  # (pid, short description: program and config dir, no argv)
_INTERPRETERS = ("node", "nodejs", "bun")
_MAX_PROC_READ = 1 << 20


class ClaudeRunning(CcloginError):
    default_hint = (
        "quit that Claude Code session and run `cclogin migrate` again, or pass "
        "--even-if-claude-running and restart it with `cclogin exec -- claude` (not /login)"
    )


def running_claude(
    environ: Mapping[str, str], files: Iterable[Path] | None = None, proc: Path = Path("/proc")
) -> list[Session]:
    """Claude Code processes of this user using the config dir `environ` names, or any
    of `files` when given; [] where there is no /proc."""
    if not sys.platform.startswith("linux") or not proc.is_dir():
        return []
    wanted = None if files is None else [_norm(Path(f)) for f in files]
    ours = _dirs(environ)
    found: list[Session] = []
    uid, me = os.getuid(), os.getpid()
    try:
        entries = [e.name for e in os.scandir(proc) if e.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        pid = int(name)
        if pid == me:
            continue
        try:
            if os.stat(proc / name).st_uid != uid:
                continue  # another user's: its environment is not ours to read
            argv = _read(proc / name / "cmdline").split(b"\0")
            try:
                exe = os.readlink(proc / name / "exe").removesuffix(" (deleted)")
            except OSError:
                exe = ""
            program = _claude_program(exe, [a.decode("utf-8", "replace") for a in argv if a])
            if program is None:
                continue
            env = _environ(_read(proc / name / "environ"))
        except OSError:
            continue
        if wanted is None:
            if not ours & _dirs(env):
                continue
        elif not any(_uses(env, f) for f in wanted):
            continue
        found.append((pid, f"{program}, config dir {claude_config_dir(env)}"))
    return sorted(found)


def _read(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(_MAX_PROC_READ)


def _claude_program(exe: str, argv: list[str]) -> str | None:
    """The program's name if this is Claude Code (`claude`, `node .../cli.js`), else None."""
    names = {os.path.basename(exe), os.path.basename(argv[0]) if argv else ""}
    if "claude" in names:
        return "claude"
    if not any(n.startswith(_INTERPRETERS) for n in names):
        return None
    script = next((a for a in argv[1:] if not a.startswith("-")), "")
    if "@anthropic-ai/claude-code" in script or os.path.basename(script) == "claude":
        return f"{os.path.basename(argv[0]) or 'node'} {os.path.basename(script)}"
    return None


def _environ(raw: bytes) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key in (b"HOME", b"CLAUDE_CONFIG_DIR", b"CLAUDE_SECURESTORAGE_CONFIG_DIR"):
            env[key.decode("utf-8", "replace")] = os.fsdecode(value)
    if "HOME" not in env:  # user_home() would fall back on *our* HOME: use the account's
        import pwd

        with contextlib.suppress(KeyError):
            env["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    return env


def _norm(path: Path) -> Path:
    path = Path(os.path.abspath(path.expanduser()))
    return Path(os.path.realpath(path.parent)) / path.name


def _dirs(env: Mapping[str, str]) -> set[tuple[str, Path]]:
    return {
        ("credentials", _norm(claude_credentials_dir(env) / "x").parent),
        ("config", _norm(claude_global_config(env))),
    }


def _uses(env: Mapping[str, str], file: Path) -> bool:
    """Does a Claude Code with this environment read or write `file`?"""
    cred = _norm(claude_credentials_dir(env) / ".credentials.json")
    config = _norm(claude_global_config(env))
    config_dir = _norm(claude_config_dir(env) / "x").parent
    if file in (cred, config) or file.parent in (config_dir, config_dir / "backups"):
        return True
    if file.parent == cred.parent and file.name.startswith(".credentials.json"):
        return True
    return file.parent == config.parent and file.name.startswith(".claude.json")


def describe(sessions: list[Session]) -> str:
    if len(sessions) == 1:
        pid, what = sessions[0]
        return f"a running Claude Code session (pid {pid}: {what}) uses these files"
    pids = ", ".join(str(pid) for pid, _what in sessions)
    return f"running Claude Code sessions (pids {pids}) use these files"


def warning(sessions: list[Session]) -> str:
    return (
        f"{describe(sessions)}; migrating logs it out at its next prompt, and /login there "
        "writes a new plaintext file"
    )


def check_running(
    sessions: list[Session],
    *,
    dry_run: bool,
    allowed: bool,
    confirm: Callable[[str], bool] | None,
    say: Callable[[str], None],
) -> None:
    """Decide what a running session means for this run; raises ClaudeRunning to stop.

    Dry run: say so. Allowed (--even-if-claude-running): say so and go on. On a terminal
    (`confirm`): warn and ask, default no. Otherwise refuse before any file is touched.
    """
    if not sessions:
        return
    if dry_run or allowed:
        say(f"warning: {warning(sessions)}")
        return
    if confirm is not None:
        if confirm(f"warning: {warning(sessions)}. Migrate anyway?"):
            return
        raise ClaudeRunning("migration cancelled; nothing was changed")
    raise ClaudeRunning(
        f"{describe(sessions)}: migrating would log it out at its next prompt; nothing was changed"
    )
