"""The optional config file (`<config dir>/config.toml`): backend choice and providers.

    backend = "secret-service"          # or encrypted-file, macos-keychain, ...
    [providers.corp]
    issuer = "https://login.example.com"
    client_id = "cclogin"
    base_url = "https://llm-gateway.example.com"

An admin can also ship providers in `CCLOGIN_PROVIDERS_FILE` (same `[providers.*]`).
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CcloginError
from .fsio import POSIX, read_at_most
from .paths import Paths

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class ConfigError(CcloginError):
    default_hint = "fix or remove the config file"


MAX_CONFIG_SIZE = 256 * 1024


def read_user_config(path: Path) -> bytes | None:
    """config.toml under the private-file rules, or None when there is none.

    It names the backend and the providers (issuer, token endpoint, gateway), so
    whoever can change it can send the next login somewhere else: no symlink, ours,
    not writable by group or others, at most 256 KiB. Reading it is harmless, so a
    0644 file, as an editor makes it, is fine.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(
                f"the config file {path} is a symlink; refusing to follow it",
                f"replace it with the file itself (cp --remove-destination \"$(readlink -f {path})\" {path})",
            ) from None
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"the config file {path} is not a regular file")
        if POSIX and st.st_uid != os.getuid():
            raise ConfigError(
                f"the config file {path} belongs to another user (uid {st.st_uid}); refusing it",
                f"remove it, or copy what you need into a file of your own at {path}",
            )
        mode = stat.S_IMODE(st.st_mode)
        if POSIX and mode & 0o022:
            raise ConfigError(
                f"the config file {path} is writable by other users (mode {mode:03o}); refusing it",
                f"check its contents, then run `chmod 600 {path}`",
            )
        if st.st_size > MAX_CONFIG_SIZE:
            raise ConfigError(
                f"the config file {path} is {st.st_size} bytes, more than the "
                f"{MAX_CONFIG_SIZE} allowed",
                "this is not a config file; move it aside",
            )
        data = read_at_most(fd, MAX_CONFIG_SIZE + 1)
        if len(data) > MAX_CONFIG_SIZE:
            raise ConfigError(f"the config file {path} grew past {MAX_CONFIG_SIZE} bytes while being read")
        return data
    finally:
        os.close(fd)


def _read_toml(path: Any, private: bool) -> dict[str, Any]:
    p = Path(path)
    if private:
        data = read_user_config(p)
    else:
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise ConfigError(f"cannot read {p}: {exc.strerror}") from None
    if data is None:
        return {}
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None


def load_config(paths: Paths, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The user's config merged over an admin's providers file (user wins per name)."""
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    admin = env.get("CCLOGIN_PROVIDERS_FILE")
    if admin:
        merged["providers"] = dict(_read_toml(admin, private=False).get("providers", {}))
    if os.path.lexists(paths.config_file):  # a dangling symlink is refused, not ignored
        user = _read_toml(paths.config_file, private=True)
        providers = dict(merged.get("providers", {}))
        providers.update(user.get("providers", {}))
        merged.update(user)
        if providers:
            merged["providers"] = providers
    return merged
