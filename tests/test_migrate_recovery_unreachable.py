"""Recovery of a killed migrate never reads "could not ask the store" as "not there".

A migrate is killed at a named point; then `status` and `token` run while the store
cannot answer (the encrypted file without a passphrase source; a Secret Service whose
bus address points nowhere, or whose keychain is locked). They must keep the journal,
change nothing (store, plaintext, backup) and say the migration will be finished later.
With the store reachable again, the next command finishes it and `token` gives the
original secret.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from support.legacy_home import LegacyHome
from support.secret_service import SecretServiceDaemon

SECRET = "sk-ant-oat01-test-0002"
SOURCE = ".claude/.credentials.json"
# From "only stored" to "only the journal is left" (plaintext and backup both gone).
POINTS = ("stored", "profile-written", "backup-written", "source-rewritten", "backup-removed")
LATER = "will be finished later"


def _snapshot(home: LegacyHome) -> dict[str, bytes | None]:
    """Every file recovery could touch: journal, backups, metadata, store, the source.

    Not lock files, nor the record of Claude Code locks a dead run held (releasing
    those needs no store and is right whatever the store says)."""
    files: dict[str, bytes | None] = {
        str(p): p.read_bytes()
        for p in home.cclogin_home.rglob("*")
        if p.is_file() and not p.name.endswith(".lock") and p.name != "claude-locks.json"
    }
    source = home.home / SOURCE
    files[str(source)] = source.read_bytes() if source.exists() else None
    return files


def _journals(home: LegacyHome) -> list[Path]:
    return list((home.cclogin_home / "state" / "journal").glob("*.journal.json"))


def _assert_deferred(home: LegacyHome, before: dict[str, bytes | None], **env: str) -> None:
    for args in (("status",), ("token", "--profile", "claude"), ("status", "--json")):
        result = home.run(*args, **env)
        notes = [line for line in result.stderr.splitlines() if LATER in line]
        assert len(notes) == 1, result.stderr
        assert notes[0].startswith("cclogin: note: an interrupted migration of ")
        assert "nothing was lost" not in result.stderr
        assert "rolled back" not in result.stderr
        assert SECRET not in result.stderr
        if args[0] == "token":
            assert result.returncode != 0  # it fails on its own terms: the store is away
            assert result.stdout == ""
    assert _journals(home), "the journal must be kept"
    assert _snapshot(home) == before


def _assert_finished(home: LegacyHome, **env: str) -> None:
    status = home.run("status", **env)
    assert "finished an interrupted migration" in status.stderr, status.stderr
    assert LATER not in status.stderr
    assert home.run("token", "--profile", "claude", **env).stdout == SECRET + "\n"
    assert _journals(home) == []
    assert home.plaintext_left() == []
    assert home.leftovers() == []


@pytest.mark.parametrize("point", POINTS)
def test_encrypted_file_without_passphrase_source(legacy_home: LegacyHome, point: str) -> None:
    legacy_home.install("subscription-login.credentials.json")
    killed = legacy_home.run("migrate", CCLOGIN_TEST_ONLY_CRASH_AT=point)
    assert killed.returncode == -signal.SIGKILL
    before = _snapshot(legacy_home)
    assert _journals(legacy_home)

    _assert_deferred(
        legacy_home, before, CCLOGIN_PASSPHRASE_FILE=str(legacy_home.root / "no-such-file")
    )

    _assert_finished(legacy_home)


def test_migrate_itself_keeps_the_journal_too(legacy_home: LegacyHome) -> None:
    """`migrate` with the store away: the leftover stays, and nothing is rolled back."""
    legacy_home.install("subscription-login.credentials.json")
    legacy_home.run("migrate", CCLOGIN_TEST_ONLY_CRASH_AT="backup-removed")
    before = _snapshot(legacy_home)

    again = legacy_home.run(
        "migrate", CCLOGIN_PASSPHRASE_FILE=str(legacy_home.root / "no-such-file")
    )

    assert LATER in again.stderr
    assert "nothing was lost" not in again.stderr
    assert _snapshot(legacy_home) == before
    _assert_finished(legacy_home)


def _keyring_home(daemon: SecretServiceDaemon, root: Path) -> LegacyHome:
    overlay = daemon.env
    home = LegacyHome(
        root,
        extra_env={
            "CCLOGIN_BACKEND": "secret-service",
            "DBUS_SESSION_BUS_ADDRESS": overlay["DBUS_SESSION_BUS_ADDRESS"],
            "XDG_RUNTIME_DIR": overlay["XDG_RUNTIME_DIR"],
        },
    )
    (home.home / ".claude").mkdir(parents=True)
    return home


@pytest.mark.secret_service
@pytest.mark.parametrize("point", ["stored", "source-rewritten", "backup-removed"])
def test_secret_service_with_no_bus(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path, point: str
) -> None:
    home = _keyring_home(secret_service_daemon, tmp_path)
    home.install("subscription-login.credentials.json")
    killed = home.run("migrate", CCLOGIN_TEST_ONLY_CRASH_AT=point)
    assert killed.returncode == -signal.SIGKILL
    items = secret_service_daemon.items()
    assert items  # the secret is in the keychain
    before = _snapshot(home)

    _assert_deferred(
        home,
        before,
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path / 'no-bus-here'}",
        CCLOGIN_KEYCHAIN_TIMEOUT="5",
    )

    assert secret_service_daemon.items() == items
    _assert_finished(home)


@pytest.mark.secret_service
def test_secret_service_locked(secret_service_daemon: SecretServiceDaemon, tmp_path: Path) -> None:
    home = _keyring_home(secret_service_daemon, tmp_path)
    home.install("subscription-login.credentials.json")
    home.run("migrate", CCLOGIN_TEST_ONLY_CRASH_AT="backup-removed")
    before = _snapshot(home)
    secret_service_daemon.lock()
    try:
        _assert_deferred(home, before, CCLOGIN_KEYCHAIN_TIMEOUT="5")
    finally:
        secret_service_daemon.unlock()
    _assert_finished(home)
