"""`exec`: run a command with the credential in its environment, and only there.

The secret goes into the child's environment, never its argv. cclogin's own unlock
variables are removed from it (aws-vault leaked its passphrase variable to every
child), and so are credential variables that would compete with the one we set.
Claude Code gets its credential the way it handles best (claude_handover.py).
On POSIX the child replaces cclogin, so its exit status and signals are its own. On
Linux, where the session keyring holds the unlock cache, the child starts in a session
keyring of its own (store/unlock_cache.py `isolate`): it cannot read the cached data key.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import CcloginError, InvalidInput, UsageError
from ..store.passphrase import VARIABLE_PREFIX
from .context import AppContext
from .token import VARIABLE_BY_KIND, resolve_secret, resolve_stored

STRIPPED_PREFIXES = (VARIABLE_PREFIX,)  # the one spelling, shared with the BROWSER child
COMPETING = frozenset(VARIABLE_BY_KIND.values())
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _base_environment(ctx: AppContext) -> dict[str, str]:
    return {k: v for k, v in ctx.environ.items() if not k.startswith(STRIPPED_PREFIXES)}


def child_environment(
    ctx: AppContext, explicit: str | None, env_name: str | None
) -> dict[str, str]:
    env = _base_environment(ctx)
    if env_name is not None:
        # Another CLI's variable: the stored profile, whatever ANTHROPIC_API_KEY says.
        if not _ENV_NAME.fullmatch(env_name):
            raise InvalidInput(f"{env_name[:40]!r} is not a valid environment variable name")
        env[env_name] = resolve_stored(ctx, explicit).secret.reveal()
        return env
    resolved = resolve_secret(ctx, explicit)
    if resolved.from_env:
        return env  # ANTHROPIC_API_KEY is already in the environment and wins
    for name in COMPETING:
        env.pop(name, None)
    env[resolved.variable] = resolved.secret.reveal()
    if resolved.base_url:
        env["ANTHROPIC_BASE_URL"] = resolved.base_url  # else the caller's gateway stays
    return env


def prepare(
    ctx: AppContext,
    explicit: str | None,
    env_name: str | None,
    command: Sequence[str],
    env_files: Sequence[Path] = (),
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment `exec` runs: Claude Code's hand-over, or plain variables.

    `env_files` (and any `cclogin://` reference cclogin was started with) are resolved
    first (envrefs.py), and exec then works as if they had been exported in its shell.
    """
    if not command:
        raise UsageError("no command given", "usage: cclogin exec -- COMMAND [ARGS...]")
    from ..claude_handover import claude_program
    from .envrefs import with_env_files

    ctx = with_env_files(ctx, env_files)

    program = claude_program(command, ctx.environ.get("PATH")) if env_name is None else None
    if program is None:
        return list(command), child_environment(ctx, explicit, env_name)
    from ..claude_handover import hand_over, helper_pointers, helper_timing, settings_files
    from ..migrate.locations import claude_config_dir

    resolved = resolve_secret(ctx, explicit, helper_timing(ctx.environ, None)[1])
    if resolved.profile is None:
        ctx.debug("Claude Code takes ANTHROPIC_API_KEY from the environment as it is")
        return list(command), _base_environment(ctx)
    profile = resolved.profile
    # exec strips CCLOGIN_PASSPHRASE*; the helper gets the pointers, never a value.
    pointers = helper_pointers(ctx.environ)
    passphrase_source = any(n.startswith("CCLOGIN_PASSPHRASE") for n in pointers)
    plan = hand_over(
        command,
        _base_environment(ctx),
        kind=profile.kind,
        profile=profile.name,
        secret=resolved.secret.reveal(),
        base_url=resolved.base_url,
        settings_files=settings_files(ctx.environ, Path.cwd(), claude_config_dir(ctx.environ)),
        helper_pointers=pointers,
        helper_usable=profile.storage_class != "encrypted-file" or passphrase_source,
        lifetime=None if resolved.expires_at is None else resolved.expires_at - time.time(),
    )
    ctx.debug(f"handing profile {profile.name!r} ({profile.kind}) to Claude Code at {program}")
    if profile.kind == "claude_login" and profile.expires_at is not None:
        from .status import time_left

        ctx.notify(
            f"cclogin: note: this Claude login expires in {time_left(profile.expires_at)}; "
            "cclogin never refreshes it, so Claude Code then asks for a new login "
            "(`cclogin login --claude` stores a token that lasts a year)"
        )
    for note in plan.notes:
        ctx.notify(f"cclogin: note: {note}")
    return plan.argv, plan.env


def run(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Replace this process with `command` (POSIX), or run it and return its status."""
    if not command:
        raise UsageError("no command given", "usage: cclogin exec -- COMMAND [ARGS...]")
    program = shutil.which(command[0], path=env.get("PATH"))
    if program is None:
        raise CcloginError(
            f"command not found: {command[0][:80]}", "check the command name and PATH"
        )
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform.startswith("linux"):
        from ..store.unlock_cache import isolate

        isolate()  # the child gets a session keyring without the unlock cache
    if os.name == "posix":
        try:
            os.execve(program, list(command), dict(env))  # noqa: S606 - argv list, no shell
        except OSError as exc:
            raise CcloginError(f"cannot run {command[0][:80]}: {exc.strerror}") from None
    # Windows has no exec: run the child, pass Ctrl-C to it, and return its status.
    proc = subprocess.Popen(list(command), env=dict(env))  # pragma: no cover
    while True:  # pragma: no cover
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue
