"""Many keys in one command: `logout --all`, and logins of many profiles (issue 13.5).

The SecretStore protocol stays one key per call. A store may also offer
- `delete_many(keys) -> {key: existed (bool) or the CcloginError that kept it}`: every
  key deleted and verified as `delete` would, with its bookkeeping written once (the
  encrypted file: one rewrite; the OS keychain: one index rewrite per group of keys);
- `present(keys) -> keys`: which of them still have an entry, in one pass where the
  store can list its entries (the Secret Service: one search);
and `one_connection()` makes every Secret Service call of the block share one D-Bus
connection (store/os_keyring.py). Stores without them (Vault) get one call per key here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from ..errors import CcloginError
from .base import SecretStore


def one_connection() -> AbstractContextManager[None]:
    """`with one_connection():` the whole command talks to the Secret Service over one
    connection (imports no keyring: that happens at the first keychain call)."""
    from .os_keyring import one_connection as held

    return held()


def delete_many(store: SecretStore, keys: list[str]) -> dict[str, bool | CcloginError]:
    """Delete every key: whether it existed, or the error that kept it. Never raises a
    store's error: each key gets its own answer."""
    batch = getattr(store, "delete_many", None)
    if callable(batch):
        try:
            answers: dict[str, bool | CcloginError] = dict(batch(keys))
        except CcloginError as exc:
            return {key: exc for key in keys}
        return {key: answers.get(key, False) for key in keys}
    out: dict[str, bool | CcloginError] = {}
    for key in keys:
        try:
            out[key] = store.delete(key)
        except CcloginError as exc:
            out[key] = exc
    return out


def still_there(store: SecretStore, keys: list[str]) -> set[str]:
    """Those of `keys` the store still holds (readable, or an entry the read-back pass
    lists) or still lists in `keys()`: the proof after a deletion, one pass where the
    store offers `present`. Raises the store's error when it cannot answer."""
    present = getattr(store, "present", None)
    if callable(present):
        found = set(present(keys))
    else:
        found = {key for key in keys if store.get(key) is not None}
    listed = set(store.keys())
    return {key for key in keys if key in found or key in listed}
