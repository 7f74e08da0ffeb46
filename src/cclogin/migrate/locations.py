"""Where Claude Code installs leave plaintext credentials, on each OS."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..paths import user_home


def legacy_locations(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Every known plaintext credential location, most current first, deduplicated."""
    env = os.environ if environ is None else environ
    home = user_home(dict(env))
    found: list[Path] = []
    config_dir = env.get("CLAUDE_CONFIG_DIR")
    if config_dir:
        base = Path(config_dir).expanduser()
        found += [base / ".credentials.json", base / ".claude.json"]
    found += [home / ".claude" / ".credentials.json", home / ".claude.json"]
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    found.append(xdg / "claude" / "credentials.json")
    appdata = env.get("APPDATA")
    if appdata:
        found.append(Path(appdata) / "claude" / "credentials.json")
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def claude_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Claude Code's config dir: `$CLAUDE_CONFIG_DIR`, else `~/.claude`."""
    env = os.environ if environ is None else environ
    configured = env.get("CLAUDE_CONFIG_DIR")
    if configured:
        return Path(configured).expanduser()
    return user_home(dict(env)) / ".claude"


def claude_credentials_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where Claude Code keeps `.credentials.json`, in its own order.

    `$CLAUDE_SECURESTORAGE_CONFIG_DIR` when the variable is defined (empty means
    `~/.claude`), else `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
    """
    env = os.environ if environ is None else environ
    if "CLAUDE_SECURESTORAGE_CONFIG_DIR" in env:
        configured = env["CLAUDE_SECURESTORAGE_CONFIG_DIR"]
        if not configured:
            return user_home(dict(env)) / ".claude"
        return Path(configured).expanduser()
    return claude_config_dir(env)


def claude_global_config(environ: Mapping[str, str] | None = None) -> Path:
    """`${CLAUDE_CONFIG_DIR:-$HOME}/.claude.json`: where the Console key lives."""
    env = os.environ if environ is None else environ
    configured = env.get("CLAUDE_CONFIG_DIR")
    base = Path(configured).expanduser() if configured else user_home(dict(env))
    return base / ".claude.json"


def claude_settings_file(environ: Mapping[str, str] | None = None) -> Path:
    return claude_config_dir(environ) / "settings.json"


def claude_lock_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The mkdir-based locks Claude Code takes around its own credential writes."""
    env = os.environ if environ is None else environ
    return [
        claude_config_dir(env) / ".oauth_refresh.lock",
        user_home(dict(env)) / ".claude.lock",
    ]
