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
- Within `one_connection()` (logout, login, migrate), every Secret Service call of the
  process goes over one D-Bus connection with one Secret Service session, instead of
  keyring's connection and session per call; `delete_many` and `present` serve commands
  that handle many keys at once (store/batch.py).
"""

from __future__ import annotations

import os
import sys
import threading
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
        _share_one_connection(backend)
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
        if self.name == "secret-service" and _HOLD.shared is None:  # the reader: its own connection
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

    # --- many keys in one command (store/batch.py) ------------------------------------

    def entry_names(self) -> list[str] | None:
        """The name (keyring's username) of every cclogin entry in the keychain, chunk
        entries included, read over the command's one connection: only the Secret
        Service within `one_connection()` answers (one SearchItems, and each item's
        attributes); None elsewhere (keyring cannot list; the read-only reader can, on a
        connection of its own: accounts/orphans.py)."""
        shared = _HOLD.shared
        if self.name != "secret-service" or shared is None or not shared.used():
            return None  # before any keychain call, nothing says a keychain is here
        self._prepare()
        return self._run("list", self._entry_names)

    def _entry_names(self) -> list[str]:
        backend = self._backend
        collection = backend.get_preferred_collection()  # the block's own
        field = backend.schemes[backend.scheme]["username"]
        names = {item.get_attributes().get(field) for item in
                 collection.search_items(backend._query(SERVICE))}
        return sorted(n for n in names if isinstance(n, str))

    def present(self, keys: list[str]) -> list[str]:
        """Those of `keys` that still have an entry or a chunk entry here: one listing
        where `entry_names` answers, a read of each key otherwise."""
        names = self.entry_names()
        if names is None:
            return [key for key in keys if self.get(key) is not None]
        there = {name.partition("#")[0] for name in names}
        return [key for key in keys if key in there]

    def delete_many(self, keys: list[str]) -> dict[str, bool | CcloginError]:
        """`delete` of every key: whether it existed, or why it could not be deleted.

        As `delete` does, each key is deleted (every chunk with it) under its writer
        lock and leaves the index only once its entries are gone; but the keys go in
        groups of `BATCH`, whose locks are all held (taken in sorted order, so two
        batches never wait for each other) until the group is off the index, in one
        rewrite of the index per group instead of one per key. Each key's keychain work
        gets its own deadline; a timeout ends the batch (the keychain is not answering)."""
        from ..fsio import file_lock_within

        wanted = sorted(set(keys))
        for key in wanted:
            validate_key(key)
        self._prepare()
        out: dict[str, bool | CcloginError] = {}
        for start in range(0, len(wanted), BATCH):
            group = wanted[start : start + BATCH]

            def delete_group(
                begin: Callable[[], None], group: list[str] = group
            ) -> dict[str, bool | CcloginError]:
                return self._delete_group(group, begin, file_lock_within)

            try:
                out.update(self._locked("delete", group[0], delete_group))
            except CcloginError as exc:
                for key in wanted[start:]:
                    out.setdefault(key, exc)
                break
        return out

    def _delete_group(
        self, group: list[str], begin: Callable[[], None], lock_within: Any
    ) -> dict[str, bool | CcloginError]:
        import contextlib

        until = time.monotonic() + self._timeout
        with contextlib.ExitStack() as held:
            for key in group[1:]:  # the first one's lock is held already (`_locked`)
                wait = max(0.0, until - time.monotonic())
                if not held.enter_context(lock_within(self._writer_lock(key), wait)):
                    raise StoreTimeout(
                        f"{self.name}: delete: another cclogin process was writing {key} "
                        f"and did not finish within {self._timeout:g} s"
                    )
            listed = self._index.names()
            out: dict[str, bool | CcloginError] = {}
            gone: list[str] = []
            slots = self._slots()
            for key in group:
                begin()  # each key's keychain work gets its own deadline
                chunks = [n for n in listed if n.startswith(f"{key}#")]
                try:
                    out[key] = chunking.delete_value(slots, key)
                    for name in chunks:  # those of a write killed before its header
                        slots.remove(name)
                except StoreTimeout:
                    raise
                except CcloginError as exc:
                    out[key] = exc
                    continue
                gone += [key, *chunks]
            self._index.discard_all(gone)
        return out


# --- one connection per command ---------------------------------------------------------
#
# keyring's Secret Service backend opens a D-Bus connection for every call, and
# secretstorage a Secret Service session (a Diffie-Hellman exchange) for every secret it
# reads: `logout --all` of 50 profiles made 200 connections. Within `one_connection()`
# every call of this process shares one of each: keyring's connection factory
# (`secretstorage.dbus_init`) hands out the block's connection, opened by the first call
# (inside that call's deadline) and closed when the block ends (its `close` is a no-op
# for keyring); each backend instance is handed the block's collection, checked and
# unlocked once as keyring does (a refusal is kept: one locked keychain is one prompt,
# one error), with one session. Calls never overlap on the connection: one given up on
# by its deadline keeps it, and any later call in the block fails at once with
# StoreTimeout instead of speaking over it; the process's exit closes it then.

BATCH = 64  # keys whose writer locks `delete_many` holds at once


class _Turn:
    """`with shared.turn():` the connection is this thread's until the block ends;
    StoreTimeout at once if a call given up on by its deadline still has it."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            raise StoreTimeout(
                "secret-service: not asked (an earlier call of this command did not "
                "answer in time)"
            )

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class _Shared:
    """The connection, collections and session of one `one_connection()` block."""

    def __init__(self) -> None:
        self.real: Any = None  # jeepney's DBusConnection, from secretstorage.dbus_init
        self.failed: BaseException | None = None
        self.collections: dict[str, Any] = {}
        self.refused: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def used(self) -> bool:
        """Whether a call of the block has been to the Secret Service (or tried)."""
        return self.real is not None or self.failed is not None or bool(self.refused)

    def turn(self) -> _Turn:
        return _Turn(self._lock)

    def connection(self, dbus_init: Callable[[], Any]) -> _SharedConnection:
        with self.turn():
            if self.failed is not None:
                raise self.failed
            if self.real is None:
                try:
                    self.real = dbus_init()
                except Exception as exc:
                    self.failed = exc
                    raise
        return _SharedConnection(self)

    def collection(self, path: str, open_collection: Callable[[], Any]) -> Any:
        refused = self.refused.get(path)
        if refused is not None:
            raise refused
        found = self.collections.get(path)
        if found is None:
            try:
                found = open_collection()  # keyring's: lock check and unlock included
                if found.session is None:
                    from secretstorage.util import open_session

                    found.session = open_session(found.connection)
            except Exception as exc:
                self.refused[path] = exc
                raise
            self.collections[path] = found
        return found

    def close(self) -> None:
        if self.real is None or not self._lock.acquire(blocking=False):
            return  # a call given up on still holds it: the process's exit closes it
        try:
            self.real.close()
        finally:
            self.real = None
            self._lock.release()


class _SharedConnection:
    """What keyring and secretstorage get for a connection within the block."""

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared

    def send_and_get_reply(self, *args: Any, **kwargs: Any) -> Any:
        with self._shared.turn():
            return self._shared.real.send_and_get_reply(*args, **kwargs)

    def close(self) -> None:
        pass  # the block closes it

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared.real, name)


class _Hold:
    """Whether a `one_connection()` block is open in this process, and its `_Shared`."""

    def __init__(self) -> None:
        self.shared: _Shared | None = None
        self.depth = 0
        self.lock = threading.Lock()


_HOLD = _Hold()


class one_connection:  # noqa: N801 - used as a function: `with one_connection():`
    """Within the block, every Secret Service call of this process over one connection
    (see above); nested blocks share the outermost one. Other keychains are unchanged."""

    def __enter__(self) -> None:
        with _HOLD.lock:
            if _HOLD.depth == 0:
                _HOLD.shared = _Shared()
            _HOLD.depth += 1

    def __exit__(self, *exc: object) -> None:
        with _HOLD.lock:
            _HOLD.depth -= 1
            done = _HOLD.shared if _HOLD.depth == 0 else None
            if done is not None:
                _HOLD.shared = None
        if done is not None:
            done.close()


def _share_one_connection(backend: Any) -> None:
    """Route keyring's Secret Service `backend` through the block's connection and
    collection while a `one_connection()` block is open (and as before outside one)."""
    import secretstorage

    if not getattr(secretstorage.dbus_init, "_cclogin_shared", False):
        dbus_init = secretstorage.dbus_init

        def shared_dbus_init() -> Any:
            shared = _HOLD.shared
            return dbus_init() if shared is None else shared.connection(dbus_init)

        shared_dbus_init._cclogin_shared = True  # type: ignore[attr-defined]
        secretstorage.dbus_init = shared_dbus_init
    preferred = backend.get_preferred_collection

    def get_preferred_collection() -> Any:
        shared = _HOLD.shared
        if shared is None:
            return preferred()
        return shared.collection(str(backend.preferred_collection), preferred)

    backend.get_preferred_collection = get_preferred_collection
