"""Issue 3, end to end: the real `cclogin` against the real Secret Service and the encrypted file.

login, token, status, switch, one-command profile choice, logout of one and of all;
after every logout nothing of the secret is left in the keyring or on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import BACKENDS, World, clean_host_env, open_world, run, write_passphrase_file

KEY_A = "sk-ant-api03-test-0001"
KEY_B = "sk-ant-api03-test-0002"


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


def profiles_listed(world: World) -> dict[str, bool]:
    """name -> active, from `status --json`."""
    doc = json.loads(world.cclogin("status", "--json").stdout)
    return {row["name"]: row["active"] for row in doc["profiles"]}


def test_full_lifecycle_two_profiles(world: World) -> None:
    first = world.login("personal", KEY_A)
    assert first.rc == 0, first
    assert world.backend in first.stderr  # the user is told where the key went
    assert world.cclogin("token").stdout == KEY_A + "\n"
    # The search used after logout does find a stored secret (in the keyring item, or
    # in the decrypted record), and only there: never in a plain file.
    found = world.traces(KEY_A)
    assert len(found) == 1, found
    assert found[0].startswith(("keyring item", "encrypted record"))

    second = world.login("work", KEY_B)
    assert second.rc == 0, second
    # A new login becomes the active profile.
    token = world.cclogin("token")
    assert (token.rc, token.stdout) == (0, KEY_B + "\n")
    assert token.stderr == ""

    status = world.cclogin("status")
    assert status.rc == 0, status
    assert "'work'" in status.stdout
    assert world.backend in status.stdout
    storage = "keychain" if world.backend == "secret-service" else "encrypted-file"
    assert storage in status.stdout
    assert KEY_A not in status.output and KEY_B not in status.output
    assert profiles_listed(world) == {"personal": False, "work": True}

    switched = world.cclogin("switch", "personal")
    assert switched.rc == 0, switched
    assert world.cclogin("token").stdout == KEY_A + "\n"
    assert profiles_listed(world) == {"personal": True, "work": False}

    # One command on another profile, without switching.
    assert world.cclogin("token", "--profile", "work").stdout == KEY_B + "\n"
    assert world.cclogin("token", "-p", "work").stdout == KEY_B + "\n"
    assert world.cclogin("token", "--profile=work").stdout == KEY_B + "\n"
    assert world.cclogin("token", extra={"CCLOGIN_PROFILE": "work"}).stdout == KEY_B + "\n"
    via_env = world.cclogin("status", "--json", extra={"CCLOGIN_PROFILE": "work"})
    assert json.loads(via_env.stdout)["active"] == "work"
    # ... and the active profile did not move.
    assert world.cclogin("token").stdout == KEY_A + "\n"
    assert profiles_listed(world) == {"personal": True, "work": False}

    # Logout of one profile: its secret is gone everywhere, the other still works.
    out = world.cclogin("logout", "--profile", "work")
    assert out.rc == 0, out
    assert world.traces(KEY_B) == []
    assert world.stored_keys() == ["profile:personal"]
    assert world.cclogin("token").stdout == KEY_A + "\n"
    gone = world.cclogin("token", "--profile", "work")
    assert gone.rc == 3, gone
    assert gone.stdout == ""

    # Logout --all: nothing at all is left.
    world.login("work", KEY_B)
    everything = world.cclogin("logout", "--all")
    assert everything.rc == 0, everything
    assert world.traces(KEY_A) == []
    assert world.traces(KEY_B) == []
    assert world.stored_keys() == []
    after = world.cclogin("status")
    assert after.rc == 3, after
    assert world.cclogin("token").rc == 3


def test_logout_of_the_active_profile_leaves_nothing_active(world: World) -> None:
    assert world.login("solo", KEY_A).rc == 0
    out = world.cclogin("logout")  # no --profile: the active one
    assert out.rc == 0, out
    assert world.traces(KEY_A) == []
    status = world.cclogin("status")
    assert status.rc == 3, status


def test_login_with_oauth_token_goes_through_the_same_store(world: World) -> None:
    token = "sk-ant-oat01-test-0003"
    out = world.login("claude", token, how="--with-oauth-token")
    assert out.rc == 0, out
    assert world.cclogin("token").stdout == token + "\n"
    assert world.cclogin("logout", "--all").rc == 0
    assert world.traces(token) == []


def test_no_keychain_falls_back_to_encrypted_file_with_notice(tmp_path: Path) -> None:
    """No D-Bus, no backend chosen, a passphrase file: the encrypted file, said out loud."""
    env = clean_host_env()
    env.update(
        HOME=str(tmp_path / "home"),
        CCLOGIN_HOME=str(tmp_path / "cclogin"),
        CCLOGIN_PASSPHRASE_FILE=str(write_passphrase_file(tmp_path / "pp")),
        CCLOGIN_TEST_ONLY_WEAK_KDF="1",
    )
    out = run(["login", "--with-api-key"], env, input=KEY_A + "\n")
    assert out.rc == 0, out
    assert "notice" in out.stderr
    assert "encrypted file" in out.stderr
    assert (tmp_path / "cclogin" / "data" / "store.cclogin").exists()
    assert run(["token"], env).stdout == KEY_A + "\n"
    status = run(["status"], env)
    assert status.rc == 0, status
    assert "encrypted-file" in status.stdout


def test_no_keychain_and_no_passphrase_fails_closed(tmp_path: Path) -> None:
    env = clean_host_env()
    env.update(HOME=str(tmp_path / "home"), CCLOGIN_HOME=str(tmp_path / "cclogin"))
    out = run(["login", "--with-api-key"], env, input=KEY_A + "\n")
    assert out.rc == 4, out
    assert "ANTHROPIC_API_KEY" in out.stderr
    assert "plaintext" in out.stderr
    assert KEY_A not in out.output
    written = [p for p in (tmp_path / "cclogin").rglob("*") if p.is_file()] if (
        tmp_path / "cclogin"
    ).exists() else []
    # Lock files may exist; nothing with content, and certainly not the key.
    assert [p for p in written if p.stat().st_size > 0] == []
    assert run(["status"], env).rc == 3
