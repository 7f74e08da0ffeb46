"""The contract every SecretStore must meet, as a test class to subclass.

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path) -> SecretStore:
            return MyStore(...)

        @pytest.fixture
        def reopen(self, tmp_path) -> Callable[[], SecretStore]:
            return lambda: MyStore(...)          # another instance, same backing

Optional hooks (fixtures) a backend overrides where it can:
- `at_rest`: a function returning every byte the backend keeps at rest (a store
  file), or None where the OS encrypts (a keychain): equal values must not show.
- `wipe`: remove the backing entirely (default: delete every key through a second
  instance); the encrypted file unlinks its file, so a new one gets a new header.
- `lossy_write`: a context manager under which the backing silently keeps less than
  it was given; a store that reads back what it wrote must then fail the `set`.

Imported only by test suites (it needs pytest); nothing in cclogin imports it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

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
    # Chunked on Windows (2,560 bytes an entry) and by cclogin's keychain code on Linux.
    "40k": bytes((i * 131 + i // 251) % 256 for i in range(40 * 1024)),
}


class StoreContract:
    """Round trips, overwrite, delete, several keys and keys(), for any backend."""

    @pytest.fixture
    def store(self) -> SecretStore:  # pragma: no cover - always overridden
        raise NotImplementedError

    @pytest.fixture
    def reopen(self) -> Callable[[], SecretStore]:  # pragma: no cover - always overridden
        """A factory of further instances on the same backing as `store` (another
        process's view of it): nothing may be cached across them."""
        raise NotImplementedError

    @pytest.fixture
    def at_rest(self) -> Callable[[], bytes] | None:
        return None

    @pytest.fixture
    def wipe(self, reopen: Callable[[], SecretStore]) -> Callable[[], None]:
        def delete_everything() -> None:
            other = reopen()
            for key in other.keys():
                other.delete(key)

        return delete_everything

    @pytest.fixture
    def lossy_write(self) -> Callable[[], AbstractContextManager[None]] | None:
        return None

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
        assert info.storage_class in ("keychain", "encrypted-file", "secret-server")

    def test_invalid_keys_are_refused(self, store: SecretStore) -> None:
        from .errors import InvalidInput

        for bad in ("", "has\nnewline", "has\rcr", "space key", "x" * 200):
            with pytest.raises(InvalidInput):
                store.set(bad, b"v")

    # --- big values, several instances, several writers -----------------------

    def test_a_chunk_sized_value_round_trips_and_deletes(
        self, store: SecretStore, reopen: Callable[[], SecretStore]
    ) -> None:
        value = VALUES["40k"]
        store.set("contract:big", value)
        assert store.get("contract:big") == value
        assert reopen().get("contract:big") == value
        assert store.keys().count("contract:big") == 1
        store.set("contract:big", b"small again")
        assert reopen().get("contract:big") == b"small again"
        assert store.delete("contract:big") is True
        assert reopen().get("contract:big") is None
        assert "contract:big" not in reopen().keys()

    def test_many_keys_deleted_and_proven_at_once(
        self, store: SecretStore, reopen: Callable[[], SecretStore]
    ) -> None:
        """store/batch.py over this store (its own `delete_many`/`present` where it has
        them, a call per key otherwise), inside one connection, as `logout --all` runs."""
        from .store.batch import delete_many, one_connection, still_there

        keys = [f"contract:many-{i}" for i in range(5)]
        with one_connection():
            for i, key in enumerate(keys):
                store.set(key, VALUES["40k"] if i == 0 else VALUES["ascii"] + bytes([i]))
            store.set("contract:stays", b"kept")
            assert still_there(store, [*keys, "contract:never"]) == set(keys)
            answers = delete_many(store, [*keys, "contract:never"])
            assert answers == {**dict.fromkeys(keys, True), "contract:never": False}
            assert still_there(store, keys) == set()
        other = reopen()
        assert all(other.get(key) is None for key in keys)
        assert set(other.keys()) & set(keys) == set()
        assert other.get("contract:stays") == b"kept"

    def test_two_instances_see_each_others_writes(
        self, store: SecretStore, reopen: Callable[[], SecretStore]
    ) -> None:
        other = reopen()
        store.set("contract:shared", b"written by the first")
        assert other.get("contract:shared") == b"written by the first"
        other.set("contract:shared", b"overwritten by the second")
        assert store.get("contract:shared") == b"overwritten by the second"
        store.set("contract:first-only", b"1")
        assert "contract:first-only" in other.keys()
        assert other.delete("contract:shared") is True
        assert store.get("contract:shared") is None
        assert "contract:shared" not in store.keys()
        assert store.delete("contract:shared") is False
        assert other.get("contract:first-only") == b"1"

    def test_a_backing_removed_and_recreated_meanwhile(
        self,
        store: SecretStore,
        reopen: Callable[[], SecretStore],
        wipe: Callable[[], None],
    ) -> None:
        """Another process removes the store and starts a new one: what this instance
        remembers of the old one (keys, headers) must not be used on the new one."""
        store.set("contract:before", b"old backing")
        assert store.get("contract:before") == b"old backing"
        wipe()
        reopen().set("contract:after", b"new backing")
        assert store.get("contract:after") == b"new backing"
        assert store.get("contract:before") is None
        store.set("contract:again", b"written by the first instance")
        assert reopen().get("contract:again") == b"written by the first instance"
        assert reopen().get("contract:after") == b"new backing"

    def test_concurrent_writers_of_different_keys_lose_nothing(
        self, store: SecretStore, reopen: Callable[[], SecretStore]
    ) -> None:
        writers, rounds = 4, 3
        errors: list[BaseException] = []
        start = threading.Barrier(writers)

        def write(n: int) -> None:
            try:
                own = reopen()
                start.wait(timeout=30)
                for r in range(rounds):
                    own.set(f"contract:conc-{n}-{r}", f"writer {n} round {r}".encode())
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads)
        listed = set(reopen().keys())
        for n in range(writers):
            for r in range(rounds):
                key = f"contract:conc-{n}-{r}"
                assert store.get(key) == f"writer {n} round {r}".encode(), key
                assert key in listed, key

    # --- what is at rest ------------------------------------------------------

    def test_equal_values_never_look_equal_at_rest(
        self, store: SecretStore, at_rest: Callable[[], bytes] | None
    ) -> None:
        """Fresh randomness per encryption: equal values under several keys (or one
        value written twice) must not leave equal bytes behind. A nonce reused under
        one key makes equal plaintexts equal ciphertexts, and leaks XORs of others."""
        if at_rest is None:
            pytest.skip("this backend keeps nothing at rest that cclogin encrypts")
        value = bytes((i * 37 + 11) % 256 for i in range(96))
        for i in range(4):
            store.set(f"contract:same-{i}", value)
        store.set("contract:same-0", value)  # the same value again, same key
        data = at_rest()
        assert value[:16] not in data  # not in the clear either
        window = 24
        seen: set[bytes] = set()
        for at in range(len(data) - window + 1):
            piece = data[at : at + window]
            assert piece not in seen, f"{window} bytes at offset {at} repeat at rest"
            seen.add(piece)

    def test_a_write_the_backing_did_not_keep_is_not_a_success(
        self,
        store: SecretStore,
        lossy_write: Callable[[], AbstractContextManager[None]] | None,
    ) -> None:
        """Read back after writing: a write that did not land must raise, not return."""
        if lossy_write is None:
            pytest.skip("this backend offers no way to make a write come out short")
        from .errors import CcloginError

        store.set("contract:kept", b"kept")
        with lossy_write(), pytest.raises(CcloginError):
            store.set("contract:lost", VALUES["10k"])
