"""The names of the keys cclogin keeps in each OS keychain (never the secrets).

keyring cannot list entries, so `keys()`, `logout --all` and `doctor` read this file.
One JSON document per machine, `{"v": 1, "backends": {"secret-service": ["k", ...]}}`,
written atomically under a lock. A key is added *before* its secret is written, so a
keychain entry can never exist without the index naming it (drift is always towards
a listed key with no secret, which `doctor` can report and `delete` can clear).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import MetadataCorrupt
from ..fsio import atomic_write, file_lock, read_private
from ..paths import Paths

VERSION = 1


def _load(path: Path) -> dict[str, list[str]]:
    raw = read_private(path, max_size=4 * 1024 * 1024)
    if raw is None:
        return {}
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MetadataCorrupt(f"{path} is not valid JSON") from None
    backends = doc.get("backends") if isinstance(doc, dict) else None
    if doc.get("v") != VERSION or not isinstance(backends, dict):
        raise MetadataCorrupt(f"{path} is not a cclogin keychain index (version {VERSION})")
    out: dict[str, list[str]] = {}
    for name, keys in backends.items():
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise MetadataCorrupt(f"{path} has a malformed entry for {name!r}")
        out[str(name)] = list(keys)
    return out


def _save(path: Path, backends: dict[str, list[str]]) -> None:
    doc = {"v": VERSION, "backends": {n: sorted(set(k)) for n, k in backends.items() if k}}
    atomic_write(path, json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n")


class KeychainIndex:
    def __init__(self, paths: Paths, backend: str) -> None:
        self._path = paths.keychain_index
        self._lock = paths.lock_file("keychain-index")
        self._backend = backend

    def keys(self) -> list[str]:
        return sorted(_load(self._path).get(self._backend, []))

    def add(self, key: str) -> bool:
        """Add `key`; True if it was not listed before."""
        with file_lock(self._lock):
            backends = _load(self._path)
            keys = backends.setdefault(self._backend, [])
            if key in keys:
                return False
            keys.append(key)
            _save(self._path, backends)
            return True

    def discard(self, key: str) -> None:
        with file_lock(self._lock):
            backends = _load(self._path)
            keys = backends.get(self._backend, [])
            if key not in keys:
                return
            keys.remove(key)
            _save(self._path, backends)
