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
