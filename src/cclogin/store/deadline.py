"""Run one blocking call with a time limit, abandoning it if it overstays.

A stuck keychain daemon (a frozen gnome-keyring, a KWallet dialog nobody sees, WSL
without a session) blocks D-Bus calls forever, and most libraries offer no timeout
(secretstorage: only `unlock`). So the call runs in a daemon thread; on timeout we stop
waiting and raise `StoreTimeout`. The abandoned thread keeps nothing alive: daemon
threads never block interpreter exit, so cclogin still exits promptly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import StoreTimeout

T = TypeVar("T")


def run_with_deadline(fn: Callable[[], T], timeout: float, what: str) -> T:
    """`fn()` or StoreTimeout after `timeout` seconds; `fn`'s own exceptions pass through.

    `what` names the operation for the message ("secret-service: read"); never a secret.
    """
    done = threading.Event()
    result: list[T] = []
    error: list[BaseException] = []

    def runner() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread, not swallowed
            error.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=runner, name=f"cclogin-deadline:{what}", daemon=True)
    thread.start()
    if not done.wait(timeout):
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
        abandoned.set()
        raise StoreTimeout(_busy(what, timeout))
    if not begun.wait(timeout):
        abandoned.set()
        raise StoreTimeout(f"{what}: the keychain index did not answer within {timeout:g} s")
    while not done.is_set():
        left = (marks[-1] if marks else time.monotonic()) + timeout - time.monotonic()
        if left <= 0:
            abandoned.set()
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
