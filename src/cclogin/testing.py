"""The contract every SecretStore must meet, as a test class to subclass.

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path) -> SecretStore:
            return MyStore(...)

Imported only by test suites (it needs pytest); nothing in cclogin imports it.
"""

from __future__ import annotations

import pytest

from .store.base import SecretStore, StoreInfo

VALUES: dict[str, bytes] = {
    "empty": b"",
    "ascii": b"sk-test-not-a-real-key-0001",
    "binary-looking": bytes(range(256)),
    "nul-and-newlines": b"a\x00b\r\nc\n\x00",
    "unicode": "pässwörd-ключ-密钥-🔑".encode(),
    "punctuation": b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t",
    "json": b'{"v":1,"kind":"api_key","key":"x"}',
    "10k": bytes((i * 7 + 3) % 256 for i in range(10 * 1024)),
}


class StoreContract:
    """Round trips, overwrite, delete, several keys and keys(), for any backend."""

    @pytest.fixture
    def store(self) -> SecretStore:  # pragma: no cover - always overridden
        raise NotImplementedError

    @pytest.mark.parametrize("label", sorted(VALUES))
    def test_round_trip(self, store: SecretStore, label: str) -> None:
        key = f"contract:{label}"
        store.set(key, VALUES[label])
        assert store.get(key) == VALUES[label]

    def test_missing_key_reads_none(self, store: SecretStore) -> None:
        assert store.get("contract:never-written") is None

    def test_overwrite_keeps_only_the_new_value(self, store: SecretStore) -> None:
        store.set("contract:over", b"first")
        store.set("contract:over", b"second, longer than the first")
        assert store.get("contract:over") == b"second, longer than the first"
        store.set("contract:over", b"3")
        assert store.get("contract:over") == b"3"
        assert store.keys().count("contract:over") == 1

    def test_overwrite_large_with_small_and_back(self, store: SecretStore) -> None:
        store.set("contract:size", VALUES["10k"])
        store.set("contract:size", b"small")
        assert store.get("contract:size") == b"small"
        store.set("contract:size", VALUES["10k"])
        assert store.get("contract:size") == VALUES["10k"]

    def test_delete_present_and_absent(self, store: SecretStore) -> None:
        store.set("contract:del", b"gone soon")
        assert store.delete("contract:del") is True
        assert store.get("contract:del") is None
        assert "contract:del" not in store.keys()
        assert store.delete("contract:del") is False

    def test_several_keys_are_independent(self, store: SecretStore) -> None:
        values = {f"contract:many-{i}": f"value-{i}".encode() * (i + 1) for i in range(5)}
        for key, value in values.items():
            store.set(key, value)
        store.delete("contract:many-2")
        for key, value in values.items():
            expected = None if key == "contract:many-2" else value
            assert store.get(key) == expected
        listed = set(store.keys())
        assert {k for k in values if k != "contract:many-2"} <= listed
        assert "contract:many-2" not in listed

    def test_keys_lists_exactly_what_was_written(self, store: SecretStore) -> None:
        before = set(store.keys())
        store.set("contract:k1", b"1")
        store.set("contract:k2", b"2")
        assert set(store.keys()) == before | {"contract:k1", "contract:k2"}

    def test_describe_names_the_backend(self, store: SecretStore) -> None:
        info = store.describe()
        assert isinstance(info, StoreInfo)
        assert info.name == store.name
        assert info.storage_class in ("keychain", "encrypted-file")

    def test_invalid_keys_are_refused(self, store: SecretStore) -> None:
        from .errors import InvalidInput

        for bad in ("", "has\nnewline", "has\rcr", "space key", "x" * 200):
            with pytest.raises(InvalidInput):
                store.set(bad, b"v")
