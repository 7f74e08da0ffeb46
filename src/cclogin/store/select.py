"""Which backend holds secrets on this machine, and why.

1. An explicit choice wins: `--backend`, then `CCLOGIN_BACKEND`, then `backend =` in
   the config file. If it cannot be used, that is an error: no silent substitute.
2. Otherwise the first OS keychain that passes a real write/read/delete round trip
   (`read_only=True`, for `backends`: the first that passes the read-only probe, so
   the command that only reports writes nothing; login still runs the round trip).
3. Otherwise the encrypted file, only where a passphrase source exists, with a notice.
4. Otherwise fail closed. Never plaintext.

Opening a backend that a profile pinned at login (`open_backend`) does not probe.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import NamedTuple

from ..errors import CcloginError, StoreError, StoreUnavailable, UsageError
from ..paths import Paths
from ..policy import backend_allowed, check_backend
from .base import SecretStore, StoreInfo

ENCRYPTED_FILE = "encrypted-file"
KEYCHAIN_ALIAS = "keychain"  # "whichever OS keychain works here"
DEFAULT_TIMEOUT = 5.0  # no TTY: nobody can type an unlock password anyway
INTERACTIVE_TIMEOUT = 60.0  # a TTY: long enough to type one (cli/cli #11005)


class Selection(NamedTuple):
    store: SecretStore
    source: str  # "--backend", "CCLOGIN_BACKEND", "config", "probe", "fallback"
    notice: str | None = None  # printed on stderr when not None


def is_interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def keychain_timeout(environ: Mapping[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    raw = env.get("CCLOGIN_KEYCHAIN_TIMEOUT")
    if raw:
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(
                f"CCLOGIN_KEYCHAIN_TIMEOUT={raw[:20]!r} is not a number of seconds"
            ) from None
        if value > 0:
            return value
    return INTERACTIVE_TIMEOUT if is_interactive() else DEFAULT_TIMEOUT


def known_backends() -> list[str]:
    from .os_keyring import platform_backend_names

    return [*platform_backend_names(), ENCRYPTED_FILE]


def open_backend(name: str, paths: Paths, environ: Mapping[str, str] | None = None) -> SecretStore:
    """The named backend, without probing it (calls will report their own errors)."""
    env = os.environ if environ is None else environ
    if name == ENCRYPTED_FILE:
        from .encrypted_file import EncryptedFileStore
        from .passphrase import passphrase_source

        source = passphrase_source(env, interactive=is_interactive())
        return EncryptedFileStore(paths.encrypted_store, source)
    from .os_keyring import OsKeyringStore, platform_backend_names

    if name == KEYCHAIN_ALIAS:
        names = platform_backend_names()
        if not names:
            raise StoreUnavailable("this platform has no supported OS keychain")
        name = names[0]
    if name not in _all_os_names():
        raise UsageError(
            f"unknown backend {name!r}",
            f"choose one of: {', '.join([*_all_os_names(), KEYCHAIN_ALIAS, ENCRYPTED_FILE])}",
        )
    return OsKeyringStore(name, paths, timeout=keychain_timeout(env))


def _all_os_names() -> list[str]:
    from .os_keyring import ALL_BACKEND_NAMES

    return list(ALL_BACKEND_NAMES)


def explicit_choice(
    paths: Paths, environ: Mapping[str, str], flag: str | None
) -> tuple[str, str] | None:
    if flag:
        return _allowed_choice((flag, "--backend"))
    if environ.get("CCLOGIN_BACKEND"):
        return _allowed_choice((environ["CCLOGIN_BACKEND"], "CCLOGIN_BACKEND"))
    from ..config import load_config

    configured = load_config(paths, environ).get("backend")
    if isinstance(configured, str) and configured:
        return _allowed_choice((configured, "config.toml"))
    return None


def _allowed_choice(choice: tuple[str, str] | None) -> tuple[str, str] | None:
    if choice is not None:  # the admin policy outranks every explicit choice
        check_backend(choice[0], f"chosen by {choice[1]}")
    return choice


def select_store(
    paths: Paths,
    environ: Mapping[str, str] | None = None,
    flag: str | None = None,
    *,
    read_only: bool = False,
) -> Selection:
    env = os.environ if environ is None else environ
    choice = explicit_choice(paths, env, flag)
    if choice is not None:
        name, source = choice
        if name == KEYCHAIN_ALIAS:
            return _first_working_keychain(
                paths, env, source, fail_closed=True, read_only=read_only
            )
        store = open_backend(name, paths, env)
        return Selection(store, source)
    return _first_working_keychain(paths, env, "probe", fail_closed=False, read_only=read_only)


def _first_working_keychain(
    paths: Paths, env: Mapping[str, str], source: str, *, fail_closed: bool, read_only: bool
) -> Selection:
    from .os_keyring import BindingsMissing, OsKeyringStore, platform_backend_names

    reasons: list[str] = []
    for name in platform_backend_names():
        if not backend_allowed(name):
            continue  # the admin policy; named if nothing allowed works
        store = OsKeyringStore(name, paths, timeout=keychain_timeout(env))
        try:
            if read_only:
                store.probe()
            else:
                store.round_trip()
        except BindingsMissing:
            continue  # not installed: `cclogin backends` says how; no noise here
        except StoreError as exc:
            # Backend errors name their backend already ("secret-service: ...").
            reasons.append(
                exc.message if exc.message.startswith(name) else f"{name}: {exc.message}"
            )
            continue
        return Selection(store, source)
    why = "; ".join(reasons) or "no OS keychain is supported on this platform"
    if fail_closed:
        raise StoreUnavailable(f"no OS keychain works here ({why})")
    return _fallback(paths, env, why)


def _fallback(paths: Paths, env: Mapping[str, str], why: str) -> Selection:
    from .encrypted_file import EncryptedFileStore
    from .passphrase import passphrase_source

    check_backend(
        ENCRYPTED_FILE,
        f"the fallback, as no allowed OS keychain works here: {why}",
        "make an allowed keychain reachable (see the README's \"Headless servers and SSH\")",
    )
    source = passphrase_source(env, interactive=is_interactive())
    if source is None:
        raise StoreUnavailable(
            f"no OS keychain works here ({why}) and no passphrase is configured "
            "for the encrypted-file fallback; cclogin never stores secrets in plaintext",
        )
    notice = f"no OS keychain available ({why}); using the encrypted file {paths.encrypted_store}"
    return Selection(EncryptedFileStore(paths.encrypted_store, source), "fallback", notice)


def survey(paths: Paths, environ: Mapping[str, str] | None = None) -> list[StoreInfo]:
    """Probe every backend, read-only (for `backends` and `doctor`); never raises StoreError."""
    env = os.environ if environ is None else environ
    infos: list[StoreInfo] = []
    for name in known_backends():
        try:
            check_backend(name, "for new logins")  # a disallowed one is listed as unusable
            store = open_backend(name, paths, env)
        except CcloginError as exc:
            infos.append(
                StoreInfo(
                    name,
                    "encrypted-file" if name == ENCRYPTED_FILE else "keychain",
                    name,
                    usable=False,
                    reason=exc.message,
                )
            )
            continue
        infos.append(_probe_info(store))
    return infos


def _probe_info(store: SecretStore) -> StoreInfo:
    info = store.describe()
    probe = getattr(store, "probe", None)
    if probe is None:
        return info
    try:
        probe()
    except CcloginError as exc:
        reason = exc.message.removeprefix(f"{info.name}: ")  # listed under its name anyway
        return StoreInfo(info.name, info.storage_class, info.description, False, reason)
    return StoreInfo(info.name, info.storage_class, info.description, True, None)
