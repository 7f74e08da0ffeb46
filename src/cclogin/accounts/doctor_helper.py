"""`doctor`: an `apiKeyHelper` that runs cclogin, and whether it can work in Claude Code.

Claude Code runs the helper through a shell with its own environment, without a
terminal, and on failure sends a blank key ("Your apiKeyHelper script is failing").
Checked, in the user settings.json and settings.local.json of Claude Code's config
dir: the cclogin it runs exists, the profile it names exists and can be served
without a terminal, and no Claude login is silently overridden by it. A good
helper, or one that runs something else, adds no finding.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from ..migrate.helper import (
    KEY,
    SETTINGS_FILES,
    exec_alternative,
    helper_command,
    overridden_login,
    read_settings,
    settings_envs,
    unservable,
)
from ..migrate.locations import claude_config_dir
from .context import AppContext
from .doctor import Finding
from .profiles import read_metadata

CHECK = "apiKeyHelper"


class HelperCall(NamedTuple):
    program: list[str]  # argv that starts cclogin: [path] or [python, "-m", "cclogin"]
    profile: str | None  # --profile, or None for CCLOGIN_PROFILE / the active one
    env: dict[str, str]  # VAR=value assignments in front of the command


def parse_helper(command: str) -> HelperCall | None:
    """The cclogin `token` call a helper command makes, or None if it is something else."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    env: dict[str, str] = {}
    if argv[:1] == ["env"]:
        argv = argv[1:]
    while argv and "=" in argv[0] and not argv[0].startswith(("/", "=")):
        name, _sep, value = argv.pop(0).partition("=")
        env[name] = value
    if not argv:
        return None
    if Path(argv[0]).name in ("cclogin", "cclogin.exe"):
        program, rest = argv[:1], argv[1:]
    elif argv[1:3] == ["-m", "cclogin"]:
        program, rest = argv[:3], argv[3:]
    else:
        return None
    if rest[:1] != ["token"]:
        return None
    profile = None
    args = rest[1:]
    for i, arg in enumerate(args):
        if arg in ("--profile", "-p") and i + 1 < len(args):
            profile = args[i + 1]
        elif arg.startswith("--profile="):
            profile = arg.removeprefix("--profile=")
    return HelperCall(program, profile, env)


def helper_findings(ctx: AppContext) -> list[Finding]:
    out: list[Finding] = []
    folder = claude_config_dir(ctx.environ)
    envs = settings_envs(ctx.environ)
    for name in SETTINGS_FILES:
        path = folder / name
        doc = read_settings(path)
        command = doc.get(KEY) if doc else None
        if not isinstance(command, str):
            continue
        call = parse_helper(command)
        if call is None:
            continue
        # The helper sees Claude Code's environment: ours (a guess), then settings' env.
        env = dict(ctx.environ)
        for extra in envs.values():
            env.update(extra)
        env.update(call.env)
        out += _check(ctx, path, call, env)
    return out


def _check(ctx: AppContext, path: Path, call: HelperCall, env: Mapping[str, str]) -> list[Finding]:
    where = f"apiKeyHelper in {path}"
    meta = read_metadata(ctx.paths)
    name = call.profile or env.get("CCLOGIN_PROFILE") or meta.active
    good = f'set "{KEY}" to "{helper_command(name or "NAME", ctx.environ)}"'
    out: list[Finding] = []
    program_problem = _program_problem(call.program, env)
    if program_problem is not None:
        out.append(Finding(CHECK, "fail", f"{where} {program_problem}", good))
    if name is None:
        out.append(
            Finding(
                CHECK,
                "fail",
                f"{where} names no profile and no profile is active",
                f"{good}, naming the profile",
            )
        )
        return out
    profile = meta.profiles.get(name)
    if profile is None:
        out.append(
            Finding(
                CHECK,
                "fail",
                f"{where} points at profile {name!r}, which does not exist",
                f"log in again (`cclogin login --profile {name} --with-api-key`), or point "
                "it at an existing profile (`cclogin status` lists them)",
            )
        )
        return out
    problem = unservable(profile, env)
    if problem is not None:
        why, fix = problem
        out.append(Finding(CHECK, "fail", f"{where} cannot get its key: {why}", fix))
    login = overridden_login(ctx, meta.profiles)
    if login is not None:
        out.append(
            Finding(
                CHECK,
                "warn",
                f"{where} wins over {login}: Claude Code bills the API key instead",
                f'remove "{KEY}" and {exec_alternative(name)}',
            )
        )
    return out


def _program_problem(program: list[str], env: Mapping[str, str]) -> str | None:
    first = program[0]
    if os.path.isabs(first):
        if not (os.path.isfile(first) and os.access(first, os.X_OK)):
            return f"runs {first}, which does not exist (or is not executable)"
        return None
    found = shutil.which(first, path=env.get("PATH"))
    if found is None:
        return f"runs `{first}`, which is not on PATH"
    return (
        f"runs `{first}` from PATH ({found}); Claude Code started from an IDE or a desktop "
        "launcher may have another PATH"
    )
