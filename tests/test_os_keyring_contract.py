"""The SecretStore contract, against a real gnome-keyring-daemon over a private bus."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cclogin.paths import get_paths
from cclogin.store.base import SecretStore
from cclogin.store.os_keyring import OsKeyringStore
from cclogin.testing import StoreContract
from support.secret_service import SecretServiceDaemon

pytestmark = pytest.mark.secret_service


class TestSecretServiceContract(StoreContract):
    @pytest.fixture
    def reopen(self, secret_service: SecretServiceDaemon) -> Callable[[], SecretStore]:
        return lambda: OsKeyringStore("secret-service", get_paths(), timeout=10)

    @pytest.fixture
    def store(self, reopen: Callable[[], SecretStore]) -> SecretStore:
        return reopen()
