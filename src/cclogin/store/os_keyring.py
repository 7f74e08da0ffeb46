"""The OS keychains, through keyring, on our terms.

- We name the keyring backend class ourselves from a fixed allow-list; keyring's own
  selection (`get_keyring`, the chainer, `PYTHON_KEYRING_BACKEND`, keyringrc.cfg and
  its `keyring-path`) is never consulted, so a plaintext, null or third-party backend
  can never be used, whatever its priority (jaraco/keyring #370).
- keyring is imported lazily: `cclogin token` must not pay ~100 ms for it; and before
  a deadline's clock starts (`_prepare`), so a slow import never counts as a slow keychain.
- Every keyring call runs under `deadline.run_with_deadline`; raw errors are mapped to
  the CcloginError hierarchy once, in `keyring_errors.py`.
- `probe()` is a read: `status`, `doctor` and `backends` write nothing to the keychain;
  `round_trip()` writes, reads back and deletes a test entry, for the selection of a
  backend for a new secret only (store/keychain_probe.py, store/select.py).
- Values become entries via `chunking` (service "cclogin", username = the key), and
  key names are listed in `keychain_index` because keyring cannot enumerate.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from ..errors import (
    CcloginError,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    UsageError,
)
from ..model import StorageClass
from ..paths import Paths
from . import chunking
from .base import StoreInfo, validate_key
from .deadline import EXIT_GRACE, run_locked_with_deadline, run_with_deadline
from .keychain_index import KeychainIndex
from .keyring_errors import map_keyring_error

T = TypeVar("T")
SERVICE = "cclogin"
DEFAULT_COLLECTION_ALIAS = "/org/freedesktop/secrets/aliases/default"


class BackendSpec(NamedTuple):
    module: str
    cls: str
    description: str
    entry_chars: int  # text characters one entry may hold (chunking splits above it)


# Windows Credential Manager: 2,560 bytes of UTF-16 = 1,280 characters; we stay under
# it with room to spare. Elsewhere entries are large; 16 K characters keeps every
# credential in one entry while bounding what one D-Bus message or prompt carries.
_WINDOWS_ENTRY_CHARS = 1200
_DEFAULT_ENTRY_CHARS = 16 * 1024

_BACKENDS: dict[str, BackendSpec] = {
    "secret-service": BackendSpec(
        "keyring.backends.SecretService", "Keyring",
        "Secret Service (GNOME Keyring, KeePassXC, ...) via D-Bus", _DEFAULT_ENTRY_CHARS,
    ),
    "libsecret": BackendSpec(
        "keyring.backends.libsecret", "Keyring",
        "Secret Service via libsecret (PyGObject)", _DEFAULT_ENTRY_CHARS,
    ),
    "kwallet": BackendSpec(
        "keyring.backends.kwallet", "DBusKeyring", "KDE Wallet via D-Bus", _DEFAULT_ENTRY_CHARS,
    ),
    "macos-keychain": BackendSpec(
        "keyring.backends.macOS", "Keyring", "macOS Keychain", _DEFAULT_ENTRY_CHARS,
    ),
    "windows-credential-manager": BackendSpec(
        "keyring.backends.Windows", "WinVaultKeyring",
        "Windows Credential Manager", _WINDOWS_ENTRY_CHARS,
    ),
}
ALL_BACKEND_NAMES: tuple[str, ...] = tuple(_BACKENDS)

# Backends whose Python bindings pip cannot install (they come with the system's C
# libraries): listed, so a user learns they exist, with what it takes; never probed
# and never named in the selection's reasons while the bindings are missing.
_BINDINGS: dict[str, tuple[str, str]] = {
    "libsecret": (
        "gi",
        "needs PyGObject and libsecret, which pip cannot install: install the system "
        "packages python3-gi and gir1.2-secret-1 and create cclogin's venv with "
        "--system-site-packages (secret-service reaches the same keyring without them)",
    ),
    "kwallet": (
        "dbus",
        "needs dbus-python, which is not in cclogin's venv: install the system package "
        "python3-dbus and create cclogin's venv with --system-site-packages (KWallet "
        "5.97+ also answers as secret-service, which needs nothing more)",
    ),
}


class BindingsMissing(StoreUnavailable):
    """A keychain backend whose system bindings are not installed: says how to get them."""


def missing_bindings(name: str) -> str | None:
    """How to make backend `name` reachable, or None when nothing is missing."""
    need = _BINDINGS.get(name)
    if need is None:
        return None
    return need[1] if missing_module(need[0]) else None


def missing_module(module: str) -> bool:
    """Whether `module` cannot be imported here (found without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def platform_backend_names(platform: str | None = None) -> list[str]:
    """This OS's keychains in preference order. No I/O."""
    plat = sys.platform if platform is None else platform
    if plat == "darwin":
        return ["macos-keychain"]
    if plat == "win32":
        return ["windows-credential-manager"]
    if plat.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        # secret-service first: it is what the jeepney fast reader can read.
        return ["secret-service", "libsecret", "kwallet"]
    return []


# --- the store -------------------------------------------------------------------------


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 4:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class _KeyringSlots:
    """chunking.TextSlots over one keyring backend instance, errors mapped."""

    def __init__(self, backend: Any, where: str) -> None:
        self._backend = backend
        self._where = where

    def _call(self, fn: Callable[[], T], missing: T) -> T:
        try:
            return fn()
        except CcloginError:
            raise
        except Exception as exc:
            mapped = map_keyring_error(exc, self._where)
            if mapped is None:
                return missing
            raise mapped from None

    def read(self, name: str) -> str | None:
        text = self._call(lambda: self._backend.get_password(SERVICE, name), None)
        return text if isinstance(text, str) else None

    def write(self, name: str, text: str) -> None:
        for attempt in (1, 2):
            try:
                self._backend.set_password(SERVICE, name, text)
                return
            except CcloginError:
                raise
            except Exception as exc:
                mapped = map_keyring_error(exc, self._where)
                if mapped is not None:
                    raise mapped from None
                if attempt == 2:
                    names = " <- ".join(type(e).__name__ for e in _causes(exc))
                    raise StoreError(f"{self._where}: the write failed ({names})") from None
                # "No such object" while *creating* an item: gnome-keyring answers this
                # now and then when many clients write at once. Once more, then give up.
                time.sleep(0.05)

    def remove(self, name: str) -> bool:
        def delete() -> bool:
            self._backend.delete_password(SERVICE, name)
            return True

        return self._call(delete, False)


class _FastSlots:
    """Read-only chunking.TextSlots over the jeepney Secret Service reader."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def read(self, name: str) -> str | None:
        text = self._reader.read(name)
        return text if isinstance(text, str) else None

    def write(self, name: str, text: str) -> None:  # pragma: no cover - never called
        raise NotImplementedError

    def remove(self, name: str) -> bool:  # pragma: no cover - never called
        raise NotImplementedError


def load_backend_class(name: str) -> Any:
    """The allow-listed keyring class for `name`; imports keyring (only) here."""
    spec = _BACKENDS.get(name)
    if spec is None:
        raise UsageError(
            f"unknown OS keychain backend {name!r}",
            f"choose one of: {', '.join(ALL_BACKEND_NAMES)}",
        )
    import importlib

    module = importlib.import_module(spec.module)
    return getattr(module, spec.cls)


def _instantiate(cls: Any) -> Any:
    backend = cls()
    # KEYRING_PROPERTY_* would move our items (another collection, another attribute
    # scheme) where the fast reader and other tools do not look: keep class defaults.
    for var in os.environ:
        _pre, sep, prop = var.partition("KEYRING_PROPERTY_")
        if sep:
            vars(backend).pop(prop.lower(), None)
    if cls.__module__ == "keyring.backends.SecretService":
        # The default collection by its alias, never keyring's fallback of creating a
        # collection when there is none: that raises a prompt nobody can answer over
        # SSH or headless (secretstorage #33, aws-vault #304). No default: unavailable.
        backend.preferred_collection = DEFAULT_COLLECTION_ALIAS
    return backend


def _warm(name: str) -> None:
    """keyring's Secret Service backend encrypts through secretstorage, whose first
    secret loads cryptography's OpenSSL backend (tens of ms on a loaded machine): load
    it now, off the clock. No I/O."""
    if name == "secret-service":
        import secretstorage.util

        # secretstorage.util re-uses cryptography's default_backend without re-exporting it.
        secretstorage.util.default_backend()  # type: ignore[attr-defined]


class OsKeyringStore:
    storage_class: StorageClass = "keychain"

    def __init__(self, name: str, paths: Paths, timeout: float) -> None:
        if name not in _BACKENDS:
            raise UsageError(
                f"unknown OS keychain backend {name!r}",
                f"choose one of: {', '.join(ALL_BACKEND_NAMES)}",
            )
        self.name = name
        self._spec = _BACKENDS[name]
        self._timeout = timeout
        self._paths = paths
        self._index = KeychainIndex(paths, name)
        self._backend: Any = None
        self._fast = False  # the jeepney reader is imported (secret-service only)

    def __repr__(self) -> str:
        return f"OsKeyringStore({self.name!r}, timeout={self._timeout:g})"

    def _prepare(self, *, fast: bool = False, backend: bool = True) -> None:
        """Import (and instantiate, no I/O) what the next keychain call needs, in the
        caller's thread, before its deadline starts: only the keychain is on the clock."""
        if fast and not self._fast:
            from .secret_service_reader import preload

            self._fast = preload()
        if backend and self._backend is None:
            try:
                self._backend = _instantiate(load_backend_class(self.name))
                _warm(self.name)
            except CcloginError:
                raise
            except Exception as exc:  # ImportError, keyring's own init errors
                mapped = map_keyring_error(exc, self.name)
                raise (mapped or StoreUnavailable(f"{self.name}: not found")) from None

    # Runs in the deadline thread, after `_prepare`: imports nothing.
    def _slots(self) -> _KeyringSlots:
        if self._backend is None:  # pragma: no cover - every caller prepares first
            self._backend = _instantiate(load_backend_class(self.name))
        return _KeyringSlots(self._backend, self.name)

    def _guarded(self, fn: Callable[[], T]) -> Callable[[], T]:
        """`fn` with raw keyring errors mapped (it runs in the deadline thread)."""
        from .secret_service_reader import NeedsFallbackError

        def guarded() -> T:
            try:
                return fn()
            except (CcloginError, NeedsFallbackError):
                raise
            except Exception as exc:
                mapped = map_keyring_error(exc, self.name)
                raise (mapped or StoreUnavailable(f"{self.name}: not found")) from None

        return guarded

    def _run(self, what: str, fn: Callable[[], T]) -> T:
        return run_with_deadline(self._guarded(fn), self._timeout, f"{self.name}: {what}")

    def get(self, key: str) -> bytes | None:
        validate_key(key)
        if self.name == "secret-service":
            from .secret_service_reader import NeedsFallbackError

            self._prepare(fast=True, backend=False)
            try:
                return self._run("read", lambda: self._fast_get(key))
            except NeedsFallbackError:
                pass  # locked, no default alias, ...: keyring knows what to do
        self._prepare()
        return self._run("read", lambda: chunking.read_value(self._slots(), key))

    def _reader(self, *, session: bool) -> Any:
        from .secret_service_reader import SecretServiceReader

        # Each D-Bus reply may take the grace beyond our deadline: a call we have given
        # up on still ends with its reply rather than a hang-up (store/deadline.py).
        return SecretServiceReader(self._timeout + EXIT_GRACE, session=session)

    def _fast_get(self, key: str) -> bytes | None:
        with self._reader(session=True) as reader:
            return chunking.read_value(_FastSlots(reader), key)

    def _locked(self, what: str, key: str, fn: Callable[[Callable[[], None]], T]) -> T:
        """`fn(begin)` under this key's writer lock (see `run_locked_with_deadline`):
        index work first, then `begin()`, then the keychain calls."""

        def guarded(begin: Callable[[], None]) -> T:
            return self._guarded(lambda: fn(begin))()

        return run_locked_with_deadline(
            guarded, self._writer_lock(key), self._timeout, f"{self.name}: {what}"
        )

    def _writer_lock(self, key: str) -> Path:
        # One lock per (backend, key) across processes: writers and deleters of one key
        # take turns, so each write is whole and the last complete one wins; readers
        # (`cclogin token`) never take it. '=' is not in the key alphabet, so the map
        # from key to file name is one-to-one (and ':' is not a Windows file name char).
        return self._paths.lock_file(f"keychain-{self.name}-{key.replace(':', '=')}")

    def set(self, key: str, value: bytes) -> None:
        validate_key(key)
        if not isinstance(value, bytes):
            raise TypeError("store values are bytes")
        self._prepare()
        self._locked("write", key, lambda begin: self._set_locked(key, value, begin))

    def _set_locked(self, key: str, value: bytes, begin: Callable[[], None]) -> None:
        chunks = chunking.planned_chunk_names(key, value, self._spec.entry_chars)
        # Listed before the write (no entry escapes the index), and under the key's lock,
        # so a concurrent writer's sweep can never unlist chunks we are about to write.
        added = self._index.add(key)
        self._index.add_all(chunks)
        try:
            begin()
            chunking.write_value(self._slots(), key, value, self._spec.entry_chars)
        except StoreTimeout:
            raise  # the write may still land: keep the key listed
        except CcloginError:
            if added:
                self._index.discard(key)
            raise
        self._sweep(key, chunks, begin)

    def delete(self, key: str) -> bool:
        validate_key(key)
        self._prepare()
        return self._locked("delete", key, lambda begin: self._delete_locked(key, begin))

    def _delete_locked(self, key: str, begin: Callable[[], None]) -> bool:
        begin()
        existed = chunking.delete_value(self._slots(), key)
        self._sweep(key, [], begin)
        self._index.discard(key)
        return existed

    def _sweep(self, key: str, keep: list[str], begin: Callable[[], None]) -> None:
        """Remove chunk entries of `key` that its current value does not use: those of
        a write killed before its header (chunking cannot find them, the index can).
        Runs under the key's writer lock: no other writer has chunks in flight."""
        stale = [n for n in self._index.names() if n.startswith(f"{key}#") and n not in keep]
        if not stale:
            return
        begin()  # the clean-up gets its own time on the keychain
        slots = self._slots()
        for name in stale:
            slots.remove(name)
        self._index.discard_all(stale)

    def keys(self) -> list[str]:
        return self._index.keys()

    def describe(self) -> StoreInfo:
        return StoreInfo(self.name, self.storage_class, self._spec.description)

    def probe(self) -> None:
        """Can this keychain be used now? A read, within the timeout; writes nothing
        (store/keychain_probe.py says how, per keychain). Raises the StoreError that
        says why not; a write that fails is found by `round_trip` (login) instead."""
        from .keychain_probe import probe

        probe(self)

    def round_trip(self) -> None:
        """A real write/read/delete of a throwaway entry, all within the timeout: for
        choosing the backend of a secret about to be written (store/select.py)."""
        from .keychain_probe import round_trip

        round_trip(self)

    def _check_bindings(self) -> None:
        how = missing_bindings(self.name)
        if how is not None:
            raise BindingsMissing(f"{self.name}: {how}", how)
