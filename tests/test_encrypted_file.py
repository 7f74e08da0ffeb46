"""The encrypted-file store as a user meets it: passphrases, files on disk, failures."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

import pytest

from cclogin.errors import (
    MalformedStore,
    PassphraseUnavailable,
    StoreCorrupt,
    StoreUnavailable,
    ValueTooLarge,
    WrongPassphrase,
)
from cclogin.fsio import DiskFull
from cclogin.secret import Secret
from cclogin.store import encrypted_file
from cclogin.store.encrypted_file import EncryptedFileStore
from cclogin.store.file_format import decode
from cclogin.store.kdf import DEFAULT, TEST_DEFAULT, WEAK_KDF_ENV, KdfParams, derive_kek


class Counting:
    """A passphrase source that records how often, and how, it was asked."""

    def __init__(self, value: str = "test-pass") -> None:
        self.description = "a counting test source"
        self.value = value
        self.calls: list[bool] = []

    def get(self, *, confirm: bool) -> Secret:
        self.calls.append(confirm)
        return Secret(self.value)


def make(path: Path, source: Counting | None) -> EncryptedFileStore:
    return EncryptedFileStore(path, source, _test_only_kdf=TEST_DEFAULT)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.cclogin"


def test_new_store_is_private_asks_with_confirmation_and_hides_values(path: Path) -> None:
    source = Counting()
    store = make(path, source)
    store.set("profile:work", b"sk-test-fake-1")
    assert source.calls == [True]  # created: asked once, with confirmation
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    raw = path.read_bytes()
    assert b"sk-test-fake-1" not in raw and b"test-pass" not in raw
    assert make(path, Counting()).get("profile:work") == b"sk-test-fake-1"


def test_one_instance_derives_at_most_once(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(path, Counting()).set("profile:a", b"1")
    derivations: list[KdfParams] = []

    def counting_derive(secret: Secret, salt: bytes, params: KdfParams) -> bytes:
        derivations.append(params)
        return derive_kek(secret, salt, params)

    monkeypatch.setattr(encrypted_file, "derive_kek", counting_derive)
    source = Counting()
    store = make(path, source)
    store.set("profile:b", b"2")
    assert store.get("profile:a") == b"1"
    store.delete("profile:a")
    store.set("profile:c", b"3")
    assert store.get("profile:never") is None
    assert len(derivations) == 1
    assert source.calls == [False]


def test_missing_file_reads_none_without_a_passphrase(path: Path) -> None:
    source = Counting()
    store = make(path, source)
    assert store.get("profile:a") is None
    assert store.keys() == []
    assert store.delete("profile:a") is False
    assert source.calls == []
    assert not path.exists()


def test_no_source_lists_names_but_refuses_secrets(path: Path) -> None:
    make(path, Counting()).set("profile:a", b"v")
    before = path.read_bytes()
    store = make(path, None)
    assert store.keys() == ["profile:a"]  # names are not secret
    with pytest.raises(PassphraseUnavailable) as caught:
        store.get("profile:a")
    assert caught.value.hint
    with pytest.raises(PassphraseUnavailable):
        store.set("profile:b", b"w")
    assert path.read_bytes() == before


def test_no_source_does_not_create_a_file(path: Path) -> None:
    with pytest.raises(PassphraseUnavailable):
        make(path, None).set("profile:a", b"v")
    assert not path.exists()


def test_wrong_passphrase_is_one_opaque_error_and_changes_nothing(path: Path) -> None:
    make(path, Counting("right-pass")).set("profile:a", b"v")
    before = path.read_bytes()
    store = make(path, Counting("wrong-pass"))
    with pytest.raises(WrongPassphrase) as caught:
        store.get("profile:a")
    assert "wrong-pass" not in caught.value.message + caught.value.hint
    with pytest.raises(WrongPassphrase):
        store.set("profile:b", b"w")
    assert path.read_bytes() == before


def test_change_passphrase_re_keys_every_record(path: Path) -> None:
    old = Counting("old-pass")
    store = make(path, old)
    store.set("profile:a", b"value-a")
    store.set("profile:b", b"value-b")
    before = decode(path.read_bytes())
    new = Counting("new-pass")
    store.change_passphrase(new)
    after = decode(path.read_bytes())
    # Re-keyed (issue 9.6): same names, every record sealed again under a fresh nonce.
    assert [r.name for r in after.records] == [r.name for r in before.records]
    for old_record, new_record in zip(before.records, after.records, strict=True):
        assert old_record.nonce != new_record.nonce
        assert old_record.ciphertext != new_record.ciphertext
    assert after.header.salt != before.header.salt
    assert after.header.wrapped_key != before.header.wrapped_key
    assert new.calls == [True]
    with pytest.raises(WrongPassphrase):
        make(path, Counting("old-pass")).get("profile:a")
    fresh = make(path, Counting("new-pass"))
    assert fresh.get("profile:a") == b"value-a"
    assert fresh.get("profile:b") == b"value-b"
    store.set("profile:c", b"value-c")  # the same instance keeps working
    assert fresh.get("profile:c") == b"value-c"


def test_change_passphrase_with_the_wrong_old_one_changes_nothing(path: Path) -> None:
    make(path, Counting("old-pass")).set("profile:a", b"v")
    before = path.read_bytes()
    new = Counting("new-pass")
    with pytest.raises(WrongPassphrase):
        make(path, Counting("guess")).change_passphrase(new)
    assert new.calls == []  # not even asked
    assert path.read_bytes() == before


def test_change_passphrase_without_a_store_says_so(path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no encrypted store"):
        make(path, Counting()).change_passphrase(Counting("new"))
    assert not path.exists()


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(path, Counting())
    store.set("profile:a", b"kept")
    before = path.read_bytes()

    def full_disk(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(DiskFull):
        store.set("profile:b", b"lost")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.cclogin", "store.cclogin.lock"]
    assert make(path, Counting()).get("profile:a") == b"kept"


def test_a_write_that_does_not_verify_is_never_written(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(path, Counting())
    store.set("profile:a", b"kept")
    before = path.read_bytes()
    real_seal = encrypted_file._seal_record

    def broken_seal(keys: object, name: str, value: bytes, nonce: bytes) -> object:
        return real_seal(keys, name, value + b"!", nonce)  # type: ignore[arg-type]

    monkeypatch.setattr(encrypted_file, "_seal_record", broken_seal)
    with pytest.raises(StoreCorrupt, match="did not verify"):
        store.set("profile:b", b"value")
    assert path.read_bytes() == before
    assert len(list(path.parent.iterdir())) == 2


def test_a_tampered_file_is_not_rewritten(path: Path) -> None:
    make(path, Counting()).set("profile:a", b"v")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # the MAC
    path.write_bytes(bytes(data))
    store = make(path, Counting())
    with pytest.raises(StoreCorrupt, match="integrity"):
        store.set("profile:b", b"w")  # re-MACing would launder the tampering
    with pytest.raises(StoreCorrupt):
        store.delete("profile:a")
    assert path.read_bytes() == bytes(data)


def test_unsafe_files_are_refused(path: Path, tmp_path: Path) -> None:
    make(path, Counting()).set("profile:a", b"v")
    os.chmod(path, 0o644)
    with pytest.raises(StoreUnavailable, match="readable or writable by other users") as caught:
        make(path, Counting()).get("profile:a")
    assert "chmod 600" in caught.value.hint
    os.chmod(path, 0o600)
    link = tmp_path / "link.cclogin"
    link.symlink_to(path)
    with pytest.raises(StoreUnavailable, match="symlink"):
        make(link, Counting()).keys()


def test_values_above_the_limit_are_refused(path: Path) -> None:
    store = make(path, Counting())
    store.set("profile:a", b"small")
    with pytest.raises(ValueTooLarge):
        store.set("profile:b", bytes(encrypted_file.MAX_VALUE + 1))
    assert store.keys() == ["profile:a"]


def test_other_instances_writes_are_seen(path: Path) -> None:
    first, second = make(path, Counting()), make(path, Counting())
    first.set("profile:a", b"1")
    second.set("profile:b", b"2")
    first.set("profile:c", b"3")
    assert first.get("profile:b") == b"2"
    assert second.keys() == ["profile:a", "profile:b", "profile:c"]


def test_deleting_the_last_key_keeps_an_openable_store(path: Path) -> None:
    store = make(path, Counting())
    store.set("profile:a", b"v")
    assert store.delete("profile:a") is True
    assert store.keys() == []
    with pytest.raises(WrongPassphrase):  # the passphrase still guards the empty store
        make(path, Counting("other")).get("profile:a")


def test_probe_is_cheap_and_says_why(path: Path) -> None:
    source = Counting()
    make(path, source).probe()  # no file yet, folder creatable, source present
    with pytest.raises(PassphraseUnavailable):
        make(path, None).probe()
    make(path, source).set("profile:a", b"v")
    source.calls.clear()
    make(path, source).probe()
    assert source.calls == []  # never asks, never derives
    path.write_bytes(b"not a store")
    with pytest.raises(MalformedStore):
        make(path, source).probe()


def test_nothing_secret_in_repr_or_describe(path: Path) -> None:
    store = make(path, Counting("hunter2-fake"))
    store.set("profile:a", b"sk-test-fake-2")
    text = repr(store) + repr(store.describe()) + repr(store._cache)
    assert "hunter2" not in text and "sk-test-fake-2" not in text
    assert "counting test source" in store.describe().description


def test_the_test_only_cost_is_refused_by_a_production_store(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WEAK_KDF_ENV, raising=False)
    make(path, Counting()).set("profile:a", b"v")
    with pytest.raises(MalformedStore, match="below cclogin's minimum"):
        EncryptedFileStore(path, Counting()).get("profile:a")


def test_default_cost_is_rfc9106_and_measured(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(WEAK_KDF_ENV, raising=False)
    assert KdfParams(memory_kib=65536, iterations=3, lanes=4) == DEFAULT
    t0 = time.perf_counter()
    derive_kek(Secret("test-pass"), bytes(16), DEFAULT)
    kdf = time.perf_counter() - t0
    store = EncryptedFileStore(path, Counting())
    t0 = time.perf_counter()
    store.set("profile:a", b"v")
    assert store.get("profile:a") == b"v"
    round_trip = time.perf_counter() - t0
    assert decode(path.read_bytes()).header.kdf == DEFAULT
    weak_path = path.with_name("weak.cclogin")
    t0 = time.perf_counter()
    weak = make(weak_path, Counting())
    weak.set("profile:a", b"v")
    assert weak.get("profile:a") == b"v"
    weak_trip = time.perf_counter() - t0
    with capsys.disabled():
        print(
            f"\n[measure] Argon2id default (64 MiB, t=3, p=4): {kdf * 1000:.0f} ms; "
            f"set+get at default cost: {round_trip * 1000:.0f} ms; "
            f"set+get at test cost: {weak_trip * 1000:.1f} ms"
        )
