"""Run one blocking call with a time limit, giving up on it if it overstays.

A stuck keychain daemon (a frozen gnome-keyring, a KWallet dialog nobody sees, WSL
without a session) blocks D-Bus calls forever, and most libraries offer no timeout
(secretstorage: only `unlock`). So the call runs in a daemon thread; on timeout we stop
waiting and raise `StoreTimeout`.

The clock covers the keychain only: callers import what the call needs (keyring,
secretstorage, jeepney: 100 ms and more on a loaded machine) *before* they start it,
so a slow import can never make cclogin give up on a call that has just gone out.

A call given up on is not cut at once. Its worker is told (`given_up()`, which the
jeepney reader checks before each new message, so it sends nothing more), and when the
process exits it gets up to `EXIT_GRACE` seconds to finish the message in flight and
close its connection: a client that vanishes in the middle of `OpenSession` has
crashed gnome-keyring 42.1 (within ~300 such clients; its replacement came up locked).
A worker still blocked after the grace (a daemon that does not answer at all) is left
to the interpreter's exit, which closes its socket.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import StoreTimeout

T = TypeVar("T")

# At exit, how long calls given up on may still take to finish, all together (seconds).
EXIT_GRACE = 1.0

_local = threading.local()  # in a worker: `.abandoned`, the Event its caller sets
_lingering: list[threading.Thread] = []
_lingering_lock = threading.Lock()


def given_up() -> bool:
    """True in a deadline worker whose caller has stopped waiting for it: send nothing
    new, finish what is in flight, close. False anywhere else."""
    abandoned: threading.Event | None = getattr(_local, "abandoned", None)
    return abandoned is not None and abandoned.is_set()


def settle(grace: float = EXIT_GRACE) -> None:
    """Give workers that were given up on up to `grace` seconds, all together, to end.

    Runs at exit (atexit); a caller that leaves with `os._exit` calls it first."""
    with _lingering_lock:
        workers = list(_lingering)
    end = time.monotonic() + grace
    for worker in workers:
        worker.join(max(0.0, end - time.monotonic()))


def _linger(worker: threading.Thread, abandoned: threading.Event) -> None:
    abandoned.set()
    with _lingering_lock:
        if not _lingering:
            atexit.register(settle)
        _lingering[:] = [t for t in _lingering if t.is_alive()]
        _lingering.append(worker)


def run_with_deadline(fn: Callable[[], T], timeout: float, what: str) -> T:
    """`fn()` or StoreTimeout after `timeout` seconds; `fn`'s own exceptions pass through.

    `what` names the operation for the message ("secret-service: read"); never a secret.
    `fn` should import nothing: the clock is already running.
    """
    done = threading.Event()
    abandoned = threading.Event()
    result: list[T] = []
    error: list[BaseException] = []

    def runner() -> None:
        _local.abandoned = abandoned
        try:
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread, not swallowed
            error.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=runner, name=f"cclogin-deadline:{what}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        _linger(thread, abandoned)
        raise StoreTimeout(f"{what} did not answer within {timeout:g} s")
    if error:
        raise error[0]
    return result[0]


def run_locked_with_deadline(
    fn: Callable[[Callable[[], None]], T], lock_path: Path, timeout: float, what: str
) -> T:
    """`fn(begin)` under the cross-process lock `lock_path`, each phase bounded.

    The lock is taken (and held) by the worker thread itself, so if the caller gives up
    on a hung keychain, the lock stays held for as long as the abandoned call may still
    write, and is dropped by the kernel when the process exits. Three phases, `timeout`
    each: waiting for the lock (another writer of the same key on a slow keychain); the
    local work `fn` does before it calls `begin()` (index files, under their own locks
    and fsyncs, slow only on a loaded disk); the keychain work after `begin()`. A worker
    whose caller gave up before `begin()` stops there (StoreTimeout) and writes nothing.
    `fn` may call `begin()` again to start another keychain phase (the clean-up).
    """
    from ..fsio import file_lock_within

    locked = threading.Event()
    begun = threading.Event()
    done = threading.Event()
    abandoned = threading.Event()
    result: list[T] = []
    error: list[BaseException] = []

    marks: list[float] = []

    def begin() -> None:
        if abandoned.is_set():
            raise StoreTimeout(f"{what}: given up before the keychain was asked")
        marks.append(time.monotonic())  # each call starts a keychain phase of `timeout`
        begun.set()

    def runner() -> None:
        _local.abandoned = abandoned
        try:
            with file_lock_within(lock_path, timeout, abandoned.is_set) as held:
                if not held or abandoned.is_set():
                    raise StoreTimeout(_busy(what, timeout))
                locked.set()
                result.append(fn(begin))
        except BaseException as exc:  # handed to the caller's thread, not swallowed
            error.append(exc)
        finally:
            locked.set()
            begun.set()
            done.set()

    thread = threading.Thread(target=runner, name=f"cclogin-deadline:{what}", daemon=True)
    thread.start()
    if not locked.wait(timeout + 0.5):  # the worker gives up by itself at `timeout`
        _linger(thread, abandoned)
        raise StoreTimeout(_busy(what, timeout))
    if not begun.wait(timeout):
        _linger(thread, abandoned)
        raise StoreTimeout(f"{what}: the keychain index did not answer within {timeout:g} s")
    while not done.is_set():
        left = (marks[-1] if marks else time.monotonic()) + timeout - time.monotonic()
        if left <= 0:
            _linger(thread, abandoned)
            raise StoreTimeout(f"{what} did not answer within {timeout:g} s")
        done.wait(left)
    if error:
        raise error[0]
    return result[0]


def _busy(what: str, timeout: float) -> str:
    return (
        f"{what}: another cclogin process was writing the same entry and did not finish "
        f"within {timeout:g} s"
    )
