"""Where Claude Code installs leave plaintext credentials, on each OS."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..paths import user_home

OLDER_GUIDES = "written by older guides and other tools; current Claude Code never reads it"
_TEMP_PREFIXES = (".credentials.json.tmp.", ".claude.json.tmp.")
_BACKUP_PREFIX = ".claude.json.backup."


def legacy_locations(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Every known plaintext credential location, in Claude Code's order, deduplicated.

    The credential store (`$CLAUDE_SECURESTORAGE_CONFIG_DIR` first, and the other dirs
    too, for stale copies), the global config and its legacy `.config.json`, its
    backups (newest first), the `env` of the user settings, the paths older guides and
    other tools write, then the temp files a killed Claude Code write left behind.
    Globbed entries are listed as they are now; the rest whether they exist or not.
    """
    env = os.environ if environ is None else environ
    home = user_home(dict(env))
    config_dirs = _unique([claude_config_dir(env), home / ".claude"])
    credential_dirs = _unique([claude_credentials_dir(env), *config_dirs])
    global_configs = _unique([claude_global_config(env), home / ".claude.json"])
    found: list[Path] = [d / ".credentials.json" for d in credential_dirs]
    found += global_configs
    found += [d / ".config.json" for d in config_dirs]
    for folder in config_dirs:
        backups = _listed(folder / "backups", (_BACKUP_PREFIX,))
        found += sorted(backups, key=_backup_age)
    for folder in config_dirs:
        found += [folder / "settings.json", folder / "settings.local.json"]
    found += older_guide_locations(env)
    for folder in _unique([*credential_dirs, *(p.parent for p in global_configs)]):
        found += sorted(_listed(folder, _TEMP_PREFIXES))
    return _unique(found)


def older_guide_locations(environ: Mapping[str, str]) -> list[Path]:
    """`~/.config/claude/credentials.json`, `%APPDATA%\\claude\\credentials.json`: what older
    guides and other tools write. Current Claude Code releases never read them."""
    home = user_home(dict(environ))
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    found = [xdg / "claude" / "credentials.json"]
    appdata = environ.get("APPDATA")
    if appdata:
        found.append(Path(appdata) / "claude" / "credentials.json")
    return found


def location_note(path: Path, environ: Mapping[str, str]) -> str:
    """What a location is, for people ("" for Claude Code's own current files)."""
    absolute = Path(path).expanduser().absolute()
    if absolute in [p.expanduser().absolute() for p in older_guide_locations(environ)]:
        return OLDER_GUIDES
    if is_claude_temp(absolute):
        return "an abandoned temp file of a killed Claude Code write"
    if absolute.name.startswith(_BACKUP_PREFIX) and absolute.parent.name == "backups":
        return "a backup Claude Code made of its global config"
    return ""


def is_claude_temp(path: Path) -> bool:
    """`.credentials.json.tmp.<hex>` / `.claude.json.tmp.<pid>.<hex>`: a killed write's leftover."""
    return path.name.startswith(_TEMP_PREFIXES)


def _listed(folder: Path, prefixes: tuple[str, ...]) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [folder / e.name for e in entries if e.name.startswith(prefixes)]
    except OSError:
        return []


def _backup_age(path: Path) -> tuple[int, str]:
    stamp = path.name.removeprefix(_BACKUP_PREFIX)
    return (-int(stamp) if stamp.isdigit() else 0, path.name)  # newest first


def _unique(paths: list[Path]) -> list[Path]:
    unique: list[Path] = []
    for path in paths:
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
