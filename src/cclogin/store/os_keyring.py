"""The OS keychains, through keyring, on our terms.

- We name the keyring backend class ourselves from a fixed allow-list; keyring's own
  selection (`get_keyring`, the chainer, `PYTHON_KEYRING_BACKEND`, keyringrc.cfg and
  its `keyring-path`) is never consulted, so a plaintext, null or third-party backend
  can never be used, whatever its priority (jaraco/keyring #370).
- keyring is imported lazily: `cclogin token` must not pay ~100 ms for it.
- Every keyring call runs under `deadline.run_with_deadline`; raw errors are mapped to
  the CcloginError hierarchy once, here (`map_keyring_error`).
- Values become entries via `chunking` (service "cclogin", username = the key), and
  key names are listed in `keychain_index` because keyring cannot enumerate.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import (
    CcloginError,
    StoreError,
    StoreLocked,
    StoreTimeout,
    StoreUnavailable,
    UsageError,
    ValueTooLarge,
)
from ..model import StorageClass
from ..paths import Paths
from . import chunking
from .base import StoreInfo, validate_key
from .deadline import run_with_deadline
from .keychain_index import KeychainIndex

T = TypeVar("T")
SERVICE = "cclogin"


@dataclass(frozen=True)
class BackendSpec:
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


# --- raw errors -> CcloginError, once ------------------------------------------------


class _NotFound:
    """An entry that does not exist: an answer, not an error."""


NOT_FOUND = _NotFound()
Mapped = CcloginError | _NotFound

_MAC_LOCKED_HINT = (
    "the login keychain is locked for this non-GUI session (SSH?): run "
    "`security unlock-keychain ~/Library/Keychains/login.keychain-db`, or log in at the "
    "desktop; in CI export ANTHROPIC_API_KEY instead"
)
_WIN_NO_SESSION_HINT = (
    "Credential Manager needs an interactive logon; in CI export ANTHROPIC_API_KEY, "
    "or set CCLOGIN_PASSPHRASE_FILE to use the encrypted file"
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        # `raise ... from None` hides the context on purpose; otherwise follow it.
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return seen


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _safe_text(exc: BaseException) -> str:
    # keyring/secretstorage messages describe the failure, never the secret (secrets
    # are only ever call arguments); still, keep them short and on one line.
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def _map_mac(status: int, where: str) -> Mapped:
    if status == -25300:  # errSecItemNotFound
        return NOT_FOUND
    if status == -25308:  # errSecInteractionNotAllowed: locked, no GUI to ask in
        return StoreLocked(f"{where}: keychain interaction not allowed", _MAC_LOCKED_HINT)
    if status == -128:  # userCanceledErr
        return StoreLocked(
            f"{where}: the keychain prompt was cancelled",
            "run again and allow access when macOS asks",
        )
    if status in (-25293, -67030):  # errSecAuthFailed, plist missing
        return StoreLocked(f"{where}: keychain authentication failed")
    return StoreError(f"{where}: macOS Keychain error {status}")


def _map_windows(code: int, where: str) -> Mapped:
    if code == 1168:  # ERROR_NOT_FOUND
        return NOT_FOUND
    if code == 1312:  # ERROR_NO_SUCH_LOGON_SESSION
        return StoreUnavailable(
            f"{where}: no logon session (service account, SSH or scheduled task)",
            _WIN_NO_SESSION_HINT,
        )
    if code == 1783:  # RPC_X_BAD_STUB_DATA: the blob is over the size limit
        return ValueTooLarge(f"{where}: the entry is too large for Credential Manager")
    return StoreError(f"{where}: Windows error {code}")


def _map_dbus(name: str, where: str) -> Mapped:
    if name.endswith((".IsLocked", ".AccessDenied")):
        return StoreLocked(f"{where}: the Secret Service collection is locked")
    if name.endswith((".ServiceUnknown", ".NameHasNoOwner", ".Spawn.ExecFailed")):
        return StoreUnavailable(f"{where}: no Secret Service daemon on the session bus")
    if name.endswith((".NoReply", ".Timeout", ".TimedOut")):
        return StoreTimeout(f"{where}: the Secret Service did not answer in time")
    if name.endswith(".NoSuchObject"):
        return NOT_FOUND
    return StoreError(f"{where}: D-Bus error {name or 'unknown'}")


def _map_one(exc: BaseException, where: str) -> Mapped | None:  # noqa: PLR0911 - one return per error family reads best
    """One link of the cause chain; None when it says nothing specific."""
    if isinstance(exc, CcloginError):
        return exc
    names = _names(exc)
    code = exc.args[0] if exc.args else None
    if type(exc).__module__.endswith("macOS.api") and isinstance(code, int):
        return _map_mac(code, where)
    winerror = getattr(exc, "winerror", None)
    if isinstance(winerror, int):
        return _map_windows(winerror, where)
    if isinstance(exc, TimeoutError):
        return StoreTimeout(f"{where}: the keychain did not answer in time")
    if "DBusErrorResponse" in names:
        return _map_dbus(str(getattr(exc, "name", "") or ""), where)
    if "PromptDismissedException" in names:
        return StoreLocked(f"{where}: the unlock prompt was dismissed")
    if names & {"LockedException", "KeyringLocked"}:
        return StoreLocked(f"{where}: the keychain is locked")
    if "ItemNotFoundException" in names:
        return NOT_FOUND
    if names & {"SecretServiceNotAvailableException", "InitError", "NoKeyringError"}:
        return StoreUnavailable(f"{where}: {_safe_text(exc)}")
    return None


def _map_generic(exc: BaseException, names: set[str], where: str) -> Mapped:
    if "PasswordDeleteError" in names:
        return NOT_FOUND  # keyring's way of saying "no such password" on delete
    if names & {"ImportError", "RuntimeError"}:  # missing module; `priority` saying why
        return StoreUnavailable(f"{where}: {_safe_text(exc)}")
    if names & {"OSError", "KeyError"}:
        return StoreUnavailable(f"{where}: cannot reach the keychain ({type(exc).__name__})")
    if "PasswordSetError" in names:
        return StoreError(f"{where}: the keychain refused the write ({_safe_text(exc)})")
    return StoreError(f"{where}: unexpected {type(exc).__name__} from the keychain")


def map_keyring_error(exc: BaseException, where: str) -> CcloginError | None:
    """Translate a raw keyring/secretstorage/jeepney/OS error; None means "not found".

    The most specific cause wins: keyring wraps OS codes (macOS status, winerror) in
    its own PasswordSetError/KeyringError, so the whole cause chain is searched first.
    """
    chain = _chain(exc)
    mapped: Mapped | None = None
    for link in chain:
        mapped = _map_one(link, where)
        if mapped is not None:
            break
    if mapped is None:
        mapped = _map_generic(exc, set().union(*(_names(link) for link in chain)), where)
    return None if isinstance(mapped, _NotFound) else mapped


# --- the store -------------------------------------------------------------------------


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
        def write() -> None:
            self._backend.set_password(SERVICE, name, text)

        try:
            write()
        except CcloginError:
            raise
        except Exception as exc:
            mapped = map_keyring_error(exc, self._where)
            raise (mapped or StoreError(f"{self._where}: the write failed")) from None

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
    return backend


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
        self._index = KeychainIndex(paths, name)
        self._backend: Any = None

    def __repr__(self) -> str:
        return f"OsKeyringStore({self.name!r}, timeout={self._timeout:g})"

    # Runs in the deadline thread: imports keyring on first use.
    def _slots(self) -> _KeyringSlots:
        if self._backend is None:
            self._backend = _instantiate(load_backend_class(self.name))
        return _KeyringSlots(self._backend, self.name)

    def _run(self, what: str, fn: Callable[[], T]) -> T:
        from .secret_service_reader import NeedsFallbackError

        def guarded() -> T:
            try:
                return fn()
            except (CcloginError, NeedsFallbackError):
                raise
            except Exception as exc:
                mapped = map_keyring_error(exc, self.name)
                raise (mapped or StoreUnavailable(f"{self.name}: not found")) from None

        return run_with_deadline(guarded, self._timeout, f"{self.name}: {what}")

    def get(self, key: str) -> bytes | None:
        validate_key(key)
        if self.name == "secret-service":
            from .secret_service_reader import NeedsFallbackError

            try:
                return self._run("read", lambda: self._fast_get(key))
            except NeedsFallbackError:
                pass  # locked, no default alias, ...: keyring knows what to do
        return self._run("read", lambda: chunking.read_value(self._slots(), key))

    def _fast_get(self, key: str) -> bytes | None:
        from .secret_service_reader import SecretServiceReader

        with SecretServiceReader(self._timeout) as reader:
            return chunking.read_value(_FastSlots(reader), key)

    def set(self, key: str, value: bytes) -> None:
        validate_key(key)
        if not isinstance(value, bytes):
            raise TypeError("store values are bytes")
        added = self._index.add(key)  # before the write: no entry escapes the index
        try:
            self._run(
                "write",
                lambda: chunking.write_value(
                    self._slots(), key, value, self._spec.entry_chars
                ),
            )
        except StoreTimeout:
            raise  # the write may still land: keep the key listed
        except CcloginError:
            if added:
                self._index.discard(key)
            raise

    def delete(self, key: str) -> bool:
        validate_key(key)
        existed = self._run("delete", lambda: chunking.delete_value(self._slots(), key))
        self._index.discard(key)
        return existed

    def keys(self) -> list[str]:
        return self._index.keys()

    def describe(self) -> StoreInfo:
        return StoreInfo(self.name, self.storage_class, self._spec.description)

    def probe(self) -> None:
        """A real write/read/delete of a throwaway entry, all within the timeout."""
        self._run("probe", self._probe)

    def _probe(self) -> None:
        import secrets

        backend_cls = load_backend_class(self.name)
        backend_cls.priority  # noqa: B018 - raises RuntimeError saying why not viable
        slots = self._slots()
        name = f"cclogin-probe#{secrets.token_hex(6)}"  # '#': never a real key
        text = "probe-" + secrets.token_hex(4)
        try:
            slots.write(name, text)
            if slots.read(name) != text:
                raise StoreError(f"{self.name}: a test entry did not read back intact")
        finally:
            with contextlib.suppress(StoreError):
                slots.remove(name)
        if slots.read(name) is not None:
            raise StoreError(f"{self.name}: a test entry could not be deleted")
