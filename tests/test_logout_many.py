"""Issue 13, item 5: `logout --all` and logins of many profiles, at a cost linear in the
number of profiles with a small constant.

Counted from outside the real `cclogin` on the real Secret Service fixture: every D-Bus
method call on the private bus (a `dbus-monitor`, support/command_cost.py), the
connections opened (Hello), and the rewrites of the metadata file, the keychain index
and the encrypted file (inotify on their folders). Each logout is proven from the
daemon's side too: no item with the service "cclogin" is left (`secret-tool search`).

Why K = 16 D-Bus calls per profile for `logout --all` (keyring and secretstorage, over
the command's one connection): reading the secret (for the plaintext sweep and the
revocation) and reading it again inside the delete (the chunk layout) each cost
SearchItems, the item's Label (secretstorage checks it exists), Unlock and Locked (keyring
unlocks each item it reads), Locked again and GetSecret: 6 twice; the delete itself
SearchItems, Label, Locked and Delete: 4. The read-back proof is one SearchItems for all
profiles. Everything else (Hello, AddMatch, OpenSession, the collection's Label and
Locked, the proof, the orphan walks) is paid once per command, whatever the number.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import WEAK_KDF, World, make_encrypted_world, open_world, write_passphrase_file
from support.command_cost import BusCount, Rewrites, api_key, make_profiles
from support.secret_service import SecretServiceDaemon

pytestmark = pytest.mark.secret_service

K = 16  # D-Bus calls per profile (module docstring)
FIXED = 40  # calls per command whatever the number of profiles (measured: 24)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("secret-service", tmp_path) as w:
        yield w


def _daemon(world: World) -> SecretServiceDaemon:
    assert world.daemon is not None
    return world.daemon


def _left_in_keyring(world: World) -> str:
    """What `secret-tool` finds under the service "cclogin", locked items included."""
    found = subprocess.run(["secret-tool", "search", "--all", "service", "cclogin"],
                           env=_daemon(world).environ(), capture_output=True, text=True,
                           check=False, timeout=30)
    return found.stdout + found.stderr


def _watched(world: World, tmp_path: Path, *args: str, **kw: object):  # type: ignore[no-untyped-def]
    """Run cclogin once: (result, bus counter, file rewrites)."""
    folders = (world.home / "config", world.home / "data")
    log = tmp_path / f"bus-{time.monotonic_ns()}.log"
    if world.daemon is None:
        with Rewrites(*folders) as files:
            return world.cclogin(*args, **kw), None, files  # type: ignore[arg-type]
    with BusCount(world.daemon, log) as bus, Rewrites(*folders) as files:
        res = world.cclogin(*args, **kw)  # type: ignore[arg-type]
    return res, bus, files


def _profiles(world: World) -> dict[str, object]:
    if not world.metadata_file.exists():
        return {}
    profiles: dict[str, object] = json.loads(world.metadata_file.read_text())["profiles"]
    return profiles


def _file_keys(world: World) -> list[str]:
    """The encrypted file's record names (no passphrase needed for names)."""
    from cclogin.store.encrypted_file import EncryptedFileStore
    from cclogin.store.kdf import TEST_DEFAULT

    if not world.store_file.exists():
        return []
    return sorted(EncryptedFileStore(world.store_file, None, _test_only_kdf=TEST_DEFAULT).keys())


# --- cost --------------------------------------------------------------------------------


def test_logout_all_is_one_connection_one_write_and_linear(world: World, tmp_path: Path) -> None:
    calls = {}
    for count in (10, 50):
        make_profiles(world.env, "secret-service", count)
        assert len(_daemon(world).items()) == count
        res, bus, files = _watched(world, tmp_path, "logout", "--all")
        assert res.rc == 0, res
        assert "verified: no copy" in res.stderr
        assert bus is not None
        assert bus.connections() == 1, bus.members()  # one connection for everything
        assert files.count("metadata.json") == 1, files.counts()
        assert files.count("keychain-index.json") == 1, files.counts()  # 64 keys a rewrite
        # Proven from the daemon's side: nothing of cclogin's is left, and nothing else
        # of the command is: no profile, no index line.
        assert "cclogin" not in _left_in_keyring(world)
        assert _daemon(world).items() == []
        assert _profiles(world) == {}
        assert json.loads((world.home / "data" / "keychain-index.json").read_text())[
            "backends"] == {}
        assert res.stderr.count("removed secret of") == count
        calls[count] = len(bus.calls())
        assert calls[count] <= FIXED + K * count, bus.members()
    assert calls[50] - calls[10] <= 40 * K, calls


def test_one_more_login_costs_the_same_beside_10_or_50_profiles(
    world: World, tmp_path: Path
) -> None:
    """A login is one profile: nothing in it grows with the profiles already there. It
    opens one connection (the backend's round trip, the write and its read-back share
    it), writes the metadata once and the index a fixed number of times (the round
    trip's entry listed and unlisted, the key listed)."""
    cost = {}
    for count, first in ((10, 0), (40, 10)):
        make_profiles(world.env, "secret-service", count, first=first)
        res, bus, files = _watched(world, tmp_path, "login", "--with-api-key", "--profile",
                                   f"extra{count}", "--no-switch", input=api_key(900 + count) + "\n",
                                   drop=("CCLOGIN_BACKEND",))  # selected as users run it
        assert res.rc == 0, res
        assert bus is not None
        assert bus.connections() == 1, bus.members()
        assert files.count("metadata.json") == 1, files.counts()
        assert files.count("keychain-index.json") <= 3, files.counts()
        cost[count] = bus.members()
    assert cost[10] == cost[40], cost  # call for call the same, at 10 and 50 profiles
    assert world.cclogin("token", "--profile", "extra40").stdout == api_key(940) + "\n"


def test_migrate_of_many_files_is_one_connection_and_linear(world: World) -> None:
    """`migrate` of N plaintext files: one connection (the selection's round trip and
    every file's write and read-back share it), about 22 calls per file (the write with
    its read-backs, then migrate's own). Its metadata is written once per file, by
    design: the crash-safe order of migrations/ has the profile recorded before that
    file's plaintext goes."""
    calls = {}
    for count, first in ((2, 0), (6, 10)):
        files = []
        for i in range(first, first + count):
            env_file = world.root / "home" / f"proj{i}" / ".env"
            env_file.parent.mkdir(parents=True)
            env_file.write_text(f"ANTHROPIC_API_KEY={api_key(i)}\n")
            env_file.chmod(0o600)
            files += ["--from", str(env_file)]
        res, bus, rewrites = _watched(world, world.root, "migrate", *files,
                                      drop=("CCLOGIN_BACKEND",))
        assert res.rc == 0, res
        assert f"done: {count} file(s) migrated into secret-service" in res.stderr, res
        assert bus is not None
        assert bus.connections() == 1, bus.members()
        assert rewrites.count("metadata.json") == count, rewrites.counts()
        calls[count] = len(bus.calls())
    assert calls[6] - calls[2] <= 4 * 24, calls
    assert world.cclogin("token", "--profile", "env-proj13").stdout == api_key(13) + "\n"


def test_logout_all_on_the_encrypted_file_rewrites_it_once(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    make_profiles(world.env, "encrypted-file", 50)
    assert len(world.stored_keys()) == 50
    res, _bus, files = _watched(world, tmp_path, "logout", "--all")
    assert res.rc == 0, res
    assert files.count("store.cclogin") == 1, files.counts()
    assert files.count("metadata.json") == 1, files.counts()
    assert world.stored_keys() == []
    assert _profiles(world) == {}
    assert world.traces(api_key(7)) == []


# --- what is reported, and what is left, when not everything can go -----------------------


def test_a_profile_whose_secret_is_already_gone_is_still_logged_out(world: World) -> None:
    names = make_profiles(world.env, "secret-service", 5)
    cleared = subprocess.run(["secret-tool", "clear", "service", "cclogin", "username",
                              f"profile:{names[2]}"], env=_daemon(world).environ(),
                             check=False, timeout=30)
    assert cleared.returncode == 0
    res = world.cclogin("logout", "--all")
    assert res.rc == 0, res
    assert res.stderr.count("removed secret of") == 4  # the fifth was gone already
    assert f"removed profile '{names[2]}'" in res.stderr
    assert _profiles(world) == {}
    assert "cclogin" not in _left_in_keyring(world)


def test_a_locked_keychain_keeps_its_profiles_and_the_file_ones_go(
    world: World, tmp_path: Path
) -> None:
    """Two stores, the keychain locked: its profiles stay (entry and secret, said once
    with the locked keychain's hint), the encrypted file's are logged out, in one
    metadata write; unlocked, a second run finishes."""
    world.env.update(WEAK_KDF)
    world.env["CCLOGIN_PASSPHRASE_FILE"] = str(write_passphrase_file(tmp_path / "passphrase"))
    keyring = make_profiles(world.env, "secret-service", 3)
    in_file = make_profiles(world.env, "encrypted-file", 3, first=3)
    daemon = _daemon(world)
    daemon.lock()
    try:
        res, bus, files = _watched(world, tmp_path, "logout", "--all")
        assert res.rc == 4, res
        error = next(line for line in res.stderr.splitlines() if "error:" in line)
        assert error.count("secret-service") == 1 and ", ".join(keyring) in error, error
        assert "--replace --unlock" in res.stderr
        assert bus is not None and bus.connections() == 1, bus.members()
        assert bus.members()["Unlock"] <= 1, bus.members()  # asked once, not per profile
        assert files.count("metadata.json") == 1, files.counts()
        assert sorted(_profiles(world)) == keyring
        assert daemon.is_locked()
        assert sorted(daemon.items()) == [f"profile:{n}" for n in keyring]
        assert not set(in_file) & set(_profiles(world))  # went, though the error is all
        assert _file_keys(world) == []  # that is printed (as before)
    finally:
        daemon.unlock()
    again = world.cclogin("logout", "--all")
    assert again.rc == 0, again
    assert _profiles(world) == {}
    assert "cclogin" not in _left_in_keyring(world)
    assert world.traces(api_key(1)) == [] and world.traces(api_key(4)) == []


def test_a_hung_keychain_costs_one_timeout_not_one_per_profile(world: World) -> None:
    """The command's connection is not spoken over once a call on it was given up on:
    every later call fails at once, so 20 profiles wait about as long as one."""
    make_profiles(world.env, "secret-service", 20)
    timeout = 1.0
    with _daemon(world).frozen():
        res = world.cclogin("logout", "--all",
                            extra={"CCLOGIN_KEYCHAIN_TIMEOUT": str(timeout)})
    assert res.rc == 4, res
    # One call waited out the deadline; every later one was not even tried (before:
    # one full wait per profile, 20 in all). Counted from what it says, not timed.
    assert res.stderr.count("did not answer within") == 1, res
    assert "not asked" in res.stderr, res
    assert len(_profiles(world)) == 20  # nothing was logged out: nothing claims otherwise
    again = world.cclogin("logout", "--all")
    assert again.rc == 0, again
    assert "cclogin" not in _left_in_keyring(world)


def test_a_full_disk_leaves_entries_of_gone_secrets_and_no_orphan(
    world: World, tmp_path: Path
) -> None:
    """The metadata cannot be written (a full tmpfs): every secret is deleted and proven
    gone, each profile says only its entry is left, no secret is left without an entry,
    and a rerun once there is room finishes."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    from test_logout_full_disk import full_tmpfs_over

    names = make_profiles(world.env, "secret-service", 12)
    with full_tmpfs_over(world.metadata_file.parent) as filler:
        res = world.cclogin("logout", "--all")
        assert res.rc != 0, res
        assert res.stderr.count("its secret is gone") == 12, res
        assert "still stored" not in res.stderr, res
        assert _daemon(world).items() == []  # no secret went without its entry staying
        assert sorted(_profiles(world)) == names
        filler.unlink()
        again = world.cclogin("logout", "--all")
        assert again.rc == 0, again
        assert _profiles(world) == {}
