"""Every path cclogin uses comes from here; `CCLOGIN_HOME` moves them all.

Only this module imports platformdirs (lazily: the `token` hot path reads paths too).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from .errors import UnsafeFile

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
        check_home(root)
        return Paths(root / "config", root / "data", root / "state")
    import platformdirs

    return Paths(
        Path(platformdirs.user_config_dir(APP, appauthor=False, roaming=True)),
        Path(platformdirs.user_data_dir(APP, appauthor=False)),
        Path(platformdirs.user_state_dir(APP, appauthor=False)),
    )


def check_home(root: Path) -> None:
    """Refuse a CCLOGIN_HOME that another user could change under us (POSIX).

    The folder and every folder above it, as given and with symlinks resolved, must
    belong to us or to root and not be writable by group or others; a sticky folder
    such as /tmp is fine above a folder of ours, since no one else can rename or
    remove what we own in it. Parts that do not exist yet are made 0700 later.
    """
    if os.name != "posix":
        return
    real = Path(os.path.realpath(root))
    for chain in (root, real) if real != root else (root,):
        _check_chain(root, chain)


def _check_chain(home: Path, leaf: Path) -> None:
    uid = os.getuid()
    below_is_ours = False  # the folder just below the one being checked is ours or root's
    for folder in (leaf, *leaf.parents):
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            continue
        except OSError:
            return  # cannot look: the later open of a file there says what is wrong
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid not in (uid, 0):
            raise UnsafeFile(
                f"CCLOGIN_HOME {home} is not safe: {folder} belongs to another user "
                f"(uid {st.st_uid}), who could replace what cclogin keeps there",
                "set CCLOGIN_HOME to a folder of your own (for example ~/.cclogin)",
            )
        writable = not stat.S_ISLNK(st.st_mode) and mode & 0o022
        sticky_above_ours = mode & stat.S_ISVTX and below_is_ours and folder != leaf
        if writable and not sticky_above_ours:
            raise UnsafeFile(
                f"CCLOGIN_HOME {home} is not safe: {folder} is writable by other users "
                f"(mode {mode:03o}), who could replace what cclogin keeps there",
                f"run `chmod go-w {folder}`, or set CCLOGIN_HOME to a folder of your own",
            )
        below_is_ours = True


def user_home(environ: dict[str, str] | None = None) -> Path:
    """The user's home folder (honours HOME, which the tests move)."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()
