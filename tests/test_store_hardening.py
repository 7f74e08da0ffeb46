"""Issue 9, items 6, 10 and 11 on the encrypted file.

- `status` promises only what `token` delivers: a wrong passphrase or a damaged record
  is reported with token's exit code (1) and a hint, never "logged in" (item 10).
- `cclogin passphrase` re-keys: a new data key, every record re-encrypted, so an old
  copy of the file and the old passphrase open nothing written after the change (item 6).
- Every record of a file has its own nonce, after many writes (item 11).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cclogin.store.encrypted_file import EncryptedFileStore
from cclogin.store.file_format import decode
from cclogin.store.kdf import TEST_DEFAULT
from support.cli import World, make_encrypted_world, write_passphrase_file

KEY = "sk-ant-api03-test-hardening-0001"
LATER_KEY = "sk-ant-api03-test-hardening-0002"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_encrypted_world(tmp_path)


def _status(world: World, **kw) -> tuple[int, dict]:  # type: ignore[no-untyped-def,type-arg]
    human = world.cclogin("status", **kw)
    machine = world.cclogin("status", "--json", **kw)
    doc = json.loads(machine.stdout)
    assert machine.rc == human.rc == doc["exit_code"], (human, machine)
    assert KEY not in human.output + machine.output
    return human.rc, doc


# --- item 10: status on the encrypted file --------------------------------------------


def test_status_and_token_agree_when_all_is_well(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    rc, doc = _status(world)
    assert rc == 0 and "logged in" in doc["summary"]
    assert world.cclogin("token").stdout == KEY + "\n"


def test_status_with_a_wrong_passphrase_is_not_logged_in(world: World, tmp_path: Path) -> None:
    assert world.login("default", KEY).rc == 0
    wrong = write_passphrase_file(tmp_path / "wrong", "not the passphrase")
    extra = {"CCLOGIN_PASSPHRASE_FILE": str(wrong)}
    token = world.cclogin("token", extra=extra)
    assert token.rc == 1 and token.stdout == "", token
    rc, doc = _status(world, extra=extra)
    assert rc == token.rc == 1, doc
    assert "logged in" not in doc["summary"]
    assert "passphrase" in doc["summary"]
    assert "CCLOGIN_PASSPHRASE_FILE" in doc["problem"]  # the hint says what to check
    human = world.cclogin("status", extra=extra)
    assert "fix:" in human.stdout and "passphrase" in human.stdout
    # The right passphrase again: logged in, nothing was changed by the failed runs.
    assert _status(world)[0] == 0


def _flip_inside_record(world: World, name: str) -> None:
    data = world.store_file.read_bytes()
    record = decode(data).find(name)
    assert record is not None
    at = data.index(record.ciphertext) + len(record.ciphertext) // 2
    world.store_file.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])


def test_status_with_a_damaged_record_is_not_logged_in(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    before = world.store_file.read_bytes()
    _flip_inside_record(world, "profile:default")
    assert world.stored_keys() == ["profile:default"]  # the name still lists
    token = world.cclogin("token")
    assert token.rc == 1 and token.stdout == "", token
    rc, doc = _status(world)
    assert rc == token.rc == 1, doc
    assert "logged in" not in doc["summary"]
    assert "integrity" in doc["summary"]
    assert "backup" in doc["problem"]
    world.store_file.write_bytes(before)
    assert _status(world)[0] == 0


def test_status_names_the_damage_even_in_another_profiles_record(world: World) -> None:
    """The file MAC covers every record: one damaged record fails the whole file,
    for status as for token (docs/store-format.md, reading step 5)."""
    assert world.login("default", KEY).rc == 0
    assert world.login("other", LATER_KEY).rc == 0
    assert world.cclogin("switch", "default").rc == 0
    _flip_inside_record(world, "profile:other")
    token = world.cclogin("token")
    assert token.rc == 1
    assert _status(world)[0] == 1


def test_status_with_a_record_missing_is_not_logged_in(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    source_file = Path(world.env["CCLOGIN_PASSPHRASE_FILE"])
    from cclogin.store.passphrase import FileSource

    store = EncryptedFileStore(
        world.store_file, FileSource(source_file), _test_only_kdf=TEST_DEFAULT
    )
    assert store.delete("profile:default")
    assert world.cclogin("token").rc == 3
    assert _status(world)[0] == 3
