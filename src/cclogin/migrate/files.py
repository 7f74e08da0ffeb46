"""Reading and replacing other programs' files (Claude Code's, the user's `.env`).

Unlike `fsio`, these files are not ours: their folder's mode is left alone, the file
keeps its mode, and a read refuses symlinks, other owners and oversized files before
reading a byte of content (a 50 MB file is refused from its size alone).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import CcloginError, UnsafeFile
from ..fsio import TEMP_SUFFIX, atomic_write, fsync_dir, read_at_most, write_error

MAX_SOURCE_BYTES = 16 << 20  # ~/.claude.json grows with project history; credentials don't
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class SourceTooLarge(CcloginError):
    default_hint = "this is not a credential file; pass the right file with --from"


@dataclass(frozen=True)
class Read:
    data: bytes
    mode: int
    exposed: bool  # readable or writable by group/others
    nlink: int = 1  # names of this inode: >1 means replacing one name leaves the others


def sha256(data: bytes) -> str:
    # Digests of high-entropy credential files only tell equal contents apart.
    return hashlib.sha256(data).hexdigest()


def read_source(path: Path, max_size: int = MAX_SOURCE_BYTES) -> Read | None:
    """The file's bytes, or None if it does not exist; UnsafeFile for what we won't read."""
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
        if st.st_size > max_size:
            raise SourceTooLarge(
                f"{path} is {st.st_size} bytes, more than the {max_size} a credential "
                "file can be; not read"
            )
        data = read_at_most(fd, max_size + 1)
        if len(data) > max_size:
            raise SourceTooLarge(f"{path} grew past {max_size} bytes while being read")
        mode = stat.S_IMODE(st.st_mode)
        return Read(data, mode, bool(mode & 0o077) and os.name == "posix", st.st_nlink)
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


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Atomically and durably replace a file that is not ours, keeping its mode."""
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
