"""The metadata file: every profile's non-secret side and the active-profile pointer.

One JSON file in the config dir, written atomically under a cross-process lock. The
active profile is a pointer here, never a second keychain copy (gh #10136). No secret
ever reaches this file; `schema` records its version for `migrations/`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from ..errors import MetadataCorrupt, ProfileNotFound
from ..fsio import atomic_write, file_lock, read_private
from ..model import Profile, ProfileName
from ..paths import Paths

SCHEMA_VERSION = 1
MAX_METADATA_BYTES = 4 << 20


class Metadata:
    # A plain class: `dataclasses` stays off the token hot path (see model.py).
    def __init__(
        self,
        profiles: dict[str, Profile] | None = None,
        active: str | None = None,
        schema: int = SCHEMA_VERSION,
    ) -> None:
        self.profiles: dict[str, Profile] = {} if profiles is None else profiles
        self.active = active
        self.schema = schema

    def __repr__(self) -> str:
        return f"Metadata(profiles={sorted(self.profiles)}, active={self.active!r})"

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ProfileNotFound(
                f"no profile named {shown_name(name)}",
                _known_hint(self),
            ) from None

    def put(self, profile: Profile) -> None:
        self.profiles[profile.name] = profile

    def remove(self, name: str) -> Profile | None:
        removed = self.profiles.pop(name, None)
        if self.active == name:
            self.active = None
        return removed

    def mark(self, name: str, **changes: Any) -> Profile:
        updated = self.get(name)._replace(**changes)
        self.put(updated)
        return updated

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "active": self.active,
            "profiles": {n: p.to_json() for n, p in sorted(self.profiles.items())},
        }


def looks_like_key(name: str) -> bool:
    return name.startswith("sk-ant-")


def shown_name(name: str) -> str:
    """A profile name as messages show it: never a key pasted where a name goes."""
    return "(a value that looks like a key; not shown)" if looks_like_key(name) else repr(name)


def _known_hint(meta: Metadata) -> str:
    if not meta.profiles:
        return "no profiles exist yet; log in with `cclogin login --with-api-key`"
    return "known profiles: " + ", ".join(sorted(meta.profiles))


def parse_metadata(data: bytes, where: str) -> Metadata:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MetadataCorrupt(f"{where} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise MetadataCorrupt(f"{where} is not a JSON object")
    schema = doc.get("schema")
    if schema != SCHEMA_VERSION:
        if isinstance(schema, int) and schema > SCHEMA_VERSION:
            raise MetadataCorrupt(
                f"{where} has schema {schema}, newer than this cclogin knows",
                "upgrade cclogin",
            )
        raise MetadataCorrupt(f"{where} has an unknown schema version")
    raw_profiles = doc.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise MetadataCorrupt(f"{where}: 'profiles' is not an object")
    profiles: dict[str, Profile] = {}
    for name, raw in raw_profiles.items():
        try:
            profile = Profile.from_json(raw)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MetadataCorrupt(f"{where}: profile {str(name)[:64]!r} is malformed") from None
        if profile.name != name:
            raise MetadataCorrupt(f"{where}: profile {str(name)[:64]!r} names itself otherwise")
        profiles[name] = profile
    active = doc.get("active")
    if active is not None and (not isinstance(active, str) or active not in profiles):
        active = None  # a dangling pointer is harmless: nothing is active
    return Metadata(profiles=profiles, active=active)


def read_metadata(paths: Paths) -> Metadata:
    """The current metadata (empty when the file does not exist yet)."""
    data = read_private(paths.metadata_file, MAX_METADATA_BYTES)
    if data is None:
        return Metadata()
    return parse_metadata(data, str(paths.metadata_file))


def write_metadata(paths: Paths, meta: Metadata) -> None:
    blob = json.dumps(meta.to_json(), indent=2, sort_keys=True).encode() + b"\n"
    atomic_write(paths.metadata_file, blob)


@contextlib.contextmanager
def metadata_lock(paths: Paths) -> Iterator[None]:
    with file_lock(paths.lock_file("metadata")):
        yield


@contextlib.contextmanager
def editing_metadata(paths: Paths) -> Iterator[Metadata]:
    """Read-modify-write under the lock; written only if the block succeeds."""
    with metadata_lock(paths):
        meta = read_metadata(paths)
        yield meta
        write_metadata(paths, meta)


def resolve_name(meta: Metadata, explicit: str | None) -> ProfileName:
    """`--profile`/CCLOGIN_PROFILE (already folded into `explicit`) or the active one."""
    if explicit:
        return meta.get(explicit).name
    if meta.active:
        return meta.get(meta.active).name
    if not meta.profiles:
        from ..errors import NotLoggedIn

        raise NotLoggedIn("not logged in: no profile exists")
    from ..errors import NotLoggedIn

    raise NotLoggedIn(
        "no active profile",
        "pick one with `cclogin switch NAME` (" + _known_hint(meta) + ")",
    )
