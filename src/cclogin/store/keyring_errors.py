"""Raw keychain errors (keyring, secretstorage, jeepney, macOS status, winerror) mapped
once, at the backend boundary, to cclogin's errors: locked, unavailable, timed out and
not found stay distinct. Pure functions, unit-tested on every OS.
"""

from __future__ import annotations

from ..errors import (
    CcloginError,
    StoreError,
    StoreLocked,
    StoreTimeout,
    StoreUnavailable,
    ValueTooLarge,
)


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
