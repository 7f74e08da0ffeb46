"""Hints a first user follows (issue 10.8), through the real `cclogin`: each says what
really works, fits the flag and the platform, and stdout keeps only the answer."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import World, clean_host_env, open_world, run
from support.legacy_home import LegacyHome

KEY = "sk-ant-api03-" + "h" * 40


@pytest.fixture
def keyring_world(tmp_path: Path) -> Iterator[World]:
    with open_world("secret-service", tmp_path) as w:
        yield w


def _no_keychain_env(tmp_path: Path) -> dict[str, str]:
    """No D-Bus session and no passphrase source: what a bare headless server has."""
    env = clean_host_env()
    env.update(HOME=str(tmp_path / "home"), CCLOGIN_HOME=str(tmp_path / "cclogin"))
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def test_locked_keychain_hint_never_offers_a_second_daemon(keyring_world: World) -> None:
    w = keyring_world
    assert w.login("default", KEY).rc == 0
    assert w.login("work", KEY.replace("h", "w")).rc == 0
    assert w.daemon is not None
    w.daemon.lock()
    try:
        token = w.cclogin("token")
        assert token.rc == 4 and token.stdout == "", token
        assert "`gnome-keyring-daemon --unlock`" not in token.stderr
        assert "--replace --unlock" in token.stderr
        assert "Headless servers and SSH" in token.stderr
        assert "unlock the login keyring from the desktop" in token.stderr

        out = w.cclogin("logout", "--all")
        assert out.rc == 4, out
        error = next(line for line in out.stderr.splitlines() if "error:" in line)
        assert error.count("secret-service") == 1, error  # one reason, said once
        assert "default, work" in error
        assert "--replace --unlock" in out.stderr  # the hint that fits a locked keychain
    finally:
        w.daemon.unlock()


@pytest.mark.parametrize(
    ("flag", "what"), [("--with-api-key", "API key"), ("--with-oauth-token", "token")]
)
def test_empty_stdin_hint_names_the_flag_given_and_this_platforms_tool(
    tmp_path: Path, flag: str, what: str
) -> None:
    env = _no_keychain_env(tmp_path)
    out = run(["login", flag], env, input="")
    assert out.rc == 1, out
    hint = next(line for line in out.stderr.splitlines() if line.startswith("cclogin: hint:"))
    assert what in out.stderr
    assert f"cclogin login {flag}" in hint
    other = "--with-api-key" if flag == "--with-oauth-token" else "--with-oauth-token"
    assert other not in hint
    if sys.platform.startswith("linux"):
        assert "pbpaste" not in hint and "wl-paste" in hint


def test_no_keychain_hint_says_how_to_get_one_headless(tmp_path: Path) -> None:
    env = _no_keychain_env(tmp_path)
    out = run(["login", "--with-api-key"], env, input=KEY + "\n")
    assert out.rc == 4, out
    assert "dbus-run-session" in out.stderr
    assert "CCLOGIN_PASSPHRASE_FILE" in out.stderr and "CCLOGIN_PASSPHRASE_COMMAND" in out.stderr


def test_migrate_dry_run_without_a_store_still_previews(legacy_home: LegacyHome) -> None:
    creds = legacy_home.home / ".claude" / ".credentials.json"
    creds.write_text(json.dumps({"claudeAiOauth": {"accessToken": "sk-ant-oat01-test-0051"}}))
    creds.chmod(0o600)
    before = creds.read_bytes()
    # No passphrase source and no D-Bus: no store at all.
    out = legacy_home.run(
        "migrate", "--dry-run",
        CCLOGIN_BACKEND="", CCLOGIN_PASSPHRASE_FILE="", DBUS_SESSION_BUS_ADDRESS="",
    )
    said = out.stdout + out.stderr
    assert out.returncode == 0, said
    assert "would go to profile 'claude'" in said
    assert "no store is available" in said
    assert "dry run: nothing was changed" in said
    assert creds.read_bytes() == before
    # A real run still stops, with the store's own exit code.
    real = legacy_home.run(
        "migrate", CCLOGIN_BACKEND="", CCLOGIN_PASSPHRASE_FILE="", DBUS_SESSION_BUS_ADDRESS=""
    )
    assert real.returncode == 4, real.stderr
    assert creds.read_bytes() == before


def test_status_fix_line_goes_to_stderr(tmp_path: Path) -> None:
    env = _no_keychain_env(tmp_path)
    env.update(CCLOGIN_BACKEND="encrypted-file", CCLOGIN_TEST_ONLY_WEAK_KDF="1")
    phrase = tmp_path / "pp"
    phrase.write_text("a passphrase for this test\n")
    phrase.chmod(0o600)
    env["CCLOGIN_PASSPHRASE_FILE"] = str(phrase)
    assert run(["login", "--profile", "a", "--with-api-key"], env, input=KEY).rc == 0
    phrase.write_text("not the passphrase\n")  # status cannot unlock: it says how to fix
    out = run(["status"], env)
    assert out.rc == 1, out
    assert "fix:" in out.stderr
    assert "fix:" not in out.stdout
