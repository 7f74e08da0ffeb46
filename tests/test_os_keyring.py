"""OsKeyringStore logic that runs on every OS: allow-list, error mapping, deadline, index.

The keychains themselves are exercised against a real daemon in test_secret_service*.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from cclogin.errors import (
    CcloginError,
    StoreError,
    StoreLocked,
    StoreTimeout,
    StoreUnavailable,
    UsageError,
    ValueTooLarge,
)
from cclogin.paths import Paths
from cclogin.store import keychain_probe, os_keyring
from cclogin.store.deadline import run_with_deadline
from cclogin.store.os_keyring import OsKeyringStore, map_keyring_error

# --- allow-list --------------------------------------------------------------------


def test_the_allow_list_is_exactly_the_five_os_keychains() -> None:
    assert os_keyring.ALL_BACKEND_NAMES == (
        "secret-service", "libsecret", "kwallet", "macos-keychain",
        "windows-credential-manager",
    )
    classes = {n: os_keyring.load_backend_class(n) for n in os_keyring.ALL_BACKEND_NAMES}
    assert {n: f"{c.__module__}.{c.__name__}" for n, c in classes.items()} == {
        "secret-service": "keyring.backends.SecretService.Keyring",
        "libsecret": "keyring.backends.libsecret.Keyring",
        "kwallet": "keyring.backends.kwallet.DBusKeyring",
        "macos-keychain": "keyring.backends.macOS.Keyring",
        "windows-credential-manager": "keyring.backends.Windows.WinVaultKeyring",
    }


@pytest.mark.parametrize(
    "name", ["plaintext", "keyrings.alt.file.PlaintextKeyring", "null", "chainer", "fail", ""]
)
def test_unknown_backend_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown OS keychain backend"):
        OsKeyringStore(name, _paths(tmp_path), timeout=1)


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("linux", ["secret-service", "libsecret", "kwallet"]),
        ("darwin", ["macos-keychain"]),
        ("win32", ["windows-credential-manager"]),
        ("emscripten", []),
    ],
)
def test_platform_backend_names(platform: str, expected: list[str]) -> None:
    assert os_keyring.platform_backend_names(platform) == expected


def test_importing_the_store_module_does_not_import_keyring() -> None:
    code = (
        "import sys, cclogin.store.os_keyring, cclogin.store.select\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keyring', 'secretstorage', 'jeepney', 'cryptography', 'jaraco'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_keyring_property_env_cannot_redirect_our_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYRING_PROPERTY_PREFERRED_COLLECTION", "/org/elsewhere")
    monkeypatch.setenv("KEYRING_PROPERTY_SCHEME", "KeePassXC")
    cls = os_keyring.load_backend_class("secret-service")
    backend = os_keyring._instantiate(cls)
    # Always the default collection, by its alias: never elsewhere, never a new one.
    assert backend.preferred_collection == os_keyring.DEFAULT_COLLECTION_ALIAS
    assert backend._query("cclogin", "k") == {"service": "cclogin", "username": "k"}


# --- error mapping -------------------------------------------------------------------


def _exc(cls_name: str, module: str = "x", base: type[BaseException] = Exception,
         args: tuple[Any, ...] = (), **attrs: Any) -> BaseException:
    cls = type(cls_name, (base,), {"__module__": module})
    exc: BaseException = cls(*args)
    for key, value in attrs.items():
        setattr(exc, key, value)
    return exc


def _wrapped(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


MAPPINGS: list[tuple[str, BaseException, type[CcloginError] | None]] = [
    ("keyring locked", _exc("KeyringLocked"), StoreLocked),
    ("keyring init", _exc("InitError"), StoreUnavailable),
    ("no keyring", _exc("NoKeyringError", base=RuntimeError), StoreUnavailable),
    ("set failed", _exc("PasswordSetError"), StoreError),
    ("delete missing", _exc("PasswordDeleteError"), None),
    ("ss not available", _exc("SecretServiceNotAvailableException"), StoreUnavailable),
    ("ss locked", _exc("LockedException"), StoreLocked),
    ("prompt dismissed", _exc("PromptDismissedException"), StoreLocked),
    ("ss item not found", _exc("ItemNotFoundException"), None),
    ("dbus locked", _exc("DBusErrorResponse", name="org.freedesktop.Secret.Error.IsLocked"),
     StoreLocked),
    ("dbus no daemon",
     _exc("DBusErrorResponse", name="org.freedesktop.DBus.Error.ServiceUnknown"),
     StoreUnavailable),
    ("dbus no reply", _exc("DBusErrorResponse", name="org.freedesktop.DBus.Error.NoReply"),
     StoreTimeout),
    ("no bus socket", FileNotFoundError(2, "No such file"), StoreUnavailable),
    ("no bus env", KeyError("DBUS_SESSION_BUS_ADDRESS"), StoreUnavailable),
    ("timeout", TimeoutError(), StoreTimeout),
    ("not viable", RuntimeError("macOS required"), StoreUnavailable),
    ("no module", ModuleNotFoundError("No module named 'gi'"), StoreUnavailable),
    ("mac not found", _exc("NotFound", "keyring.backends.macOS.api", args=(-25300, "x")), None),
    ("mac ssh locked", _wrapped(_exc("KeyringError"),
                                _exc("Error", "keyring.backends.macOS.api", args=(-25308, "x"))),
     StoreLocked),
    ("mac cancelled", _wrapped(_exc("KeyringLocked"),
                               _exc("KeychainDenied", "keyring.backends.macOS.api",
                                    args=(-128, "x"))), StoreLocked),
    ("mac auth failed", _exc("SecAuthFailure", "keyring.backends.macOS.api", args=(-25293, "")),
     StoreLocked),
    ("mac delete missing", _wrapped(_exc("PasswordDeleteError"),
                                    _exc("NotFound", "keyring.backends.macOS.api",
                                         args=(-25300, "x"))), None),
    ("mac other", _exc("Error", "keyring.backends.macOS.api", args=(-61, "x")), StoreError),
    ("win not found", _exc("error", "pywintypes", winerror=1168), None),
    ("win no logon session", _exc("error", "pywintypes", winerror=1312), StoreUnavailable),
    ("win too large", _exc("error", "pywintypes", winerror=1783), ValueTooLarge),
    ("win other", _exc("error", "pywintypes", winerror=5), StoreError),
    ("anything else", ValueError("odd"), StoreError),
]


@pytest.mark.parametrize(("label", "exc", "expected"), MAPPINGS, ids=[m[0] for m in MAPPINGS])
def test_raw_errors_map_to_one_distinct_error_each(
    label: str, exc: BaseException, expected: type[CcloginError] | None
) -> None:
    mapped = map_keyring_error(exc, "backend")
    if expected is None:
        assert mapped is None, label
    else:
        assert type(mapped) is expected, label
        assert mapped is not None and mapped.message.startswith("backend:")
        assert mapped.hint


def test_locked_unavailable_and_timeout_are_distinct_classes() -> None:
    # Callers branch on these: none may be a subclass of another.
    for a in (StoreLocked, StoreUnavailable, StoreTimeout):
        for b in (StoreLocked, StoreUnavailable, StoreTimeout):
            assert (a is b) == issubclass(a, b)


def test_macos_locked_over_ssh_hint_says_what_to_do() -> None:
    exc = _exc("Error", "keyring.backends.macOS.api", args=(-25308, "x"))
    mapped = map_keyring_error(exc, "macos-keychain")
    assert mapped is not None and "SSH" in mapped.hint and "unlock-keychain" in mapped.hint


def test_a_secret_in_an_argument_never_reaches_the_message() -> None:
    # The secret travels as a call argument; an unknown error reports only its type.
    exc = ValueError("sk-test-leak-me")
    mapped = map_keyring_error(exc, "backend")
    assert mapped is not None and "leak" not in mapped.message + mapped.hint


# --- deadline --------------------------------------------------------------------------


def test_deadline_returns_the_value_and_passes_errors_through() -> None:
    assert run_with_deadline(lambda: 42, 5, "x") == 42
    with pytest.raises(ZeroDivisionError):
        run_with_deadline(lambda: 1 // 0, 5, "x")


def test_deadline_abandons_a_hung_call_with_store_timeout() -> None:
    release = threading.Event()
    try:
        with pytest.raises(StoreTimeout, match=r"did not answer within 0\.2 s"):
            run_with_deadline(release.wait, 0.2, "secret-service: read")
    finally:
        release.set()


def test_a_hung_call_does_not_keep_the_process_alive() -> None:
    code = (
        "import threading\n"
        "from cclogin.store.deadline import run_with_deadline\n"
        "try:\n"
        "    run_with_deadline(threading.Event().wait, 0.2, 'x')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "StoreTimeout"


# --- the store over a fake keyring backend (index, chunks, not-found) ----------------


class FakeWinVault:
    """keyring-shaped, with Credential Manager's size limit and its not-found error."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password.encode("utf-16-le")) > 2560:
            raise _exc("error", "pywintypes", winerror=1783)
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise _wrapped(_exc("PasswordDeleteError"),
                           _exc("error", "pywintypes", winerror=1168))


def _paths(root: Path) -> Paths:
    return Paths(root / "config", root / "data", root / "state")


@pytest.fixture
def win_store(tmp_path: Path) -> tuple[OsKeyringStore, FakeWinVault]:
    store = OsKeyringStore("windows-credential-manager", _paths(tmp_path), timeout=5)
    fake = FakeWinVault()
    store._backend = fake
    return store, fake


def test_large_value_round_trips_through_the_size_limited_backend(
    win_store: tuple[OsKeyringStore, FakeWinVault],
) -> None:
    store, fake = win_store
    value = bytes(range(256)) * 40  # 10 KB
    store.set("profile:big", value)
    assert store.get("profile:big") == value
    assert len(fake.entries) > 5
    assert store.keys() == ["profile:big"]
    assert store.delete("profile:big") is True
    assert fake.entries == {}
    assert store.keys() == []
    assert store.delete("profile:big") is False


def test_keys_come_from_the_index_and_hold_no_secret(
    win_store: tuple[OsKeyringStore, FakeWinVault], tmp_path: Path
) -> None:
    store, _fake = win_store
    store.set("profile:a", b"sk-test-idx-1")
    store.set("profile:b", b"sk-test-idx-2")
    index = _paths(tmp_path).keychain_index.read_bytes()
    assert b"profile:a" in index and b"sk-test-idx" not in index
    again = OsKeyringStore("windows-credential-manager", _paths(tmp_path), timeout=5)
    assert again.keys() == ["profile:a", "profile:b"]
    other = OsKeyringStore("secret-service", _paths(tmp_path), timeout=5)
    assert other.keys() == []  # each backend has its own list


def test_a_failed_first_write_is_not_left_in_the_index(
    win_store: tuple[OsKeyringStore, FakeWinVault],
) -> None:
    store, fake = win_store

    def refuse(service: str, username: str, password: str) -> None:
        raise _exc("PasswordSetError", args=("refused",))

    fake.set_password = refuse  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="refused the write"):
        store.set("profile:a", b"sk-test-x")
    assert store.keys() == []


def test_round_trip_writes_reads_deletes_and_leaves_nothing(
    win_store: tuple[OsKeyringStore, FakeWinVault], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, fake = win_store
    # The real WinVaultKeyring says "not viable" off Windows; the fake stands in.
    monkeypatch.setattr(os_keyring, "load_backend_class", lambda name: FakeWinVault)
    monkeypatch.setattr(FakeWinVault, "priority", 5, raising=False)
    writes: list[str] = []
    real_set = fake.set_password
    monkeypatch.setattr(fake, "set_password", lambda s, u, p: (writes.append(u), real_set(s, u, p)))
    store.round_trip()
    assert len(writes) == 1 and writes[0].startswith(keychain_probe.PROBE_PREFIX)
    assert fake.entries == {}
    assert store.keys() == []


def test_probe_only_reads(
    win_store: tuple[OsKeyringStore, FakeWinVault], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, fake = win_store
    monkeypatch.setattr(FakeWinVault, "priority", 5, raising=False)
    calls: list[str] = []
    for method in ("set_password", "delete_password"):
        monkeypatch.setattr(fake, method, lambda *a, m=method: calls.append(m))
    store.probe()
    assert calls == []  # no test entry written, none deleted
    assert store.keys() == []
    fake.get_password = lambda s, u: (_ for _ in ()).throw(  # type: ignore[method-assign]
        _exc("error", "pywintypes", winerror=1312))
    with pytest.raises(StoreUnavailable, match="no logon session"):
        store.probe()  # what the read says is what the probe says


def test_probe_off_its_platform_says_unavailable(tmp_path: Path) -> None:
    other = "macos-keychain" if sys.platform != "darwin" else "windows-credential-manager"
    store = OsKeyringStore(other, _paths(tmp_path), timeout=5)
    with pytest.raises(StoreUnavailable, match=other):
        store.probe()


def test_repr_and_describe_name_the_backend(
    win_store: tuple[OsKeyringStore, FakeWinVault],
) -> None:
    store, _ = win_store
    assert store.describe().name == "windows-credential-manager"
    assert store.describe().storage_class == "keychain"
    assert "windows-credential-manager" in repr(store)


def test_a_transient_no_such_object_on_write_is_retried_once(
    win_store: tuple[OsKeyringStore, FakeWinVault],
) -> None:
    # gnome-keyring now and then answers CreateItem with "no such object" when many
    # clients write at once; secretstorage turns that into ItemNotFoundException.
    store, fake = win_store
    real_set = fake.set_password
    failures = iter([_exc("ItemNotFoundException")])

    def flaky(service: str, username: str, password: str) -> None:
        err = next(failures, None)
        if err is not None:
            raise err
        real_set(service, username, password)

    fake.set_password = flaky  # type: ignore[method-assign]
    store.set("profile:a", b"sk-test-retry")
    assert store.get("profile:a") == b"sk-test-retry"


def test_a_write_that_keeps_failing_names_what_the_keychain_said(
    win_store: tuple[OsKeyringStore, FakeWinVault],
) -> None:
    store, fake = win_store

    def missing(service: str, username: str, password: str) -> None:
        raise _exc("ItemNotFoundException")

    fake.set_password = missing  # type: ignore[method-assign]
    with pytest.raises(StoreError, match=r"the write failed \(ItemNotFoundException\)"):
        store.set("profile:a", b"sk-test-retry")
    assert store.keys() == []


class _Killed(BaseException):
    """Stands in for SIGKILL: no `except Exception` cleanup runs."""


def test_chunks_of_a_write_killed_before_its_header_are_swept_later(
    win_store: tuple[OsKeyringStore, FakeWinVault], tmp_path: Path,
) -> None:
    store, fake = win_store
    old = bytes(range(256)) * 20
    store.set("profile:big", old)
    committed = dict(fake.entries)
    real_set = fake.set_password

    def die_at_the_header(service: str, username: str, password: str) -> None:
        if username == "profile:big":  # every chunk is written, then the commit dies
            raise _Killed
        real_set(service, username, password)

    fake.set_password = die_at_the_header  # type: ignore[method-assign]
    with pytest.raises(_Killed):
        store.set("profile:big", bytes(reversed(old)))
    fake.set_password = real_set  # type: ignore[method-assign]
    assert len(fake.entries) > len(committed)  # orphan chunks of the new generation
    # A later process: the old value still reads, and its next write sweeps the orphans.
    later = OsKeyringStore("windows-credential-manager", _paths(tmp_path), timeout=5)
    later._backend = fake
    assert later.get("profile:big") == old
    later.set("profile:big", b"small now")
    assert set(fake.entries) == {("cclogin", "profile:big")}
    assert later.keys() == ["profile:big"]
    assert later.delete("profile:big") is True
    assert fake.entries == {}
    assert _paths(tmp_path).keychain_index.read_text().count("#") == 0
