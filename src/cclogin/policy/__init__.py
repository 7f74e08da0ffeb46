"""The admin policy: one system-wide file users cannot override (docs/policy.md).

    /etc/cclogin/policy.toml                                (Linux and other POSIX)
    /Library/Application Support/cclogin/policy.toml        (macOS)
    %ProgramData%\\cclogin\\policy.toml                        (Windows)

`current()` is what every enforcement point asks: None where no policy exists (one
`lstat` of the system path: `cclogin token` pays nothing more), the parsed `Policy`
where one does, and `PolicyUnusable` (exit 9) where a file exists but cannot be
honoured: cclogin fails closed, it never runs as if the file were not there.

`CCLOGIN_TEST_ONLY_POLICY_FILE` moves the file for tests only: it is ignored whenever
the real system path exists (so it cannot hide a real policy), and the file it names
must pass the same checks (owned by root, not writable by group or others, every
folder above it too, no symlink anywhere), so a user cannot write one of their own
either. A policy can only restrict cclogin, never widen what it does.

This module stays cheap to import (the `token` hot path): the loader and the rules
live in `policy.load` and `policy.rules`, imported only when a file exists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import PolicyUnusable

if TYPE_CHECKING:
    from .rules import Policy

TEST_ENV = "CCLOGIN_TEST_ONLY_POLICY_FILE"
SCHEMA = 1


def system_path() -> str:
    """Where the admin policy lives on this OS (never taken from the environment)."""
    if sys.platform == "darwin":
        return "/Library/Application Support/cclogin/policy.toml"
    if sys.platform == "win32":
        return _windows_program_data() + "\\cclogin\\policy.toml"
    return "/etc/cclogin/policy.toml"


def _windows_program_data() -> str:  # pragma: no cover - Windows only
    """CSIDL_COMMON_APPDATA from the shell, not %ProgramData% (a user can set that)."""
    if sys.platform == "win32":
        import ctypes

        buf = ctypes.create_unicode_buffer(520)
        if ctypes.windll.shell32.SHGetFolderPathW(None, 0x23, None, 0, buf) == 0 and buf.value:
            return buf.value
    return "C:\\ProgramData"


def locate(environ: Mapping[str, str] | None = None) -> str | None:
    """The policy file to honour, or None when there is none.

    The system path wins whenever anything is there (a file, a symlink, anything):
    the test variable is looked at only when the system path does not exist.
    Anything that stops us from telling whether it exists is a refusal, not "none".
    """
    path = system_path()
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise PolicyUnusable(
            f"cannot tell whether the admin policy {path} exists: {exc.strerror or exc}",
            f"an administrator must make {os.path.dirname(path)} readable "
            "(`chmod 755` it): cclogin refuses to run without knowing its policy",
        ) from None
    else:
        return path
    env = os.environ if environ is None else environ
    moved = env.get(TEST_ENV)
    return moved or None


_UNSET = object()
_cache: list[object] = [_UNSET]  # one process, one policy: loaded once


def current() -> Policy | None:
    """The policy in force (loaded once per process), or None; PolicyUnusable if a
    file exists that cannot be honoured."""
    cached = _cache[0]
    if cached is _UNSET:
        try:
            path = locate()
            if path is None:
                cached = None
            else:
                from .load import load_file

                cached = load_file(path, moved=path != system_path())
        except PolicyUnusable as exc:
            cached = exc
        _cache[0] = cached
    if isinstance(cached, PolicyUnusable):
        raise cached
    return cached  # type: ignore[return-value]  # None or a Policy, by construction


def forget() -> None:
    """Drop the cached policy (tests that change it within one process)."""
    _cache[0] = _UNSET


def unlock_cache_limit() -> int | None:
    """The longest unlock-cache lifetime the policy allows, in seconds (0: no cache at
    all), or None when the policy sets no limit. For `cclogin unlock --for` (issue 13):
    a longer request is refused with `check_unlock_seconds`, never silently shortened;
    a default lifetime is at most this."""
    policy = current()
    return None if policy is None else policy.unlock_max_seconds


def check_unlock_seconds(seconds: float) -> None:
    """Refuse an unlock-cache lifetime above the policy's `unlock_cache.max_seconds`."""
    policy = current()
    if policy is not None:
        policy.check_unlock_seconds(seconds)


# --- one-line checks for the enforcement points (no policy: nothing happens) ---------


def check_backend(name: str, chosen_by: str, hint: str | None = None) -> None:
    """A backend chosen for new credentials (`--backend`, CCLOGIN_BACKEND, config)."""
    policy = current()
    if policy is not None:
        policy.check_backend(name, chosen_by, hint)


def backend_allowed(name: str) -> bool:
    policy = current()
    return policy is None or policy.backend_allowed(name)


def check_placement(profile: str, backend: str, *, stored: bool = False) -> None:
    """A profile on `backend`: on the team server if it must be; with `stored`, also
    on an allowed backend (a profile made before the policy, used now)."""
    policy = current()
    if policy is not None:
        policy.check_placement(profile, backend, stored=stored)


def check_issuer(issuer: str, what: str = "the OAuth issuer") -> None:
    policy = current()
    if policy is not None:
        policy.check_issuer(issuer, what)


def check_vault_addresses(addresses: tuple[str, ...]) -> None:
    policy = current()
    if policy is not None:
        policy.check_vault_addresses(addresses)


def check_env_passphrase(variable: str) -> None:
    policy = current()
    if policy is not None:
        policy.check_env_passphrase(variable)


def check_no_revoke() -> None:
    policy = current()
    if policy is not None:
        policy.check_no_revoke()
