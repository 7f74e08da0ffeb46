"""Every path cclogin uses comes from here; `CCLOGIN_HOME` moves them all.

Only this module imports platformdirs (lazily: the `token` hot path reads paths too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

APP = "cclogin"


class Paths(NamedTuple):
    config_dir: Path  # metadata.json, config.toml
    data_dir: Path  # encrypted store, keychain index
    state_dir: Path  # journals, logs, locks

    @property
    def metadata_file(self) -> Path:
        return self.config_dir / "metadata.json"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def encrypted_store(self) -> Path:
        return self.data_dir / "store.cclogin"

    @property
    def keychain_index(self) -> Path:
        return self.data_dir / "keychain-index.json"

    @property
    def lock_dir(self) -> Path:
        return self.state_dir / "locks"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "cclogin.log"

    @property
    def journal_dir(self) -> Path:
        return self.state_dir / "journal"

    @property
    def backup_dir(self) -> Path:
        return self.data_dir / "backups"

    def lock_file(self, name: str) -> Path:
        return self.lock_dir / f"{name}.lock"

    def all_dirs(self) -> tuple[Path, ...]:
        return (self.config_dir, self.data_dir, self.state_dir)


def get_paths(environ: dict[str, str] | None = None) -> Paths:
    env = os.environ if environ is None else environ
    home = env.get("CCLOGIN_HOME")
    if home:
        root = Path(home).expanduser().absolute()
        return Paths(root / "config", root / "data", root / "state")
    import platformdirs

    return Paths(
        Path(platformdirs.user_config_dir(APP, appauthor=False, roaming=True)),
        Path(platformdirs.user_data_dir(APP, appauthor=False)),
        Path(platformdirs.user_state_dir(APP, appauthor=False)),
    )


def user_home(environ: dict[str, str] | None = None) -> Path:
    """The user's home folder (honours HOME, which the tests move)."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()
