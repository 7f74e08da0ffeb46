"""Claude Code's own lock directories, taken exactly as Claude Code takes them.

Claude Code serialises its writes with proper-lockfile `mkdir` locks (CLAUDE-CODE.md,
"Locks"): create the directory, keep its mtime fresh while held, remove it. A lock whose
mtime is older than its staleness has no live holder and may be broken. Per file:

  * `<dir>/.credentials.json` (dir: `claude_credentials_dir`): a refresh takes
    `<dir>/.oauth_refresh.lock` then `<realpath(dir)>.lock` (stale after 60 s), and every
    write takes `<dir>/.storage-write.lock` (stale after 15 s). We take all three, in
    that order, so neither a write nor a refresh can interleave with our edit;
  * `.claude.json` (`claude_global_config`) and its backups in `<config dir>/backups`:
    `<path of .claude.json>.lock`, proper-lockfile's default staleness (10 s);
  * anything else: no lock.

While we hold them a daemon thread touches each one every `TOUCH_EVERY` seconds, well
below the smallest staleness, so Claude Code never judges our live lock stale. A lock
someone else holds is waited on (`CCLOGIN_CLAUDE_LOCK_WAIT`, default 10 s) and removed
only once it is stale by Claude Code's rule for that lock, never otherwise.

A record in the journal dir names the directories we hold (path, staleness, inode and
device), so a run killed while holding them lets the next run remove exactly those.
An entry written before its `mkdir` carries no inode: recovery leaves such a directory
alone unless it is stale by Claude Code's rule, so a lock we were only waiting on is
never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import CcloginError
from ..fsio import atomic_write
from ..paths import Paths
from .crash import crash_point
from .locations import claude_config_dir, claude_credentials_dir, claude_global_config
from .pending import LOCKS_RECORD

WAIT_ENV = "CCLOGIN_CLAUDE_LOCK_WAIT"
DEFAULT_WAIT = 10.0  # seconds, for the whole set
REFRESH_STALE = 60.0  # .oauth_refresh.lock and <realpath(dir)>.lock
STORAGE_STALE = 15.0  # .storage-write.lock
CONFIG_STALE = 10.0  # .claude.json.lock (proper-lockfile's default)
TOUCH_EVERY = 2.5  # seconds between mtime refreshes of a held lock (< every staleness)
POLL = 0.05


class ClaudeBusy(CcloginError):
    default_hint = "close Claude Code (or wait for it to finish) and run `cclogin migrate` again"


@dataclass(frozen=True)
class ClaudeLock:
    path: Path
    stale: float  # seconds: Claude Code breaks the lock once its mtime is older than this


# --- which locks guard which file ---------------------------------------------------


def credential_locks(cred_dir: Path) -> list[ClaudeLock]:
    """A refresh's two locks, then the store-write lock, as Claude Code nests them."""
    return [
        ClaudeLock(cred_dir / ".oauth_refresh.lock", REFRESH_STALE),
        ClaudeLock(Path(os.path.realpath(cred_dir) + ".lock"), REFRESH_STALE),
        ClaudeLock(cred_dir / ".storage-write.lock", STORAGE_STALE),
    ]


def config_locks(config_file: Path) -> list[ClaudeLock]:
    return [ClaudeLock(Path(f"{config_file}.lock"), CONFIG_STALE)]


def _layouts(environ: Mapping[str, str]) -> Iterator[Mapping[str, str]]:
    """The environment itself, then the plainer ones a Claude Code started elsewhere has.

    Migrate also scans `~/.claude/.credentials.json` and `~/.claude.json` when
    `CLAUDE_CONFIG_DIR` points elsewhere; a Claude Code run without the variable
    writes those, under the locks beside them.
    """
    yield environ
    plain = {k: v for k, v in environ.items() if k != "CLAUDE_SECURESTORAGE_CONFIG_DIR"}
    yield plain
    yield {k: v for k, v in plain.items() if k != "CLAUDE_CONFIG_DIR"}


def _norm(path: Path) -> Path:
    """Absolute, with the folder's symlinks resolved (the file itself is not followed)."""
    path = Path(os.path.abspath(path.expanduser()))
    return Path(os.path.realpath(path.parent)) / path.name


def locks_for(file: Path, environ: Mapping[str, str]) -> list[ClaudeLock]:
    """The locks Claude Code takes around a write of `file`; [] if it never writes it."""
    target = _norm(file)
    name = target.name
    for env in _layouts(environ):
        cred_dir = claude_credentials_dir(env)
        store = _norm(cred_dir / ".credentials.json")
        if target == store or (
            target.parent == store.parent and name.startswith(".credentials.json.tmp.")
        ):
            return credential_locks(cred_dir)  # the store, or a temp of a write to it
        config = claude_global_config(env)
        normed = _norm(config)
        if target == normed or (
            target.parent == normed.parent and name.startswith(".claude.json.tmp.")
        ):
            return config_locks(config)
        config_dir = _norm(claude_config_dir(env) / "x").parent
        if target.parent == config_dir / "backups" and name.startswith(".claude.json.backup."):
            return config_locks(config)
        if target == config_dir / ".config.json":
            # Claude Code's global config when `.claude.json` is missing: it locks the
            # file it writes, `<path>.lock` (inferred, like `.claude.json.lock`).
            return config_locks(target)
    return []


def lock_set(files: Iterable[Path] | None, environ: Mapping[str, str]) -> list[ClaudeLock]:
    """Every lock guarding `files`, each once, in taking order.

    `files=None` means "Claude Code's files of this environment": the credential
    store's locks and the global config's.
    """
    if files is None:
        wanted = credential_locks(claude_credentials_dir(environ)) + config_locks(
            claude_global_config(environ)
        )
    else:
        wanted = [lock for f in files for lock in locks_for(Path(f), environ)]
    unique: dict[Path, ClaudeLock] = {}
    for lock in wanted:
        unique.setdefault(lock.path, lock)
    return list(unique.values())


# --- holding them ---------------------------------------------------------------------


def _record(paths: Paths) -> Path:
    return paths.journal_dir / LOCKS_RECORD


class _Toucher:
    """Keeps the mtime of every lock we hold fresh, as proper-lockfile does."""

    def __init__(self, every: float) -> None:
        self._every = every
        self._held: list[tuple[Path, int, int]] = []
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claude-lock-touch", daemon=True)
        self._thread.start()

    def add(self, path: Path, ino: int, dev: int) -> None:
        with self._mutex:
            self._held.append((path, ino, dev))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            with self._mutex:
                held = list(self._held)
            for path, ino, dev in held:
                _touch(path, ino, dev)


def _touch(path: Path, ino: int, dev: int) -> None:
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if (st.st_ino, st.st_dev) == (ino, dev):  # still ours: never touch another's lock
            os.utime(path)


@contextlib.contextmanager
def claude_locks(
    paths: Paths,
    environ: Mapping[str, str],
    notify: Callable[[str], None],
    files: Iterable[Path] | None = None,
) -> Iterator[None]:
    """Hold Claude Code's locks for `files` (None: all of this environment's files)."""
    deadline = time.monotonic() + _wait_seconds(environ)
    held: list[dict[str, object]] = []
    toucher = _Toucher(TOUCH_EVERY)
    try:
        for lock in lock_set(files, environ):
            if not lock.path.parent.is_dir():
                continue  # no Claude Code config here: nothing of its to guard
            entry = _take(paths, held, lock, deadline, environ, notify)
            toucher.add(lock.path, int(str(entry["ino"])), int(str(entry["dev"])))
            held.append(entry)
            _write_record(paths, held)
        crash_point("claude-locks-taken")
        yield
    finally:
        toucher.stop()
        for entry in reversed(held):
            _release(Path(str(entry["path"])), entry, notify)
        with contextlib.suppress(FileNotFoundError):
            _record(paths).unlink()


def _take(
    paths: Paths,
    held: list[dict[str, object]],
    lock: ClaudeLock,
    deadline: float,
    environ: Mapping[str, str],
    notify: Callable[[str], None],
) -> dict[str, object]:
    """Take one lock so that a kill at any instant leaves a record of what is ours.

    Where the kernel can (Linux `renameat2(RENAME_NOREPLACE)`), the directory is made
    under a scratch name beside the lock, its inode recorded, and only then renamed
    into place without replacing anything: as exclusive as Claude Code's own `mkdir`,
    and never a directory of ours the record does not know. Elsewhere: `mkdir`, with
    the intent recorded first (a kill in between leaves a directory recovery only
    removes once it is stale by Claude Code's rule).
    """
    intent: dict[str, object] = {"path": str(lock.path), "stale": lock.stale}
    scratch = _scratch_dir(lock.path)
    if scratch is not None:
        st = os.lstat(scratch)
        entry = {**intent, "scratch": str(scratch), "ino": st.st_ino, "dev": st.st_dev}
        _write_record(paths, [*held, entry])
        try:
            if _acquire(
                lock, deadline, environ, notify, lambda: _rename_noreplace(scratch, lock.path)
            ):
                del entry["scratch"]
                _touch(lock.path, st.st_ino, st.st_dev)  # made before the wait: freshen it
                return entry
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(scratch)  # still there unless renamed into place
    _write_record(paths, [*held, intent])
    _acquire(lock, deadline, environ, notify, lambda: os.mkdir(lock.path, 0o700))
    st = os.lstat(lock.path)
    return {**intent, "ino": st.st_ino, "dev": st.st_dev}


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _rename_noreplace(src: Path, dst: Path) -> None:
    """rename(src, dst) failing with FileExistsError if dst exists; NotImplementedError
    where the kernel or the filesystem cannot."""
    renameat2 = _lookup_renameat2()
    if renameat2 is None:
        raise NotImplementedError
    import ctypes

    if renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE):
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise NotImplementedError
        raise OSError(err, os.strerror(err), str(dst))  # EEXIST: FileExistsError


@functools.cache
def _lookup_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _scratch_dir(lock: Path) -> Path | None:
    """A fresh empty directory beside `lock`, or None where rename cannot be exclusive."""
    if _lookup_renameat2() is None:
        return None
    scratch = lock.with_name(f"{lock.name}.cclogin-{secrets.token_hex(4)}")
    try:
        os.mkdir(scratch, 0o700)
    except OSError:
        return None
    return scratch


def _wait_seconds(environ: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(environ.get(WAIT_ENV, DEFAULT_WAIT)))
    except ValueError:
        return DEFAULT_WAIT


def _age(path: Path) -> tuple[float, int, int] | None:
    """(seconds since the last touch, inode, device), or None once it is gone."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return time.time() - st.st_mtime, st.st_ino, st.st_dev


def _remove_if_stale(lock: ClaudeLock, notify: Callable[[str], None], why: str) -> bool:
    """rmdir the lock if it is stale by Claude Code's rule for it; True if removed."""
    first = _age(lock.path)
    if first is None or first[0] <= lock.stale:
        return False
    again = _age(lock.path)  # the same directory, still untouched?
    if again is None or again[1:] != first[1:] or again[0] <= lock.stale:
        return False
    try:
        os.rmdir(lock.path)
    except OSError:
        return False
    notify(
        f"cclogin: note: removed {why} Claude Code lock {lock.path} (untouched for "
        f"{first[0]:.0f} s; Claude Code treats it as stale after {lock.stale:g} s)"
    )
    return True


def _acquire(
    lock: ClaudeLock,
    deadline: float,
    environ: Mapping[str, str],
    notify: Callable[[str], None],
    create: Callable[[], None],
) -> bool:
    """Wait for `create()` to make the lock; False if `create` is not supported here."""
    told = False
    while True:
        try:
            create()
            return True
        except NotImplementedError:
            return False
        except FileExistsError:
            pass
        except OSError as exc:
            raise CcloginError(
                f"cannot take Claude Code's lock {lock.path}: {exc.strerror or exc}",
                f"make {lock.path.parent} writable and try again",
            ) from None
        if _remove_if_stale(lock, notify, "a stale"):
            continue
        if not told:
            wait = max(0.0, deadline - time.monotonic())
            notify(
                f"cclogin: note: Claude Code holds {lock.path}; waiting up to {wait:.3g} s for it"
            )
            told = True
        if time.monotonic() >= deadline:
            raise ClaudeBusy(
                f"Claude Code still holds its lock {lock.path} after "
                f"{_wait_seconds(environ):g} s; nothing was removed"
            )
        time.sleep(POLL)


def _release(lock: Path, entry: Mapping[str, object], notify: Callable[[str], None]) -> None:
    try:
        st = os.lstat(lock)
    except OSError:
        st = None
    if st is None or (st.st_ino, st.st_dev) != (entry.get("ino"), entry.get("dev")):
        notify(f"cclogin: warning: Claude Code's lock {lock} was removed while cclogin held it")
        return
    with contextlib.suppress(OSError):
        os.rmdir(lock)


def _write_record(paths: Paths, held: list[dict[str, object]]) -> None:
    doc = {"pid": os.getpid(), "start": _process_start(os.getpid()), "held": held}
    atomic_write(_record(paths), json.dumps(doc).encode())


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell pids apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: object, start: object) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # exists, another user's
    now = _process_start(pid)
    return start is None or now is None or now == start


# --- after a kill ---------------------------------------------------------------------


def release_leftover_locks(paths: Paths, notify: Callable[[str], None]) -> None:
    """After a kill: remove the lock directories a dead cclogin run left behind.

    Called under the migrate lock. Only directories whose inode and device match the
    record are ours; one recorded without them (killed around its `mkdir`, or while
    waiting for Claude Code) is left alone unless stale by Claude Code's own rule.
    A record whose process still runs (a `logout` holds them right now) is left alone.
    """
    record = _record(paths)
    try:
        doc = json.loads(record.read_bytes())
    except OSError:
        return
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    if _alive(doc.get("pid"), doc.get("start")):
        return
    for entry in doc.get("held", []):
        if not isinstance(entry, dict):
            continue
        lock = Path(str(entry.get("path")))
        if "ino" in entry:
            where = [lock] + ([Path(str(entry["scratch"]))] if "scratch" in entry else [])
            for path in where:  # killed before or after the rename into place
                with contextlib.suppress(OSError):
                    st = os.lstat(path)
                    if (st.st_ino, st.st_dev) == (entry.get("ino"), entry.get("dev")):
                        os.rmdir(path)
                        if path == lock:
                            notify(
                                f"cclogin: note: removed Claude Code lock {lock} left by an "
                                "interrupted run"
                            )
            continue
        stale = entry.get("stale")
        spec = ClaudeLock(lock, float(stale) if isinstance(stale, int | float) else REFRESH_STALE)
        _remove_if_stale(spec, notify, "a stale")
    with contextlib.suppress(FileNotFoundError):
        record.unlink()
