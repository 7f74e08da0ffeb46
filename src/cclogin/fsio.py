"""The one way cclogin writes, reads and locks its files.

Writes: temp file in the same folder (O_EXCL|O_NOFOLLOW, 0600), fsync, os.replace,
fsync the folder, so a reader sees the old file or the new one, never half of one.
Reads: refuse symlinks, files owned by someone else, and group/world-readable files.
Locks: flock (LockFileEx on Windows) on a lock file that is never deleted, so a lock
cannot go stale when a holder is killed: the kernel drops it with the process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .errors import CcloginError, UnsafeFile

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
POSIX = os.name == "posix"


class DiskFull(CcloginError):
    default_hint = "free some disk space and try again; nothing was changed"


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) with mode 0700; tighten the leaf if looser."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):  # parents too: mkdir(parents=True) ignores `mode`
        folder.mkdir(mode=0o700, exist_ok=True)
    if POSIX:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeFile(f"{path} is a symlink; refusing to use it")
        if st.st_uid != os.getuid():
            raise UnsafeFile(f"{path} belongs to another user; refusing to use it")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, 0o700)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (POSIX; Windows has no directory handles)."""
    if not POSIX:
        return
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TEMP_SUFFIX = ".cclogin-tmp"


def temp_name(path: Path) -> Path:
    """Where `atomic_write` stages `path`; a killed writer can leave one behind.

    os.urandom, not `secrets`: that module costs ~4 ms of imports on the token path.
    """
    return path.with_name(f".{path.name}.{os.urandom(6).hex()}{TEMP_SUFFIX}")


def atomic_write(
    path: Path,
    data: bytes | memoryview | Sequence[bytes | memoryview],
    mode: int = 0o600,
    *,
    private_dir: bool = True,
) -> None:
    """Replace `path` with `data` atomically and durably; no partial file on failure.

    `data` may be a sequence of pieces, written one after the other (a large file with
    an edit is written from views into the bytes read, not from a copy).
    `private_dir=False` is for files that are not ours (Claude Code's, a user's `.env`):
    their folder's mode is left alone.
    """
    pieces = [data] if isinstance(data, bytes | memoryview) else data
    if private_dir:
        ensure_private_dir(path.parent)
    tmp = temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY | _CLOEXEC
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        try:
            for piece in pieces:
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if POSIX:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise write_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the data is in place; durability is best effort
        fsync_dir(path.parent)


def write_error(path: Path, exc: OSError) -> CcloginError:
    """One line for a failed write; the file it would have replaced is unchanged."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"no space left to write {path}; the file was not changed")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CcloginError(
            f"cannot write {path}: the folder is read-only or not writable by you",
            f"make {path.parent} writable and try again",
        )
    return CcloginError(f"cannot write {path}: {exc.strerror or exc}")


def check_private(path: Path, st: os.stat_result) -> None:
    """Refuse a file that is not ours alone (POSIX only; Windows uses ACLs)."""
    if not POSIX:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFile(f"{path} is a symlink; refusing to follow it")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"{path} is not a regular file")
    if st.st_uid != os.getuid():
        raise UnsafeFile(f"{path} belongs to another user (uid {st.st_uid})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise UnsafeFile(
            f"{path} is readable or writable by other users (mode {stat.S_IMODE(st.st_mode):03o})",
            f"run `chmod 600 {path}`",
        )


def read_at_most(fd: int, limit: int, size_hint: int = 0) -> bytes:
    """Up to `limit` bytes from `fd`: a file growing while read cannot exhaust memory.

    `size_hint` (the file's size from fstat): read in one call of that size (+1, to see
    growth), so a large file is one bytes object, never blocks plus their join (2x)."""
    chunks = []
    remaining = limit
    block = max(min(size_hint + 1, limit), 1 << 16)
    while remaining > 0:
        chunk = os.read(fd, min(remaining, block))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
        block = 1 << 16
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def digest_of(fd: int) -> str:
    """SHA-256 of what is left to read from `fd`, read in blocks (no copy of the file)."""
    import hashlib  # not at the top: `token` imports this module and never hashes a file

    h = hashlib.sha256()
    while chunk := os.read(fd, 1 << 20):
        h.update(chunk)
    return h.hexdigest()


def private_digest(path: Path) -> str | None:
    """The SHA-256 of a file that must be private to us, read in blocks (a check that a
    large file we wrote reads back as written holds no second copy of it)."""
    fd = _open_private(path)
    if fd is None:
        return None
    try:
        check_private(path, os.fstat(fd))
        return digest_of(fd)
    finally:
        os.close(fd)


def _open_private(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | _NOFOLLOW | _BINARY | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{path} is a symlink; refusing to follow it") from None
        raise CcloginError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_private(path: Path, max_size: int = 1 << 20) -> bytes | None:
    """Read a file that must be private to us; None when it does not exist."""
    fd = _open_private(path)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        check_private(path, st)
        if st.st_size > max_size:
            raise CcloginError(
                f"{path} is {st.st_size} bytes, more than the {max_size} allowed",
                "this is not a file cclogin wrote; move it aside",
            )
        data = read_at_most(fd, max_size + 1, st.st_size)
        if len(data) > max_size:
            raise CcloginError(f"{path} grew past {max_size} bytes while being read")
        return data
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    ensure_private_dir(path.parent)
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"lock file {path} is a symlink; refusing it") from None
        raise CcloginError(f"cannot open lock file {path}: {exc.strerror}") from None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive cross-process lock named by `path` (created, never deleted)."""
    fd = _open_lock_file(path)
    try:
        _lock(fd)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def try_file_lock(path: Path) -> contextlib.AbstractContextManager[bool]:
    """Like `file_lock` but never waits: yields False when another process holds it."""
    return file_lock_within(path, 0.0)


@contextlib.contextmanager
def file_lock_within(
    path: Path, timeout: float, give_up: Callable[[], bool] | None = None
) -> Iterator[bool]:
    """Like `file_lock` but waits at most `timeout` seconds (polling), or until
    `give_up()` says the caller no longer wants it: yields whether the lock is held."""
    deadline = time.monotonic() + timeout
    fd = _open_lock_file(path)
    try:
        delay = 0.002
        while not _try_lock(fd):
            if time.monotonic() >= deadline or (give_up is not None and give_up()):
                yield False
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield True
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised by the Windows CI job
    import msvcrt

    def _lock(fd: int) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError as exc:
                if exc.errno != errno.EDEADLK:  # LK_LOCK gives up after ~10 s; retry
                    raise

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
