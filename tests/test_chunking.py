"""Chunking over an in-memory keychain that enforces Windows Credential Manager's limit."""

from __future__ import annotations

import pytest

from cclogin.errors import StoreCorrupt, StoreError, ValueTooLarge
from cclogin.store import chunking

WINDOWS_BLOB_BYTES = 2560  # CRED_MAX_CREDENTIAL_BLOB_SIZE
ENTRY_CHARS = 1200  # what os_keyring uses for Windows


class LimitedKeychain:
    """Text entries stored as UTF-16, refused above 2,560 bytes like CredWrite does."""

    def __init__(self, limit_bytes: int = WINDOWS_BLOB_BYTES) -> None:
        self.entries: dict[str, str] = {}
        self.limit = limit_bytes
        self.writes: list[str] = []

    def read(self, name: str) -> str | None:
        return self.entries.get(name)

    def write(self, name: str, text: str) -> None:
        if len(text.encode("utf-16-le")) > self.limit:
            raise ValueTooLarge("stub received bad data (1783)")
        self.writes.append(name)
        self.entries[name] = text

    def remove(self, name: str) -> bool:
        return self.entries.pop(name, None) is not None


class TruncatingKeychain(LimitedKeychain):
    """Keeps only the first 1,000 characters and says nothing (the bug we must catch)."""

    def write(self, name: str, text: str) -> None:
        self.writes.append(name)
        self.entries[name] = text[:1000]


class Crash(Exception):
    pass


class CrashingKeychain(LimitedKeychain):
    """Dies (like a killed process) before writing the entry named `crash_on`."""

    crash_on: str | None = None

    def write(self, name: str, text: str) -> None:
        if name == self.crash_on:
            raise Crash(name)
        super().write(name, text)


NINE_KB = bytes((i * 31 + 7) % 256 for i in range(9 * 1024))


def test_nine_kb_value_is_chunked_under_the_windows_limit_and_reads_back() -> None:
    kc = LimitedKeychain()
    assert chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS) is True
    assert len(kc.entries) > 2  # header plus several chunks
    assert all(len(t.encode("utf-16-le")) <= WINDOWS_BLOB_BYTES for t in kc.entries.values())
    assert chunking.read_value(kc, "profile:big") == NINE_KB


def test_delete_removes_the_header_and_every_chunk() -> None:
    kc = LimitedKeychain()
    kc.entries["profile:other"] = "cl1:" + chunking.encode(b"keep me")
    chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS)
    assert chunking.delete_value(kc, "profile:big") is True
    assert set(kc.entries) == {"profile:other"}
    assert chunking.read_value(kc, "profile:big") is None
    assert chunking.delete_value(kc, "profile:big") is False


def test_small_value_uses_one_entry() -> None:
    kc = LimitedKeychain()
    chunking.write_value(kc, "profile:a", b"sk-test-1", ENTRY_CHARS)
    assert list(kc.entries) == ["profile:a"]
    assert chunking.read_value(kc, "profile:a") == b"sk-test-1"


def test_replacing_a_chunked_value_leaves_no_chunks_of_the_old_one() -> None:
    kc = LimitedKeychain()
    chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS)
    newer = NINE_KB[::-1]
    chunking.write_value(kc, "profile:big", newer, ENTRY_CHARS)
    assert chunking.read_value(kc, "profile:big") == newer
    header = chunking.parse_entry(kc.entries["profile:big"])
    assert isinstance(header, chunking.Layout)
    assert len(kc.entries) == 1 + header.chunks
    chunking.write_value(kc, "profile:big", b"small now", ENTRY_CHARS)
    assert list(kc.entries) == ["profile:big"]


def test_an_unchanged_value_is_not_rewritten() -> None:
    kc = LimitedKeychain()
    chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS)
    chunking.write_value(kc, "profile:a", b"same", ENTRY_CHARS)
    kc.writes.clear()
    assert chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS) is False
    assert chunking.write_value(kc, "profile:a", b"same", ENTRY_CHARS) is False
    assert kc.writes == []


def test_a_truncating_backend_is_detected_on_read_back_not_reported_as_success() -> None:
    kc = TruncatingKeychain()
    with pytest.raises(StoreError, match="did not keep"):
        chunking.write_value(kc, "profile:big", NINE_KB, 4000)
    # Nothing half-written is left to be read as the value.
    assert chunking.read_value(kc, "profile:big") is None


def test_a_truncated_rewrite_keeps_the_previous_value() -> None:
    kc = TruncatingKeychain()
    chunking.write_value(kc, "profile:a", b"old", ENTRY_CHARS)
    with pytest.raises(StoreError):
        chunking.write_value(kc, "profile:a", NINE_KB[:2000], 4000)
    assert chunking.read_value(kc, "profile:a") == b"old"


def test_a_crash_between_chunk_writes_and_the_header_leaves_the_old_value_readable() -> None:
    kc = CrashingKeychain()
    chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS)
    newer = NINE_KB[::-1]
    kc.crash_on = "profile:big"  # all new chunks written, killed before the commit
    with pytest.raises(Crash):
        chunking.write_value(kc, "profile:big", newer, ENTRY_CHARS)
    assert chunking.read_value(kc, "profile:big") == NINE_KB
    # The next attempt completes and leaves exactly the new generation.
    kc.crash_on = None
    chunking.write_value(kc, "profile:big", newer, ENTRY_CHARS)
    assert chunking.read_value(kc, "profile:big") == newer


def test_a_crash_midway_through_the_chunks_leaves_the_old_value_readable() -> None:
    kc = CrashingKeychain()
    chunking.write_value(kc, "profile:big", b"old small value", ENTRY_CHARS)
    newer = NINE_KB
    generation = chunking.digest(newer)[: chunking.GEN_LEN]
    kc.crash_on = chunking.chunk_name("profile:big", generation, 3)
    with pytest.raises(Crash):
        chunking.write_value(kc, "profile:big", newer, ENTRY_CHARS)
    assert chunking.read_value(kc, "profile:big") == b"old small value"


def test_a_changed_chunk_fails_the_digest_check() -> None:
    kc = LimitedKeychain()
    chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS)
    name = next(n for n in kc.entries if n.endswith(".1"))
    text = kc.entries[name]
    kc.entries[name] = ("B" if text[0] != "B" else "C") + text[1:]
    with pytest.raises(StoreCorrupt, match="digest"):
        chunking.read_value(kc, "profile:big")


def test_a_missing_chunk_is_reported_as_corrupt_not_as_absent() -> None:
    kc = LimitedKeychain()
    chunking.write_value(kc, "profile:big", NINE_KB, ENTRY_CHARS)
    del kc.entries[next(n for n in kc.entries if n.endswith(".0"))]
    with pytest.raises(StoreCorrupt, match="missing"):
        chunking.read_value(kc, "profile:big")


@pytest.mark.parametrize(
    "entry",
    ["plaintext-secret", "cl1:not base64!", "cl1c:0:" + "0" * 64, "cl1c:2:abc",
     "cl1c:9999999:" + "0" * 64],
)
def test_foreign_or_malformed_entries_are_corrupt(entry: str) -> None:
    kc = LimitedKeychain()
    kc.entries["profile:x"] = entry
    with pytest.raises(StoreCorrupt):
        chunking.read_value(kc, "profile:x")


def test_a_damaged_entry_can_still_be_overwritten_and_deleted() -> None:
    kc = LimitedKeychain()
    kc.entries["profile:x"] = "garbage"
    chunking.write_value(kc, "profile:x", b"fresh", ENTRY_CHARS)
    assert chunking.read_value(kc, "profile:x") == b"fresh"
    kc.entries["profile:x"] = "garbage"
    assert chunking.delete_value(kc, "profile:x") is True
    assert kc.entries == {}


def test_values_over_the_cap_are_refused_before_anything_is_written() -> None:
    kc = LimitedKeychain()
    with pytest.raises(ValueTooLarge):
        chunking.write_value(kc, "k", b"x" * (chunking.MAX_VALUE_BYTES + 1), ENTRY_CHARS)
    assert kc.entries == {}


@pytest.mark.parametrize("value", [b"", b"\x00", b"\xff" * 899, b"\xff" * 900, b"\xff" * 901])
def test_round_trip_around_the_entry_boundary(value: bytes) -> None:
    kc = LimitedKeychain()
    chunking.write_value(kc, "k", value, ENTRY_CHARS)
    assert chunking.read_value(kc, "k") == value
