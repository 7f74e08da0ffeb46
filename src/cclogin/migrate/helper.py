"""Pointing Claude Code at cclogin: `apiKeyHelper` in its settings.json, done safely.

Claude Code runs `apiKeyHelper` through a shell with its own environment and takes
its stdout as the API key. It ranks the helper above `CLAUDE_CODE_OAUTH_TOKEN` and
above the subscription login in `.credentials.json` (/work/shared/CLAUDE-CODE.md, "How
it picks a credential"), so a helper set beside a subscription login silently bills
the API key instead: cclogin refuses to set it there, and where the helper could not
get its key without a terminal.

The edit is in place (`jsonedit.upsert_span`): every other byte of settings.json is
kept. What was there before (the member's text, or its absence) goes into the undo
records of the profile's stored blob (`plan.settings_origin`), so `migrate --undo`
puts the setting back exactly as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..accounts.context import AppContext
from ..accounts.profiles import read_metadata
from ..errors import CcloginError, StoreCorrupt
from ..model import Profile, secret_key
from . import jsonedit
from .files import read_source, replace_file, sha256
from .journal import migrate_lock
from .locations import claude_config_dir, claude_credentials_dir, claude_settings_file
from .plan import Edit, origins_of, settings_origin

KEY = "apiKeyHelper"
SETTINGS_FILES = ("settings.json", "settings.local.json")
ENCRYPTED_FILE = "encrypted-file"
PASSPHRASE_FILE_ENV = "CCLOGIN_PASSPHRASE_FILE"
PASSPHRASE_COMMAND_ENV = "CCLOGIN_PASSPHRASE_COMMAND"


class HelperRefused(CcloginError):
    """apiKeyHelper was not set: it would override a login, or fail in Claude Code."""


def exec_alternative(profile: str) -> str:
    return (
        f"run Claude Code with the key for that one run instead: "
        f"`cclogin exec --profile {profile} -- claude` (see the README)"
    )


def helper_command(profile: str, environ: Mapping[str, str] | None = None) -> str:
    """`[CCLOGIN_HOME=... CCLOGIN_PASSPHRASE_FILE=...] /abs/path/cclogin token --profile NAME`."""
    from ..claude_handover import helper_command as command_for
    from ..claude_handover import helper_pointers

    env = os.environ if environ is None else environ
    return command_for(profile, pointers=helper_pointers(env), environ=env)


# --- why not ---------------------------------------------------------------------


def overridden_login(ctx: AppContext, meta_profiles: Mapping[str, Profile]) -> str | None:
    """What a helper would silently override (Claude Code ranks it first), or None."""
    for p in sorted(meta_profiles.values(), key=lambda p: p.name):
        if p.kind == "claude_login":
            return f"the Claude subscription login in profile {p.name!r}"
        if p.kind == "claude_token":
            return f"the Claude token in profile {p.name!r}"
    return _login_in_files(ctx.environ)


def _login_in_files(environ: Mapping[str, str]) -> str | None:
    """A subscription login Claude Code itself finds: `.credentials.json`, an OAuth token."""
    path = claude_credentials_dir(environ) / ".credentials.json"
    try:
        current = read_source(path)
    except CcloginError:
        return f"the subscription login {path} may hold (it could not be read)"
    if current is not None and _holds_login(current.data):
        return f"the Claude subscription login in {path}"
    if environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return "the CLAUDE_CODE_OAUTH_TOKEN of this environment"
    for name, env in settings_envs(environ).items():
        if env.get("CLAUDE_CODE_OAUTH_TOKEN"):
            return f"the CLAUDE_CODE_OAUTH_TOKEN in the env of {name}"
    return None


def _holds_login(data: bytes) -> bool:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    login = doc.get("claudeAiOauth") if isinstance(doc, dict) else None
    return isinstance(login, dict) and bool(login.get("accessToken") or login.get("refreshToken"))


def settings_envs(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The string `env` entries of each of Claude Code's user settings files."""
    out: dict[str, dict[str, str]] = {}
    for name in SETTINGS_FILES:
        doc = read_settings(claude_config_dir(environ) / name)
        env = doc.get("env") if doc else None
        if isinstance(env, dict):
            out[str(claude_config_dir(environ) / name)] = {
                str(k): v for k, v in env.items() if isinstance(v, str)
            }
    return out


def read_settings(path: Path) -> dict[str, Any] | None:
    """A settings file as a dict; None when absent, unreadable or not a JSON object."""
    try:
        current = read_source(path)
        doc = json.loads(current.data.decode("utf-8")) if current else None
    except (CcloginError, UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def unservable(profile: Profile, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(why, fix) when `cclogin token` could not serve the profile without a terminal."""
    if profile.needs_login:
        return (
            f"profile {profile.name!r} needs a new login",
            f"run `cclogin login --profile {profile.name}`",
        )
    if profile.backend != ENCRYPTED_FILE:
        return None
    file = environ.get(PASSPHRASE_FILE_ENV)
    if not environ.get(PASSPHRASE_COMMAND_ENV) and not file:
        return (
            f"profile {profile.name!r} is in the encrypted file and no passphrase source "
            f"is configured ({PASSPHRASE_FILE_ENV} / {PASSPHRASE_COMMAND_ENV}); Claude Code "
            "runs the helper without a terminal, so nobody can type the passphrase",
            f"set {PASSPHRASE_FILE_ENV} (a mode 600 file) or {PASSPHRASE_COMMAND_ENV} where "
            "Claude Code starts, or in the `env` of its settings.json",
        )
    if file and not environ.get(PASSPHRASE_COMMAND_ENV) and not Path(file).expanduser().is_file():
        return (
            f"profile {profile.name!r} is in the encrypted file and its passphrase file "
            f"{file} does not exist",
            f"create it (mode 600) or point {PASSPHRASE_FILE_ENV} at the right file",
        )
    return None


def refusal(ctx: AppContext, profile_name: str) -> HelperRefused | None:
    """Why apiKeyHelper must not point at this profile now, or None."""
    meta = read_metadata(ctx.paths)
    profile = meta.profiles.get(profile_name)
    alternative = exec_alternative(profile_name)
    if profile is None:
        return HelperRefused(
            f"apiKeyHelper not set: there is no profile {profile_name!r}", alternative
        )
    login = overridden_login(ctx, meta.profiles)
    if login is not None:
        return HelperRefused(
            f"apiKeyHelper not set: Claude Code ranks it above {login}, so it would "
            "silently bill the API key instead",
            alternative,
        )
    env = dict(ctx.environ)
    for extra in settings_envs(ctx.environ).values():
        env.update(extra)
    problem = unservable(profile, env)
    if problem is not None:
        why, fix = problem
        return HelperRefused(
            f"apiKeyHelper not set: it would fail in Claude Code: {why}", f"{fix}; or {alternative}"
        )
    return None


# --- setting it --------------------------------------------------------------------


def set_api_key_helper(ctx: AppContext, profile_name: str, force: bool = False) -> str:
    """Set apiKeyHelper in place and record the previous state; one line for people."""
    refused = refusal(ctx, profile_name)
    if refused is not None:
        raise refused
    path = claude_settings_file(ctx.environ)
    command = helper_command(profile_name, ctx.environ)
    value = json.dumps(command, ensure_ascii=False)
    with migrate_lock(ctx.paths):
        current = read_source(path)
        before_data = current.data if current else b""
        index = _settings_index(before_data) if before_data.strip() else None
        if before_data.strip() and index is None:
            raise HelperRefused(
                f"{path} is not a JSON object; apiKeyHelper was not set",
                f"fix the file, then run `cclogin migrate --set-api-key-helper` again, "
                f"or {exec_alternative(profile_name)}",
            )
        member = jsonedit.member_bytes(before_data, index, KEY) if index else None
        before = member.decode("utf-8") if member is not None else None
        old = index.values.get(KEY) if index is not None and before is not None else None
        if old is not None and old == command:
            return f"apiKeyHelper in {path} already runs `{command}`"
        if before is not None and not force:
            raise HelperRefused(
                f"{path} already sets apiKeyHelper to something else; left as it is",
                f"pass --force to replace it with `{command}` (`migrate --undo` puts it back)",
            )
        if index is not None:
            span = jsonedit.upsert_span(before_data, index, KEY, value.encode())
            assert span is not None  # noqa: S101 - an object, checked above
            start, end, new = span
            data = before_data[:start] + new + before_data[end:]
            edit = Edit(start, before_data[start:end], new)
        else:  # absent or empty: a file of our own making
            data = ("{\n  " + json.dumps(KEY) + ": " + value + "\n}\n").encode()
            edit = Edit(0, before_data, data)
        origin = settings_origin(
            path, KEY, before, value, [edit], sha256(data), created=current is None
        )
        _record(ctx, profile_name, origin)  # first: a kill before the write leaves a no-op
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, data, current.mode if current else 0o600)
        again = read_source(path)
        if again is None or again.data != data:
            raise CcloginError(f"{path} does not read back as written")
    replaced = " (replacing the previous one; `migrate --undo` puts it back)" if before else ""
    return (
        f"set apiKeyHelper in {path} to `{command}`{replaced}: Claude Code now asks "
        "cclogin for the key"
    )


def _settings_index(data: bytes) -> jsonedit.Index | None:
    """settings.json indexed (apiKeyHelper decoded); None if it is no JSON object."""
    try:
        index = jsonedit.parse(data, (KEY,))
    except ValueError:
        return None
    return index if index.members is not None else None


def _record(ctx: AppContext, profile_name: str, origin: dict[str, Any]) -> None:
    """Append the settings record to the profile's undo records, in its stored blob."""
    profile = read_metadata(ctx.paths).get(profile_name)
    store = ctx.store_for(profile)
    key = secret_key(profile.name)
    blob = store.get(key)
    if blob is None:
        raise HelperRefused(f"profile {profile_name!r} has no stored secret; apiKeyHelper not set")
    doc = json.loads(blob)
    doc["migrated_from"] = [*origins_of(blob), origin]
    updated = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    store.set(key, updated)
    if store.get(key) != updated:
        raise StoreCorrupt(f"{store.name} returned something else than was stored")
