"""`exec`: run a command with the credential in its environment, and only there.

The secret goes into the child's environment, never its argv. cclogin's own unlock
variables are removed from it (aws-vault leaked its passphrase variable to every
child), and so are credential variables that would compete with the one we set.
On POSIX the child replaces cclogin, so its exit status and signals are its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence

from ..errors import CcloginError, InvalidInput, UsageError
from .context import AppContext
from .token import VARIABLE_BY_KIND, resolve_secret, resolve_stored

STRIPPED_PREFIXES = ("CCLOGIN_PASSPHRASE",)
COMPETING = frozenset({*VARIABLE_BY_KIND.values(), "ANTHROPIC_BASE_URL"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def child_environment(
    ctx: AppContext, explicit: str | None, env_name: str | None
) -> dict[str, str]:
    env = {k: v for k, v in ctx.environ.items() if not k.startswith(STRIPPED_PREFIXES)}
    if env_name is not None:
        # Another CLI's variable: the stored profile, whatever ANTHROPIC_API_KEY says.
        if not _ENV_NAME.match(env_name):
            raise InvalidInput(f"{env_name[:40]!r} is not a valid environment variable name")
        env[env_name] = resolve_stored(ctx, explicit).secret.reveal()
        return env
    resolved = resolve_secret(ctx, explicit)
    if resolved.from_env:
        return env  # ANTHROPIC_API_KEY is already in the environment and wins
    for name in COMPETING:
        env.pop(name, None)
    env[resolved.variable] = resolved.secret.reveal()
    if resolved.base_url and resolved.variable == "ANTHROPIC_AUTH_TOKEN":
        env["ANTHROPIC_BASE_URL"] = resolved.base_url
    return env


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
