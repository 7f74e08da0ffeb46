"""Run one blocking call with a time limit, abandoning it if it overstays.

A stuck keychain daemon (a frozen gnome-keyring, a KWallet dialog nobody sees, WSL
without a session) blocks D-Bus calls forever, and most libraries offer no timeout
(secretstorage: only `unlock`). So the call runs in a daemon thread; on timeout we stop
waiting and raise `StoreTimeout`. The abandoned thread keeps nothing alive: daemon
threads never block interpreter exit, so cclogin still exits promptly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
