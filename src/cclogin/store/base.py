"""The one protocol every secret backend implements.

Plaintext readers of legacy files are *not* SecretStores (see `migrate/`): nothing
that writes plaintext can ever be selected for writing.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol, runtime_checkable

from ..errors import InvalidInput
from ..model import StorageClass

_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._@-]{0,127}")  # fullmatch: `$` lets "a\n" in


def validate_key(key: str) -> str:
    """Store keys are short ASCII names; CR/LF and the like never get through."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise InvalidInput(
            f"invalid store key {key[:40]!r}",
            "keys are 1-128 characters of letters, digits and : . _ @ -",
        )
    return key


class StoreInfo(NamedTuple):
    """What `backends`, `status` and `doctor` say about a backend."""

    name: str  # stable id: secret-service, macos-keychain, ..., encrypted-file
    storage_class: StorageClass
    description: str  # for people: "GNOME Keyring via Secret Service", a path, ...
    usable: bool | None = None  # None: not probed
    reason: str | None = None  # why it is not usable, in one line


@runtime_checkable
class SecretStore(Protocol):
    """get/set/delete/keys over opaque byte blobs, plus describe().

    Errors: SecretNotFound is never raised by get (it returns None); StoreLocked,
    StoreUnavailable, StoreTimeout and StoreCorrupt (and subclasses) otherwise.
    A successful `set` has been read back and verified before it returns.
    """

    name: str
    storage_class: StorageClass

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> bool: ...

    def keys(self) -> list[str]: ...

    def describe(self) -> StoreInfo: ...
