"""The names of the keys cclogin keeps in each OS keychain (never the secrets).

keyring cannot list entries, so `keys()`, `logout --all` and `doctor` read this file.
One JSON document per machine, `{"v": 1, "backends": {"secret-service": ["k", ...]}}`,
written atomically under a lock. A name (a key, or a chunk entry `key#gen.i`) is added
*before* it is written, so a keychain entry can never exist without the index naming it,
not even the chunks of a write that was killed before its header (drift is always towards
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
        """The store keys (chunk entries, `key#gen.i`, are listed too but not keys)."""
        return sorted(n for n in self.names() if "#" not in n)

    def names(self) -> list[str]:
        """Every entry name cclogin may have written in this backend, chunks included."""
        return sorted(_load(self._path).get(self._backend, []))

    def add(self, key: str) -> bool:
        """Add `key`; True if it was not listed before."""
        return bool(self.add_all([key]))

    def add_all(self, names: list[str]) -> list[str]:
        """List `names` before they are written; returns those that were new."""
        if not names:
            return []
        with file_lock(self._lock):
            backends = _load(self._path)
            listed = backends.setdefault(self._backend, [])
            new = [n for n in names if n not in listed]
            if new:
                listed.extend(new)
                _save(self._path, backends)
            return new

    def discard(self, key: str) -> None:
        self.discard_all([key])

    def discard_all(self, names: list[str]) -> None:
        with file_lock(self._lock):
            backends = _load(self._path)
            listed = backends.get(self._backend, [])
            kept = [n for n in listed if n not in names]
            if len(kept) == len(listed):
                return
            backends[self._backend] = kept
            _save(self._path, backends)
