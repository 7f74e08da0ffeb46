"""Reading and replacing other programs' files (Claude Code's, the user's `.env`).

Unlike `fsio`, these files are not ours: their folder's mode is left alone, the file
keeps its mode, and a read refuses symlinks, other owners and files over the size
limit before reading a byte of content (its size alone decides).

The limit (`CCLOGIN_MIGRATE_MAX_SIZE`, 1 GiB unless set) is there for memory, not for
shape: `~/.claude.json` grows with project history, and migrating a file takes about
twice its size in memory (jsonedit.py). A file over it is named with the credentials
it still holds in plaintext (`too_large`) and the way out.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import CcloginError, UnsafeFile, UsageError
from ..fsio import TEMP_SUFFIX, atomic_write, digest_of, fsync_dir, read_at_most, write_error

DEFAULT_MAX_SOURCE = 1 << 30  # 1 GiB; real ~/.claude.json files reach tens of MB
MAX_SIZE_ENV = "CCLOGIN_MIGRATE_MAX_SIZE"
_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", re.IGNORECASE)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class SourceTooLarge(CcloginError):
    default_hint = f"raise the limit with {MAX_SIZE_ENV} (for example {MAX_SIZE_ENV}=4G)"

    def __init__(self, message: str, hint: str | None = None, *, size: int = 0, limit: int = 0):
        super().__init__(message, hint)
        self.size, self.limit = size, limit


@dataclass(frozen=True)
class Read:
    data: bytes  # b"" once released (`released`); `digest` and `size` stay
    mode: int
    exposed: bool  # readable or writable by group/others
    nlink: int = 1  # names of this inode: >1 means replacing one name leaves the others
    digest: str = ""  # SHA-256 of the file as read
    size: int = 0

    @property
    def held(self) -> bool:
        """Whether `data` holds the bytes (a scan lets go of large files' bytes)."""
        return len(self.data) == self.size

    def released(self) -> Read:
        return replace(self, data=b"")


def sha256(data: bytes | memoryview) -> str:
    # Digests of high-entropy credential files only tell equal contents apart.
    return hashlib.sha256(data).hexdigest()


def source_limit(environ: Mapping[str, str]) -> int:
    """The largest file migrate reads: `CCLOGIN_MIGRATE_MAX_SIZE` (bytes, or 512M, 2G)."""
    raw = environ.get(MAX_SIZE_ENV)
    if not raw:
        return DEFAULT_MAX_SOURCE
    match = _SIZE.fullmatch(raw)
    if match is None or int(match[1]) == 0:
        raise UsageError(
            f"{MAX_SIZE_ENV}={raw!r} is not a size",
            f"give bytes or a size like 512M or 2G, for example {MAX_SIZE_ENV}=2G",
        )
    return int(match[1]) << (10 * " KMGT".index(match[2].upper() or " "))


def human_size(n: int) -> str:
    """1073741824 -> `1 GiB`; 2254857830 -> `2.1 GiB`."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def too_large(path: Path, size: int, limit: int, names: Sequence[str]) -> CcloginError:
    """The error for a file over the limit that holds `names` (credentials, by name)."""
    held = " and ".join(names)
    raised = -(-size // (1 << 30))  # the size, rounded up to whole GiB
    return SourceTooLarge(
        f"{path} is {human_size(size)}, more than the {human_size(limit)} cclogin reads "
        f"({MAX_SIZE_ENV}); {held} in it {'are' if len(names) > 1 else 'is'} still "
        "plaintext: nothing was changed",
        f"raise the limit for one run with `{MAX_SIZE_ENV}={raised}G cclogin migrate` "
        "(it needs about twice the file's size in memory), or remove it by hand: store "
        "it first (`cclogin login --with-api-key`), then, with Claude Code closed, delete "
        f"its member from {path} in an editor",
        size=size,
        limit=limit,
    )


def _open_source(path: Path) -> tuple[int, os.stat_result] | None:
    """An open fd and its stat, checked; None if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _BINARY | _CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(
                f"{path} is a symlink; not followed",
                "migrate the file it points to with `cclogin migrate --from TARGET`",
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UnsafeFile(f"{path} cannot be read: permission denied") from None
        raise CcloginError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path} is not a regular file; left alone")
        if os.name == "posix" and st.st_uid != os.getuid():
            raise UnsafeFile(
                f"{path} belongs to another user (uid {st.st_uid}); left alone",
                "migrate it as that user, or fix its owner with chown",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read(data: bytes, st: os.stat_result, digest: str) -> Read:
    mode = stat.S_IMODE(st.st_mode)
    exposed = bool(mode & 0o077) and os.name == "posix"
    return Read(data, mode, exposed, st.st_nlink, digest, len(data) if data else st.st_size)


def read_source(path: Path, max_size: int = DEFAULT_MAX_SOURCE) -> Read | None:
    """The file's bytes, or None if it does not exist; UnsafeFile for what we won't read,
    SourceTooLarge (before reading) for a file over `max_size`."""
    opened = _open_source(path)
    if opened is None:
        return None
    fd, st = opened
    try:
        if st.st_size > max_size:
            raise SourceTooLarge(
                f"{path} is {human_size(st.st_size)}, more than the {human_size(max_size)} "
                f"cclogin reads ({MAX_SIZE_ENV}); not read",
                size=st.st_size,
                limit=max_size,
            )
        data = read_at_most(fd, max_size + 1, st.st_size)
        if len(data) > max_size:
            raise SourceTooLarge(
                f"{path} grew past {human_size(max_size)} while being read",
                size=len(data),
                limit=max_size,
            )
        return _read(data, st, sha256(data))
    finally:
        os.close(fd)


def read_digest(path: Path) -> Read | None:
    """The file's digest, mode and links, checked as `read_source` does, read in blocks:
    "is it still exactly what we read?" without a second copy in memory."""
    opened = _open_source(path)
    if opened is None:
        return None
    fd, st = opened
    try:
        return replace(_read(b"", st, digest_of(fd)), size=st.st_size)
    finally:
        os.close(fd)


def hard_linked(path: Path, nlink: int) -> UnsafeFile:
    """The refusal for a credential file with other names: replacing or unlinking this
    one would leave the plaintext in every other (a dotfiles folder, a `cp -al` copy).

    Refused rather than rewritten in place: a write through the inode is not atomic (a
    kill mid-way truncates the file under every name) and changes files the user keeps
    elsewhere for reasons of their own."""
    others = nlink - 1
    return UnsafeFile(
        f"{path} holds a credential and has {nlink} hard links: the plaintext would stay "
        f"in the other {others} name{'s' if others > 1 else ''}; left as it is",
        f"find the other links with `find ~ -samefile {path}` and remove them, "
        "then run the command again",
    )


def replace_file(path: Path, data: bytes | Sequence[bytes | memoryview], mode: int) -> None:
    """Atomically and durably replace a file that is not ours, keeping its mode.
    `data` may be pieces (`splice.Spliced.pieces`), written without joining them."""
    atomic_write(path, data, mode & 0o777, private_dir=False)


def remove_file(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise write_error(path, exc) from None
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> list[Path]:
    """Temp files a killed `replace_file` left beside `path` (they may hold plaintext)."""
    removed: list[Path] = []
    prefix, suffix = f".{path.name}.", TEMP_SUFFIX
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix) and entry.name.endswith(suffix):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
