"""Bad input and broken states, through the real executable: clear errors, nothing lost."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import BACKENDS, World, open_world

KEY = "sk-ant-api03-test-0021"
NEW_KEY = "sk-ant-api03-test-0022"


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


@pytest.fixture
def keyring_world(tmp_path: Path) -> Iterator[World]:
    with open_world("secret-service", tmp_path) as w:
        yield w


def assert_error(result, rc: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.rc == rc, result
    assert result.stdout == ""
    assert "cclogin: error:" in result.stderr
    assert "cclogin: hint:" in result.stderr
    for word in words:
        assert word in result.stderr, result


# --- login input -------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["", "\n", "   \n\t\n"])
def test_empty_key_is_refused_and_nothing_stored(world: World, given: str) -> None:
    out = world.cclogin("login", "--with-api-key", input=given)
    assert_error(out, 1, "no API key")
    assert world.stored_keys() == []
    assert world.cclogin("status").rc == 3


def test_key_on_argv_is_refused_without_echoing_it(world: World) -> None:
    out = world.cclogin("login", "--with-api-key", KEY)
    assert out.rc == 2, out
    assert "command line" in out.stderr
    assert "stdin" in out.stderr
    assert KEY not in out.output
    assert "test-0021" not in out.output
    assert world.stored_keys() == []
    assert world.traces(KEY) == []


def test_surrounding_whitespace_is_trimmed(world: World) -> None:
    out = world.cclogin("login", "--with-api-key", input=f"  \t{KEY}  \r\n\n")
    assert out.rc == 0, out
    assert world.cclogin("token").stdout == KEY + "\n"


def test_multi_line_key_is_refused(world: World) -> None:
    out = world.cclogin("login", "--with-api-key", input=f"{KEY}\n{NEW_KEY}\n")
    assert_error(out, 1, "line breaks")
    assert KEY not in out.output and NEW_KEY not in out.output
    assert world.stored_keys() == []


def test_existing_profile_needs_force_when_not_interactive(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    again = world.login("default", NEW_KEY)
    assert_error(again, 1, "exists", "--force")
    assert world.cclogin("token").stdout == KEY + "\n"  # the old secret is kept
    assert world.traces(NEW_KEY) == []
    forced = world.login("default", NEW_KEY, "--force")
    assert forced.rc == 0, forced
    assert world.cclogin("token").stdout == NEW_KEY + "\n"
    assert world.traces(KEY) == []  # replaced, not kept beside
    assert world.stored_keys() == ["profile:default"]


def test_unknown_profile_lists_the_known_ones(world: World) -> None:
    assert world.login("alpha", KEY).rc == 0
    assert world.login("beta", NEW_KEY).rc == 0
    for args in (("token", "--profile", "gamma"), ("switch", "gamma"), ("logout", "-p", "gamma")):
        out = world.cclogin(*args)
        assert_error(out, 3, "'gamma'", "alpha", "beta")
    assert world.cclogin("token").stdout == NEW_KEY + "\n"  # nothing switched or removed
    assert world.stored_keys() == ["profile:alpha", "profile:beta"]


# --- the metadata file -------------------------------------------------------------------


def test_corrupt_metadata_is_reported_and_secrets_survive(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    good = world.metadata_file.read_bytes()
    world.metadata_file.write_bytes(b'{"schema": 1, "profiles": {"default": ')
    for args in (("token",), ("status",), ("switch", "default")):
        out = world.cclogin(*args)
        assert out.rc == 1, out
        assert str(world.metadata_file) in out.stderr
        assert "not valid JSON" in out.stderr
        assert "cclogin: hint:" in out.stderr
        assert KEY not in out.output
    refused = world.login("other", NEW_KEY)
    assert refused.rc == 1, refused
    # The keychain entry was never touched: restoring the metadata brings everything back.
    assert world.stored_keys() == ["profile:default"]
    world.metadata_file.write_bytes(good)
    assert world.cclogin("token").stdout == KEY + "\n"


def test_metadata_from_a_newer_cclogin_asks_for_an_upgrade(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    doc = json.loads(world.metadata_file.read_text())
    doc["schema"] = 99
    world.metadata_file.write_text(json.dumps(doc))
    assert_error(world.cclogin("token"), 1, "upgrade")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_group_or_world_readable_metadata_is_refused(world: World, mode: int) -> None:
    assert world.login("default", KEY).rc == 0
    world.metadata_file.chmod(mode)
    for args in (("token",), ("status",)):
        assert_error(world.cclogin(*args), 1, "other users", "chmod 600")
    world.metadata_file.chmod(0o600)
    assert world.cclogin("token").stdout == KEY + "\n"


def test_symlinked_metadata_is_refused(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    real = world.metadata_file.with_name("elsewhere.json")
    world.metadata_file.rename(real)
    world.metadata_file.symlink_to(real)
    for args in (("token",), ("status",), ("switch", "default")):
        assert_error(world.cclogin(*args), 1, "symlink")
    refused = world.login("other", NEW_KEY)
    assert refused.rc == 1, refused
    assert world.metadata_file.is_symlink()  # not replaced behind the user's back
    world.metadata_file.unlink()
    real.rename(world.metadata_file)
    assert world.cclogin("token").stdout == KEY + "\n"


# --- exit codes of status and token in each state ------------------------------------------


def status_and_token(world: World, **kw) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    status = world.cclogin("status", **kw)
    token = world.cclogin("token", **kw)
    if token.rc != 0:
        assert token.stdout == "", token  # never a partial or stale answer
    return status.rc, token.rc


def test_exit_codes_logged_in_and_not(world: World) -> None:
    assert status_and_token(world) == (3, 3)  # no profile at all
    assert world.login("default", KEY).rc == 0
    assert status_and_token(world) == (0, 0)
    assert world.cclogin("status", "--json").rc == 0
    assert json.loads(world.cclogin("status", "--json").stdout)["exit_code"] == 0


def test_exit_codes_needs_login(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    doc = json.loads(world.metadata_file.read_text())
    doc["profiles"]["default"]["needs_login"] = True
    world.metadata_file.write_text(json.dumps(doc))
    assert status_and_token(world) == (5, 5)
    out = world.cclogin("token")
    assert "login" in out.stderr


def remove_secret_behind_cclogins_back(world: World, key: str) -> None:
    if world.daemon is not None:
        subprocess.run(
            ["secret-tool", "clear", "service", "cclogin", "username", key],
            env=world.daemon.environ(),
            check=True,
            timeout=10,
        )
        assert world.daemon.items() == []
        return
    from cclogin.store.encrypted_file import EncryptedFileStore
    from cclogin.store.kdf import TEST_DEFAULT
    from cclogin.store.passphrase import FileSource

    source = FileSource(Path(world.env["CCLOGIN_PASSPHRASE_FILE"]))
    store = EncryptedFileStore(world.store_file, source, _test_only_kdf=TEST_DEFAULT)
    assert store.delete(key)


def test_exit_codes_secret_missing(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    remove_secret_behind_cclogins_back(world, "profile:default")
    status, token = status_and_token(world)
    assert token == 3
    assert status == 3


def test_exit_codes_locked_collection(keyring_world: World) -> None:
    world = keyring_world
    assert world.login("default", KEY).rc == 0
    assert world.daemon is not None
    world.daemon.lock()
    status = world.cclogin("status")
    assert status.rc == 4, status
    assert "locked" in status.stdout
    token = world.cclogin("token")
    assert_error(token, 4, "locked")
    assert KEY not in token.output
    world.daemon.unlock()
    assert status_and_token(world) == (0, 0)


def test_exit_codes_no_dbus_for_a_keychain_profile(keyring_world: World) -> None:
    world = keyring_world
    assert world.login("default", KEY).rc == 0
    assert status_and_token(world, drop=("DBUS_SESSION_BUS_ADDRESS",)) == (4, 4)
    token = world.cclogin("token", drop=("DBUS_SESSION_BUS_ADDRESS",))
    assert "ANTHROPIC_API_KEY" in token.stderr or "keychain" in token.stderr
