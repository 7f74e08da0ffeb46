"""The encrypted-file store meets the same contract as every other backend."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from cclogin import fsio
from cclogin.secret import Secret
from cclogin.store.base import SecretStore
from cclogin.store.encrypted_file import EncryptedFileStore
from cclogin.store.kdf import TEST_DEFAULT
from cclogin.testing import StoreContract


class _Source:
    description = "a contract-test passphrase"

    def get(self, *, confirm: bool) -> Secret:
        return Secret("contract-pass")


class TestEncryptedFileContract(StoreContract):
    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], SecretStore]:
        return lambda: EncryptedFileStore(
            tmp_path / "store.cclogin", _Source(), _test_only_kdf=TEST_DEFAULT
        )

    @pytest.fixture
    def store(self, reopen: Callable[[], SecretStore]) -> SecretStore:
        return reopen()

    @pytest.fixture
    def at_rest(self, tmp_path: Path) -> Callable[[], bytes]:
        return (tmp_path / "store.cclogin").read_bytes

    @pytest.fixture
    def wipe(self, tmp_path: Path) -> Callable[[], None]:
        return (tmp_path / "store.cclogin").unlink

    @pytest.fixture
    def lossy_write(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> Callable[[], AbstractContextManager[None]]:
        real = fsio.atomic_write
        target = "cclogin.store.encrypted_file.atomic_write"

        @contextlib.contextmanager
        def short_writes() -> Iterator[None]:
            # A file system that keeps all but the last byte: the rename succeeds.
            monkeypatch.setattr(target, lambda path, data, **kw: real(path, data[:-1], **kw))
            try:
                yield
            finally:
                monkeypatch.setattr(target, real)

        return short_writes

    def test_is_a_secret_store(self, store: SecretStore) -> None:
        assert isinstance(store, SecretStore)
        assert store.name == "encrypted-file"
        assert store.storage_class == "encrypted-file"
