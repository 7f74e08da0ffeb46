"""`unlock` / `lock`: the encrypted store's unlock cache in the kernel keyring.

`unlock` proves the passphrase once and keeps the data key in the session keyring for
a while (store/unlock_cache.py), so `token` and Claude Code's apiKeyHelper started
from that session open the store without Argon2id and without a passphrase source.
The default lifetime is 8 hours, a working day (like `ssh-add -t 8h`; sudo's 15
minutes would end the cache under a running Claude Code, whose helper has no terminal
to ask on); the admin policy's `[unlock_cache] max_seconds` caps it.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CcloginError, UsageError
from .context import AppContext

if TYPE_CHECKING:
    from ..store.encrypted_file import EncryptedFileStore

DEFAULT_SECONDS = 8 * 3600
MAX_SECONDS = 2**32 - 1  # the kernel's timeout is an unsigned int
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:(\d{1,10})([smhdw]))+")
_PART = re.compile(r"(\d{1,10})([smhdw])")


@dataclass(frozen=True)
class Unlocked:
    store: Path
    seconds: int
    expires_at: float
    where: str  # which session keyring holds the key, for people


def parse_duration(text: str) -> int:
    """`90`, `90s`, `15m`, `8h`, `2d`, `1h30m` -> seconds (at least 1)."""
    value = text.strip().lower()
    if value.isdigit() and len(value) <= 10:
        seconds = int(value)
    elif _DURATION.fullmatch(value):
        seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    else:
        raise UsageError(
            f"{text[:40]!r} is not a duration",
            "write it as seconds or with units: 90s, 15m, 8h, 1h30m, 2d",
        )
    if not 1 <= seconds <= MAX_SECONDS:
        raise UsageError(
            f"an unlock cache of {seconds} seconds is not possible",
            f"ask for 1 s to {MAX_SECONDS} s; `cclogin lock` ends the cache early",
        )
    return seconds


def lifetime(duration: str | None) -> int:
    """The lifetime to ask the kernel for, within the admin policy (docs/policy.md):
    an explicit one above the policy's limit is refused, never silently shortened;
    the default is shortened to the limit."""
    from ..policy import check_unlock_seconds
    from ..store.unlock_cache import admin_limit

    if duration is not None:
        seconds = parse_duration(duration)
        check_unlock_seconds(seconds)
        return seconds
    limit = admin_limit()
    if limit == 0:
        check_unlock_seconds(1)  # raises: the policy allows no cache at all
    return DEFAULT_SECONDS if limit is None else min(DEFAULT_SECONDS, limit)


def unlock(ctx: AppContext, duration: str | None) -> Unlocked:
    seconds = lifetime(duration)
    store = _encrypted_store(ctx)
    ctx.debug(f"unlock cache: {seconds} s for {store.path}")
    where = store.remember(seconds)
    return Unlocked(store.path, seconds, time.time() + seconds, where)


def lock(ctx: AppContext) -> int:
    """Drop every unlock key this session holds; how many there were."""
    if not sys.platform.startswith("linux"):
        return 0
    from ..store.unlock_cache import drop_all

    dropped = drop_all()
    ctx.debug(f"unlock cache: {dropped} key(s) invalidated in the session keyring")
    return dropped


def cache_state(ctx: AppContext) -> dict[str, Any] | None:
    """For `status` and `doctor`: None where there is no encrypted store; otherwise
    whether this session holds an unlock cache for it and when it expires."""
    path = ctx.paths.encrypted_store
    if not sys.platform.startswith("linux") or not path.exists():
        return None
    from ..store.unlock_cache import unavailable_reason

    state: dict[str, Any] = {
        "store": str(path),
        "active": False,
        "expires_at": None,
        "seconds_left": None,
        "unavailable": unavailable_reason(),
    }
    if state["unavailable"] is None:
        try:
            until = _encrypted_store(ctx).cached_until()
        except CcloginError:  # a damaged store: status and doctor say so elsewhere
            until = None
        if until is not None:
            state.update(
                active=True, expires_at=until, seconds_left=max(0, int(until - time.time()))
            )
    return state


def describe_state(state: dict[str, Any]) -> str:
    """One line for people."""
    if state["unavailable"]:
        return f"unlock cache: unavailable here ({state['unavailable']})"
    if not state["active"]:
        return (
            "unlock cache: none in this session (`cclogin unlock` types the passphrase "
            "once for a while)"
        )
    from .status import time_left

    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(state["expires_at"]))
    return (
        f"unlock cache: active until {until} ({time_left(state['expires_at'])} left); "
        "`cclogin lock` drops it"
    )


def _encrypted_store(ctx: AppContext) -> EncryptedFileStore:
    from ..store.encrypted_file import EncryptedFileStore

    store = ctx.store_named("encrypted-file")
    if not isinstance(store, EncryptedFileStore):  # pragma: no cover - by construction
        raise UsageError("the encrypted-file backend is not available")
    return store
