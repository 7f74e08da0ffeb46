"""The optional config file (`<config dir>/config.toml`): backend choice and providers.

    backend = "secret-service"          # or encrypted-file, macos-keychain, ...
    [providers.corp]
    issuer = "https://login.example.com"
    client_id = "cclogin"
    base_url = "https://llm-gateway.example.com"

An admin can also ship providers in `CCLOGIN_PROVIDERS_FILE` (same `[providers.*]`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any

from .errors import CcloginError
from .fsio import read_private
from .paths import Paths


class ConfigError(CcloginError):
    default_hint = "fix or remove the config file"


def _read_toml(path: Any, private: bool) -> dict[str, Any]:
    from pathlib import Path

    p = Path(path)
    if private:
        data = read_private(p, max_size=256 * 1024)
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
    if paths.config_file.exists():
        user = _read_toml(paths.config_file, private=False)
        providers = dict(merged.get("providers", {}))
        providers.update(user.get("providers", {}))
        merged.update(user)
        if providers:
            merged["providers"] = providers
    return merged
