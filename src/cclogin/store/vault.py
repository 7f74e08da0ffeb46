"""Secrets on a team's HashiCorp Vault / OpenBao (KV version 2), as a SecretStore.

Two shapes:
- `VaultStore`: cclogin's own keys under a prefix (`--backend vault`), one KV secret a
  key, the blob base64 in the field `cclogin`. Writes are check-and-set against the
  version read just before, so two writers never overwrite each other silently;
  `delete` destroys every version and the metadata, so logout's read-back proof
  ("nothing is left") holds on the server too.
- `SharedSecretStore`: one shared secret a team admin keeps at a path (a field such
  as `api_key`), read through the user's own token; read-only from a profile's side.
"""

from __future__ import annotations

import base64
import binascii

from ..errors import InvalidInput, StoreCorrupt
from ..model import ApiKey, StorageClass, dump_credential
from ..secret import Secret
from ..vault.client import VaultClient
from .base import StoreInfo, validate_key

BLOB_FIELD = "cclogin"


class VaultStore:
    name = "vault"
    storage_class: StorageClass = "secret-server"

    def __init__(self, client: VaultClient) -> None:
        self.client = client
        self.prefix = client.settings.prefix

    def __repr__(self) -> str:
        return f"VaultStore({self.client.settings.describe()}, prefix={self.prefix!r})"

    def _path(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes | None:
        entry = self.client.kv_read(self._path(key))
        if entry is None:
            return None
        return _decode(entry.data, self._path(key))

    def set(self, key: str, value: bytes) -> None:
        path = self._path(key)
        data = {BLOB_FIELD: base64.b64encode(value).decode("ascii")}
        version = self.client.kv_write(path, data, cas=self.client.kv_version(path))
        # Read back what was written, by its version: a later writer does not make
        # ours wrong, and a server that kept less than it was given is caught. The
        # read sees at least our version (the client reads what it wrote, on a cluster
        # too), so an older one is a server that lost the write.
        back = self.client.kv_read(path)
        if back is None or back.version < version or (
            back.version == version and _decode(back.data, path) != value
        ):
            raise StoreCorrupt(
                f"vault: {self.client.settings.mount}/{path} did not read back as written",
                "check the server's health; the secret may need to be written again",
            )

    def delete(self, key: str) -> bool:
        path = self._path(key)
        existed = self.client.kv_destroy(path)
        if self.client.kv_read(path) is not None:
            raise StoreCorrupt(f"vault: {self.client.settings.mount}/{path} is still there after destroy")
        return existed

    def keys(self) -> list[str]:
        listed = self.client.kv_list(self.prefix)
        return sorted(k for k in listed if not k.endswith("/"))

    def describe(self) -> StoreInfo:
        where = self.client.settings.describe()
        if self.prefix:
            where += f", prefix {self.prefix}/"
        return StoreInfo(self.name, self.storage_class, f"Vault/OpenBao KV v2 at {where}")

    def probe(self) -> None:
        """A read-only check: the token works and the prefix can be listed."""
        self.client.kv_list(self.prefix)


def _decode(data: dict[str, object], path: str) -> bytes:
    raw = data.get(BLOB_FIELD)
    if not isinstance(raw, str):
        raise StoreCorrupt(
            f"vault: {path} holds no `{BLOB_FIELD}` field; it was not written by cclogin",
            "use another prefix for cclogin's own secrets, or remove the entry",
        )
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise StoreCorrupt(f"vault: {path} holds a `{BLOB_FIELD}` field that is not base64") from None


class SharedSecretStore:
    """One team secret at `path`, field `field`, seen as the profile's API key."""

    name = "vault"
    storage_class: StorageClass = "secret-server"

    def __init__(self, client: VaultClient, path: str, field: str) -> None:
        self.client = client
        self.path = path
        self.field = field

    def __repr__(self) -> str:
        return f"SharedSecretStore({self.where})"

    @property
    def where(self) -> str:
        return f"{self.client.settings.mount}/{self.path}"

    def read_value(self) -> Secret | None:
        entry = self.client.kv_read(self.path)
        if entry is None:
            return None
        value = entry.data.get(self.field)
        if not isinstance(value, str) or not value.strip():
            fields = ", ".join(sorted(str(k) for k in entry.data)) or "none"
            raise StoreCorrupt(
                f"vault: {self.where} has no field {self.field!r} (fields: {fields})",
                "ask the admin to put the key with `cclogin team put`, or pass --vault-field",
            )
        return Secret(value.strip())

    def get(self, key: str) -> bytes | None:
        value = self.read_value()
        return None if value is None else dump_credential(ApiKey(value))

    def set(self, key: str, value: bytes) -> None:
        raise InvalidInput(
            f"{self.where} is a shared team secret; a profile does not write it",
            "an admin changes it with `cclogin team put`",
        )

    def delete(self, key: str) -> bool:
        return False  # never from a profile: `cclogin team rm` is the explicit way

    def keys(self) -> list[str]:
        return []

    def describe(self) -> StoreInfo:
        return StoreInfo(
            self.name,
            self.storage_class,
            f"shared secret {self.where} (field {self.field}) on {', '.join(self.client.settings.addresses)}",
        )
