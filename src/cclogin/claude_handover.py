"""Handing a stored credential to Claude Code: the one module that knows how the real
client takes credentials (shared/CLAUDE-CODE.md; proven against the pinned binary in
tests/test_claude_handover.py, so a new Claude Code release changes this file).

| kind                       | mechanism for one run                          | why |
|----------------------------|------------------------------------------------|-----|
| api_key                    | `--settings {"apiKeyHelper": "<cclogin> token"}` | never in the environment of Claude Code's children (Bash tool, hooks, MCP servers), no "use this API key?" prompt, nothing of it written to ~/.claude.json |
| oauth (company gateway)    | the same helper, `token --valid-for TTL+60`, plus the profile's base URL | Claude Code re-runs the helper every 5 minutes and on a 401, so a token refreshed by cclogin stays fresh for a session of hours |
| claude_token, claude_login | `CLAUDE_CODE_OAUTH_TOKEN`, and `apiKeyHelper: ""` for the run | Claude Code removes that variable from its children; a configured helper would outrank it and bill an API key |

Every other way Claude Code takes a credential is neutralised for the run where a flag
can do it (credential variables dropped, `env` members of settings blanked, a configured
helper overridden), and named in a note where it cannot.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

# Environment variables Claude Code takes a credential from (or a credential source).
CREDENTIAL_VARIABLES = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
    "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR",
    "ANTHROPIC_PROFILE",
)
# These make Claude Code use a cloud provider's credentials instead of any of ours.
CLOUD_SWITCHES = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")
# Members of a settings file's `env` that carry a credential.
SETTINGS_ENV_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
HELPER_TTL_VARIABLE = "CLAUDE_CODE_API_KEY_HELPER_TTL_MS"
HELPER_TTL_DEFAULT_S = 300.0
FRESHNESS_MARGIN_S = 60.0
MANAGED_SETTINGS = Path("/etc/claude-code/managed-settings.json")

HELPER_KINDS = frozenset({"api_key", "oauth"})
OAUTH_TOKEN_KINDS = frozenset({"claude_token", "claude_login"})


class HandOver(NamedTuple):
    argv: list[str]
    env: dict[str, str]
    notes: list[str]


def is_claude_code(program: str) -> bool:
    """True for the Claude Code executable, by the name it was called by or resolves to."""
    names = {Path(program).name.lower(), Path(os.path.realpath(program)).name.lower()}
    return bool(names & {"claude", "claude.exe"})


def cclogin_argv(environ: Mapping[str, str] | None = None) -> list[str]:
    """The installed cclogin as an absolute argv prefix: Claude Code runs the helper
    through a shell with its own PATH (an IDE, a desktop launcher), which may lack ours.

    The running `cclogin` entry script (its realpath), else `cclogin` on PATH made
    absolute, else this Python with `-m cclogin`.
    """
    env = os.environ if environ is None else environ
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and Path(argv0).name in ("cclogin", "cclogin.exe") and os.path.isfile(argv0):
        return [os.path.realpath(argv0)]
    found = shutil.which("cclogin", path=env.get("PATH"))
    if found:
        return [os.path.abspath(found)]
    # Not realpath: a venv's python is a symlink, and resolving it leaves the venv.
    return [os.path.abspath(sys.executable), "-m", "cclogin"]


# Variables that say where cclogin's data and passphrase are (never a passphrase):
# a Claude Code started from a desktop launcher has none of the user's shell variables.
POINTER_VARIABLES = ("CCLOGIN_HOME", "CCLOGIN_PASSPHRASE_FILE", "CCLOGIN_PASSPHRASE_COMMAND")


def helper_pointers(environ: Mapping[str, str]) -> dict[str, str]:
    return {n: environ[n] for n in POINTER_VARIABLES if environ.get(n)}


def helper_command(
    profile: str,
    valid_for: float | None = None,
    pointers: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The shell command Claude Code's apiKeyHelper runs to get this profile's secret,
    with the `pointers` (see POINTER_VARIABLES) it needs set in front."""
    words = [*cclogin_argv(environ), "token", "--profile", profile]
    if valid_for is not None:
        words += ["--valid-for", str(int(valid_for))]
    assignments = [f"{name}={shlex.quote(value)}" for name, value in (pointers or {}).items()]
    return " ".join([*assignments, shlex.join(words)])


def helper_timing(environ: Mapping[str, str], lifetime: float | None) -> tuple[float, float]:
    """(Claude Code's helper cache lifetime, how long each answer must stay valid).

    Claude Code keeps a helper's answer for CLAUDE_CODE_API_KEY_HELPER_TTL_MS (5 minutes
    by default), so a token handed out must outlive that by a margin. A provider whose
    tokens live less than that gets a cache half the token's lifetime, set for the run,
    so the token is refreshed in time instead of failing with a 401 first.
    """
    try:
        ttl = float(environ.get(HELPER_TTL_VARIABLE, "")) / 1000.0
    except ValueError:
        ttl = HELPER_TTL_DEFAULT_S
    if not ttl > 0:
        ttl = HELPER_TTL_DEFAULT_S
    ttl = min(ttl, 86400.0)
    margin = FRESHNESS_MARGIN_S
    if lifetime is not None and lifetime < ttl + 2 * margin:
        ttl = max(lifetime / 2, 5.0)
        margin = max(lifetime / 4, 2.0)
    return ttl, ttl + margin


def hand_over(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    kind: str,
    profile: str,
    secret: str,
    base_url: str | None,
    settings_files: Sequence[Path] = (),
    helper_pointers: Mapping[str, str] | None = None,
    helper_usable: bool = True,
    lifetime: float | None = None,
) -> HandOver:
    """argv and environment that run Claude Code with `profile`'s credential, and only it.

    `helper_usable` is False where `cclogin token` could not answer without a terminal
    (an encrypted file whose passphrase only a prompt or CCLOGIN_PASSPHRASE gives):
    then the key goes in the variable, and the note says what that costs.
    """
    notes: list[str] = []
    env = dict(environ)
    dropped = [n for n in (*CREDENTIAL_VARIABLES, *CLOUD_SWITCHES) if n in env]
    for name in dropped:
        del env[name]
    clouds = [n for n in dropped if n in CLOUD_SWITCHES]
    if clouds:
        notes.append(f"{', '.join(clouds)} unset for this run: the profile's credential is used instead")
    if base_url:
        env["ANTHROPIC_BASE_URL"] = base_url  # the profile brings its own gateway
    settings: dict[str, object]
    blank: tuple[str, ...]
    if kind in HELPER_KINDS and helper_usable:
        valid_for = None
        if kind == "oauth":
            ttl, valid_for = helper_timing(environ, lifetime)
            env[HELPER_TTL_VARIABLE] = str(int(ttl * 1000))
        settings = {"apiKeyHelper": helper_command(profile, valid_for, helper_pointers, environ)}
        blank = SETTINGS_ENV_CREDENTIALS
    elif kind in HELPER_KINDS:
        variable = "ANTHROPIC_API_KEY" if kind == "api_key" else "ANTHROPIC_AUTH_TOKEN"
        env[variable] = secret
        settings = {"apiKeyHelper": ""}
        blank = tuple(n for n in SETTINGS_ENV_CREDENTIALS if n != variable)
        notes.append(
            f"the encrypted store's passphrase needs a terminal here, which Claude Code's "
            f"apiKeyHelper does not have: the credential goes in {variable}, where commands "
            "Claude Code runs can see it; set CCLOGIN_PASSPHRASE_FILE or "
            "CCLOGIN_PASSPHRASE_COMMAND to keep it out of their environment"
        )
    elif kind in OAUTH_TOKEN_KINDS:
        env["CLAUDE_CODE_OAUTH_TOKEN"] = secret
        settings = {"apiKeyHelper": ""}  # a configured helper would outrank the token
        blank = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
    else:  # pragma: no cover - every kind is listed above
        raise ValueError(f"unknown credential kind {kind}")
    settings["env"] = dict.fromkeys(blank, "")
    notes += _settings_notes(settings_files, kind)
    if "--settings" in argv[1:]:
        notes.append("your own --settings is passed after cclogin's; if it sets apiKeyHelper or env credentials, those win")
    return HandOver([argv[0], "--settings", json.dumps(settings, separators=(",", ":")), *argv[1:]], env, notes)


def _settings_notes(files: Sequence[Path], kind: str) -> list[str]:
    notes: list[str] = []
    for path in files:
        doc = _read_json(path)
        if doc is None:
            continue
        env = doc.get("env")
        env_keys = [k for k in SETTINGS_ENV_CREDENTIALS if isinstance(env, dict) and env.get(k)]
        managed = path == MANAGED_SETTINGS
        if managed and (doc.get("apiKeyHelper") or env_keys):
            notes.append(
                f"{path} (managed by your administrator) sets "
                f"{', '.join(['apiKeyHelper'] * bool(doc.get('apiKeyHelper')) + env_keys)}; "
                "it outranks cclogin and Claude Code will use it"
            )
            continue
        if doc.get("apiKeyHelper"):
            notes.append(f"apiKeyHelper in {path} is overridden for this run")
        for key in env_keys:
            if key == "CLAUDE_CODE_OAUTH_TOKEN" and kind in OAUTH_TOKEN_KINDS:
                notes.append(
                    f"env.{key} in {path} replaces the profile's token in Claude Code; "
                    "remove it (`cclogin migrate` moves it into the keychain)"
                )
            else:
                notes.append(f"env.{key} in {path} is blanked for this run (plaintext: `cclogin migrate` moves it)")
    return notes


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
        doc = json.loads(data.decode("utf-8-sig"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def settings_files(environ: Mapping[str, str], cwd: Path, config_dir: Path) -> list[Path]:
    """Settings Claude Code would read for a run in cwd, highest precedence first."""
    project = [cwd / ".claude" / "settings.local.json", cwd / ".claude" / "settings.json"]
    user = [config_dir / "settings.local.json", config_dir / "settings.json"]
    return [MANAGED_SETTINGS, *project, *user]


def claude_program(command: Sequence[str], path: str | None) -> str | None:
    """The resolved Claude Code executable for `command`, or None for any other program."""
    found = shutil.which(command[0], path=path) if command else None
    return found if found is not None and is_claude_code(found) else None
