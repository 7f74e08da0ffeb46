"""Which files a scan reads: the home's known places, then every file under the roots.

Known places (always, unless `--no-home`): every Claude Code location `migrate`
knows (`migrate/locations.py`), shell rc and profile files, shell histories (bash,
zsh, fish, and `$HISTFILE`), fish's universal variables; and the folders
`~/.config` (`$XDG_CONFIG_HOME`) and Claude Code's config dirs, walked whole
wherever they are. With no roots, the root is the home.

The walk never follows a symlink (one whose target lies in a root is scanned where
the target is; one pointing out of the roots is reported, never read), never leaves
a root's file system, never enters a folder twice, and skips dependency and VCS
folders by name (`SKIP_DIRS`) and cache folders tagged with `CACHEDIR.TAG`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..migrate.locations import claude_config_dir, claude_credentials_dir, legacy_locations
from ..paths import user_home
from .findings import Location, Skipped

# Folders that hold other people's code, caches or version-control data: keys found
# there are copies of keys found elsewhere, or not the user's. `dist` and `build` are
# not skipped: they are ordinary names, and a bundle with a key baked in is a leak.
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", "_darcs", ".jj",
        "node_modules", "bower_components", ".pnpm-store", ".npm", ".yarn",
        ".venv", "venv", "__pycache__", ".tox", ".nox", "site-packages", "dist-packages",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".cache", ".rustup", ".gradle", ".m2",
    }
)
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"

RC_NAMES = (
    ".bashrc", ".bash_profile", ".bash_login", ".bash_aliases", ".profile",
    ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".cshrc", ".tcshrc", ".kshrc", ".mkshrc",
    ".pam_environment",
)
ZSH_RC = (".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zsh_history")
HISTORY_NAMES = (".bash_history", ".sh_history", ".zsh_history", ".zhistory", ".histfile")


def _xdg(env: Mapping[str, str], name: str, default: str) -> Path:
    value = env.get(name)
    return Path(value) if value and os.path.isabs(value) else user_home(dict(env)) / default


def known_places(env: Mapping[str, str]) -> list[tuple[Path, Location]]:
    """Every known credential-bearing file of the home, whether it exists or not."""
    home = user_home(dict(env))
    config = _xdg(env, "XDG_CONFIG_HOME", ".config")
    data = _xdg(env, "XDG_DATA_HOME", ".local/share")
    places: list[tuple[Path, Location]] = [(p, "claude-code") for p in legacy_locations(env)]
    places += [(home / name, "shell-rc") for name in RC_NAMES]
    zdotdir = env.get("ZDOTDIR")
    if zdotdir and os.path.isabs(zdotdir):
        places += [(Path(zdotdir) / name, "shell-rc") for name in ZSH_RC[:-1]]
        places.append((Path(zdotdir) / ".zsh_history", "shell-history"))
    places.append((config / "fish" / "config.fish", "shell-rc"))
    places += [(p, "shell-rc") for p in _listed(config / "fish" / "conf.d", ".fish")]
    places.append((config / "fish" / "fish_variables", "shell-rc"))
    places += [(p, "shell-rc") for p in _listed(config / "environment.d", ".conf")]
    places += [(home / name, "shell-history") for name in HISTORY_NAMES]
    places.append((data / "fish" / "fish_history", "shell-history"))
    histfile = env.get("HISTFILE")
    if histfile:
        places.append((Path(histfile).expanduser(), "shell-history"))
    return places


def home_areas(env: Mapping[str, str]) -> list[Path]:
    """Folders walked whole beside explicit roots: `~/.config` and Claude Code's dirs
    (its `projects/` transcripts keep whatever a session printed)."""
    home = user_home(dict(env))
    found: list[Path] = []
    for path in (
        _xdg(env, "XDG_CONFIG_HOME", ".config"),
        claude_config_dir(env),
        claude_credentials_dir(env),
        home / ".claude",
    ):
        if path not in found:
            found.append(path)
    return found


def _listed(folder: Path, suffix: str) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(folder / e.name for e in entries if e.name.endswith(suffix))
    except OSError:
        return []


class Under:
    """Is a path one of some folders or inside one? (string prefixes, no I/O)"""

    def __init__(self, folders: list[str]) -> None:
        self.exact = frozenset(folders)
        self.prefixes = tuple(f.rstrip(os.sep) + os.sep for f in folders)

    def __call__(self, path: str) -> bool:
        return path in self.exact or path.startswith(self.prefixes)


def within(path: str, folders: list[str]) -> bool:
    return Under(folders)(path)


class Walker:
    """Every regular file under some roots, with what was skipped and why."""

    def __init__(self, allowed: list[str], skipped: Skipped) -> None:
        self.allowed = Under(allowed)  # real paths a symlink may point into
        self.skipped = skipped
        self._seen_dirs: set[tuple[int, int]] = set()

    def symlink(self, path: str) -> None:
        real = os.path.realpath(path)
        inside = self.allowed(real)
        self.skipped.add(Path(path), "symlink_inside" if inside else "symlink_outside")

    def files(self, root: str) -> Iterator[str]:
        try:
            top = os.stat(root)
        except OSError:
            self.skipped.add(Path(root), "unreadable")
            return
        if (top.st_dev, top.st_ino) in self._seen_dirs:
            return  # a root inside another root: walked already
        self._seen_dirs.add((top.st_dev, top.st_ino))
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                self.skipped.add(Path(folder), "unreadable")
                continue
            if folder != root and _cache_tagged(folder, entries):
                self.skipped.add(Path(folder), "cache_dir")
                continue
            for entry in entries:
                yield from self._entry(entry, top.st_dev, stack)

    def _entry(self, entry: os.DirEntry[str], dev: int, stack: list[str]) -> Iterator[str]:
        try:
            if entry.is_symlink():
                self.symlink(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS:
                    self.skipped.add(Path(entry.path), "dependency_dir")
                    return
                st = entry.stat(follow_symlinks=False)
                if st.st_dev != dev:
                    self.skipped.add(Path(entry.path), "other_filesystem")
                elif (st.st_dev, st.st_ino) in self._seen_dirs:
                    self.skipped.add(Path(entry.path), "loop")
                else:
                    self._seen_dirs.add((st.st_dev, st.st_ino))
                    stack.append(entry.path)
            else:
                self.skipped.add(Path(entry.path), "special")
        except OSError:
            self.skipped.add(Path(entry.path), "unreadable")


def _cache_tagged(folder: str, entries: list[os.DirEntry[str]]) -> bool:
    """A folder with a valid CACHEDIR.TAG (https://bford.info/cachedir/)."""
    if not any(e.name == "CACHEDIR.TAG" for e in entries):
        return False
    try:
        fd = os.open(os.path.join(folder, "CACHEDIR.TAG"), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return os.read(fd, len(CACHEDIR_SIGNATURE)) == CACHEDIR_SIGNATURE
    finally:
        os.close(fd)
