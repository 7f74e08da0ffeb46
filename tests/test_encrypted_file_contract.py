"""The encrypted-file store meets the same contract as every other backend."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    def store(self, tmp_path: Path) -> SecretStore:
        return EncryptedFileStore(
            tmp_path / "store.cclogin", _Source(), _test_only_kdf=TEST_DEFAULT
        )

    def test_is_a_secret_store(self, store: SecretStore) -> None:
        assert isinstance(store, SecretStore)
        assert store.name == "encrypted-file"
        assert store.storage_class == "encrypted-file"
