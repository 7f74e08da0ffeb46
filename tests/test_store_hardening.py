"""Issue 9, items 6, 10 and 11 on the encrypted file.

- `status` promises only what `token` delivers: a wrong passphrase or a damaged record
  is reported with token's exit code (1) and a hint, never "logged in" (item 10).
- `cclogin passphrase` re-keys: a new data key, every record re-encrypted, so an old
  copy of the file and the old passphrase open nothing written after the change (item 6).
- Every record of a file has its own nonce, after many writes (item 11).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cclogin.errors import StoreCorrupt, WrongPassphrase
from cclogin.secret import Secret
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
    assert "fix:" in human.stderr and "passphrase" in human.stderr
    assert "fix:" not in human.stdout  # stdout keeps only the answer
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


# --- item 6: a passphrase change re-keys ----------------------------------------------


class _Pass:
    description = "a test passphrase"

    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, *, confirm: bool) -> Secret:
        return Secret(self.value)


def _store(path: Path, passphrase: str) -> EncryptedFileStore:
    return EncryptedFileStore(path, _Pass(passphrase), _test_only_kdf=TEST_DEFAULT)


def test_change_passphrase_replaces_the_data_key_and_every_record(tmp_path: Path) -> None:
    path = tmp_path / "store.cclogin"
    store = _store(path, "old-pass")
    for i in range(5):
        store.set(f"profile:p{i}", f"value-{i}".encode())
    old_copy = tmp_path / "old-copy.cclogin"
    shutil.copy2(path, old_copy)
    before = decode(path.read_bytes())
    old_keys = store._unlock(before)

    store.change_passphrase(_Pass("new-pass"))
    after = decode(path.read_bytes())
    new_keys = _store(path, "new-pass")._unlock(after)
    assert new_keys.data_key != old_keys.data_key
    assert [r.name for r in after.records] == [r.name for r in before.records]
    for old, new in zip(before.records, after.records, strict=True):
        assert old.nonce != new.nonce and old.ciphertext != new.ciphertext
    # Every secret survived, under the new passphrase only.
    reopened = _store(path, "new-pass")
    assert {k: reopened.get(k) for k in reopened.keys()} == {
        f"profile:p{i}": f"value-{i}".encode() for i in range(5)
    }
    with pytest.raises(WrongPassphrase):
        _store(path, "old-pass").get("profile:p0")


def test_old_copy_and_old_passphrase_cannot_read_what_is_written_later(tmp_path: Path) -> None:
    """The attack of item 6: the old passphrase plus any old copy of the file."""
    path = tmp_path / "store.cclogin"
    store = _store(path, "old-pass")
    store.set("profile:a", b"written before the change")
    old_copy = decode(path.read_bytes())
    old_keys = _store(tmp_path / "copy.cclogin", "old-pass")._unlock(old_copy)

    store.change_passphrase(_Pass("new-pass"))
    store.set("profile:b", b"written after the change")
    store.set("profile:a", b"overwritten after the change")
    current = decode(path.read_bytes())

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    for name in ("profile:a", "profile:b"):
        record = current.find(name)
        assert record is not None
        with pytest.raises(InvalidTag):
            AESGCM(old_keys.record_key).decrypt(record.nonce, record.ciphertext, record.aad())
    # Splicing the old header onto the new records does not help either.
    spliced = old_copy.header.encode() + path.read_bytes()[len(old_copy.header.encode()) :]
    (tmp_path / "spliced.cclogin").write_bytes(spliced)
    (tmp_path / "spliced.cclogin").chmod(0o600)
    with pytest.raises(StoreCorrupt):
        _store(tmp_path / "spliced.cclogin", "old-pass").get("profile:b")
    assert _store(path, "new-pass").get("profile:b") == b"written after the change"


def test_change_passphrase_through_the_cli_re_encrypts(world: World, tmp_path: Path) -> None:
    assert world.login("default", KEY).rc == 0
    before = decode(world.store_file.read_bytes())
    new = write_passphrase_file(tmp_path / "new-passphrase", "a new passphrase")
    done = world.cclogin("passphrase", "--new-passphrase-file", str(new))
    assert done.rc == 0, done
    assert "re-encrypted" in done.stderr
    after = decode(world.store_file.read_bytes())
    (old,), (fresh,) = before.records, after.records
    assert old.ciphertext != fresh.ciphertext and old.nonce != fresh.nonce
    assert world.cclogin("token").rc == 1  # the old passphrase opens nothing
    token = world.cclogin("token", extra={"CCLOGIN_PASSPHRASE_FILE": str(new)})
    assert token.stdout == KEY + "\n"


# --- item 11: one nonce per record ----------------------------------------------------


def test_every_record_has_its_own_nonce_after_many_writes(tmp_path: Path) -> None:
    path = tmp_path / "store.cclogin"
    store = _store(path, "pass")
    seen: set[bytes] = set()
    for round_ in range(6):
        for i in range(8):
            store.set(f"profile:n{i}", f"value-{round_}-{i}".encode())
            nonces = [r.nonce for r in decode(path.read_bytes()).records]
            assert len(set(nonces)) == len(nonces), "two records share a nonce"
            seen.update(nonces)
    # Across every version of the file too: no nonce was ever used twice.
    assert len(seen) == 6 * 8
    store.change_passphrase(_Pass("pass-2"))
    after = [r.nonce for r in decode(path.read_bytes()).records]
    assert len(set(after)) == 8 and not set(after) & seen
