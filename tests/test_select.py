"""Which store cclogin picks: explicit choice, a probed keychain, the encrypted file
with a notice, or a closed door. Against a real Secret Service where one is needed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cclogin.errors import StoreUnavailable, UsageError
from cclogin.paths import Paths, get_paths
from cclogin.store.encrypted_file import EncryptedFileStore
from cclogin.store.os_keyring import OsKeyringStore
from cclogin.store.select import select_store
from support.secret_service import HOST_SESSION_VARS, SecretServiceDaemon


@pytest.fixture
def no_keychain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A machine with no session bus (SSH, CI, container); cclogin's dirs in tmp."""
    if not sys.platform.startswith("linux"):
        pytest.skip("removing the session bus removes the keychain only on Linux")
    for name in HOST_SESSION_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in ("CCLOGIN_PASSPHRASE", "CCLOGIN_PASSPHRASE_FILE", "CCLOGIN_PASSPHRASE_COMMAND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCLOGIN_HOME", str(tmp_path / "cclogin"))
    monkeypatch.setenv("CCLOGIN_KEYCHAIN_TIMEOUT", "10")
    monkeypatch.setenv("CCLOGIN_TEST_ONLY_WEAK_KDF", "1")
    return get_paths()


def _passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "pass.txt"
    path.write_text("test-passphrase-1\n")
    path.chmod(0o600)
    return path


@pytest.mark.secret_service
def test_a_working_secret_service_is_probed_and_chosen(
    secret_service: SecretServiceDaemon,
) -> None:
    selection = select_store(get_paths())
    assert isinstance(selection.store, OsKeyringStore)
    assert (selection.store.name, selection.source, selection.notice) == (
        "secret-service", "probe", None)
    assert secret_service.items() == []  # the probe cleaned up after itself
    selection.store.set("profile:a", b"sk-test-sel")
    assert secret_service.items() == ["profile:a"]


@pytest.mark.secret_service
def test_an_explicit_backend_wins_over_a_working_keychain(
    secret_service: SecretServiceDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCLOGIN_BACKEND", "encrypted-file")
    monkeypatch.setenv("CCLOGIN_PASSPHRASE_FILE", str(_passphrase_file(tmp_path)))
    monkeypatch.setenv("CCLOGIN_TEST_ONLY_WEAK_KDF", "1")
    selection = select_store(get_paths())
    assert isinstance(selection.store, EncryptedFileStore)
    assert selection.source == "CCLOGIN_BACKEND"
    selection.store.set("profile:a", b"sk-test-explicit")
    assert secret_service.items() == []  # nothing went to the keychain
    # The --backend flag beats the variable.
    flagged = select_store(get_paths(), flag="secret-service")
    assert (flagged.store.name, flagged.source) == ("secret-service", "--backend")


def test_an_explicit_keychain_that_does_not_work_is_an_error_not_a_substitute(
    no_keychain: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCLOGIN_PASSPHRASE_FILE", str(_passphrase_file(tmp_path)))
    monkeypatch.setenv("CCLOGIN_BACKEND", "secret-service")
    selection = select_store(no_keychain)
    assert selection.store.name == "secret-service"  # not quietly the encrypted file
    with pytest.raises(StoreUnavailable):
        selection.store.set("profile:a", b"sk-test-x")
    monkeypatch.setenv("CCLOGIN_BACKEND", "keychain")
    with pytest.raises(StoreUnavailable, match="no OS keychain works here"):
        select_store(no_keychain)
    assert not no_keychain.encrypted_store.exists()


def test_an_unknown_explicit_backend_is_refused(
    no_keychain: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCLOGIN_BACKEND", "plaintext")
    with pytest.raises(UsageError, match="unknown backend"):
        select_store(no_keychain)


def test_no_keychain_with_a_passphrase_uses_the_encrypted_file_and_says_so(
    no_keychain: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCLOGIN_PASSPHRASE_FILE", str(_passphrase_file(tmp_path)))
    selection = select_store(no_keychain)
    assert isinstance(selection.store, EncryptedFileStore)
    assert selection.source == "fallback"
    assert selection.notice is not None
    assert "encrypted file" in selection.notice
    assert "secret-service" in selection.notice  # and why the keychain was not used
    selection.store.set("profile:a", b"sk-test-fallback")
    assert selection.store.get("profile:a") == b"sk-test-fallback"
    assert b"sk-test-fallback" not in no_keychain.encrypted_store.read_bytes()


def test_no_keychain_and_no_passphrase_fails_closed(no_keychain: Paths) -> None:
    with pytest.raises(StoreUnavailable) as info:
        select_store(no_keychain)
    assert "ANTHROPIC_API_KEY" in info.value.hint
    assert "plaintext" in info.value.message
    # Nothing was written anywhere under cclogin's folders.
    files = [p for d in no_keychain.all_dirs() if d.exists() for p in d.rglob("*")
             if p.is_file() and not p.name.endswith(".lock")]
    assert files == []
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS") is None
