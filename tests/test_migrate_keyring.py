"""The main happy path against a real Secret Service (gnome-keyring on a private bus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.legacy_home import VECTORS, LegacyHome
from support.secret_service import SecretServiceDaemon

pytestmark = pytest.mark.secret_service


def test_migrate_into_gnome_keyring(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    overlay = secret_service_daemon.env
    home = LegacyHome(
        tmp_path,
        extra_env={
            "CCLOGIN_BACKEND": "secret-service",
            "DBUS_SESSION_BUS_ADDRESS": overlay["DBUS_SESSION_BUS_ADDRESS"],
            "XDG_RUNTIME_DIR": overlay["XDG_RUNTIME_DIR"],
        },
    )
    (home.home / ".claude").mkdir(parents=True)
    home.install("subscription-login.credentials.json")
    home.install("claude-json-api-key.json")

    result = home.run("migrate")

    assert result.returncode == 0, result.stderr
    assert "in secret-service" in result.stderr
    assert home.token("claude") == "sk-ant-oat01-test-0002"
    assert home.token("claude-api-key") == "sk-ant-api03-test-0001"
    assert {p["storage_class"] for p in home.profiles().values()} == {"keychain"}
    assert home.plaintext_left() == []
    assert (home.home / ".claude.json").read_bytes() == (
        VECTORS / "claude-json-api-key.json.after"
    ).read_bytes()
    assert any("claude" in name for name in secret_service_daemon.items())

    home.run("logout", "--all", check=True)
    assert home.leftovers() == []
    assert secret_service_daemon.items() == []


def test_force_into_another_backend_leaves_no_old_copy(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    overlay = secret_service_daemon.env
    home = LegacyHome(tmp_path)  # the encrypted file first
    home.home.mkdir(parents=True)
    (tmp_path / "passphrase").write_text("correct horse battery staple\n")
    (tmp_path / "passphrase").chmod(0o600)
    assert home.run("login", "--with-api-key", "--profile", "claude-api-key",
                    stdin="sk-ant-api03-test-old-0009\n").returncode == 0
    home.install("claude-json-api-key.json")
    keyring = {
        "CCLOGIN_BACKEND": "secret-service",
        "DBUS_SESSION_BUS_ADDRESS": overlay["DBUS_SESSION_BUS_ADDRESS"],
        "XDG_RUNTIME_DIR": overlay["XDG_RUNTIME_DIR"],
    }
    assert home.run("migrate", **keyring).returncode != 0  # a different value: refused
    result = home.run("migrate", "--force", **keyring)
    assert result.returncode == 0, result.stderr
    home.extra_env.update(keyring)
    assert home.token("claude-api-key") == "sk-ant-api03-test-0001"
    assert home.profiles()["claude-api-key"]["backend"] == "secret-service"
    # The replaced key is gone from the encrypted file, not just forgotten.
    assert b"test-old-0009" not in b"".join(
        p.read_bytes() for p in home.cclogin_home.rglob("*") if p.is_file()
    )
    from cclogin.store.encrypted_file import EncryptedFileStore
    from cclogin.store.kdf import TEST_DEFAULT

    store = EncryptedFileStore(home.cclogin_home / "data" / "store.cclogin", None,
                               _test_only_kdf=TEST_DEFAULT)
    assert store.keys() == []
