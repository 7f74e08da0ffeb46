"""The metadata file: strict parsing, safe writes, and the active pointer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cclogin.accounts.profiles import (
    Metadata,
    editing_metadata,
    parse_metadata,
    read_metadata,
    resolve_name,
)
from cclogin.errors import MetadataCorrupt, NotLoggedIn, ProfileNotFound, UnsafeFile
from cclogin.model import Profile, profile_name
from cclogin.paths import Paths, get_paths


def _paths(tmp_path: Path) -> Paths:
    return get_paths({"CCLOGIN_HOME": str(tmp_path / "home")})


def _profile(name: str) -> Profile:
    return Profile(profile_name(name), "api_key", "encrypted-file", "encrypted-file", 1.0)


def test_cclogin_home_moves_every_path(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    for d in p.all_dirs():
        assert d.is_relative_to(tmp_path / "home")


def test_round_trip_and_active_pointer(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    with editing_metadata(paths) as meta:
        meta.put(_profile("work"))
        meta.put(_profile("personal"))
        meta.active = "work"
    back = read_metadata(paths)
    assert sorted(back.profiles) == ["personal", "work"]
    assert back.active == "work"
    assert resolve_name(back, None) == "work"
    assert resolve_name(back, "personal") == "personal"


def test_failed_edit_writes_nothing(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    with editing_metadata(paths) as meta:
        meta.put(_profile("keep"))
    with pytest.raises(RuntimeError), editing_metadata(paths) as meta:
        meta.remove("keep")
        raise RuntimeError("boom")
    assert "keep" in read_metadata(paths).profiles


def test_unknown_profile_lists_the_known_ones() -> None:
    meta = Metadata(profiles={"a": _profile("a"), "b": _profile("b")})
    with pytest.raises(ProfileNotFound) as info:
        resolve_name(meta, "zzz")
    assert "a, b" in info.value.hint


def test_no_profiles_is_not_logged_in() -> None:
    with pytest.raises(NotLoggedIn):
        resolve_name(Metadata(), None)


@pytest.mark.parametrize(
    "doc",
    [b"{", b"[]", b'{"schema": 99, "profiles": {}}', b'{"schema": "1"}',
     b'{"schema": 1, "profiles": []}',
     b'{"schema": 1, "profiles": {"a": {"name": "a"}}}',
     b'{"schema": 1, "profiles": {"a": {"name": "b", "kind": "api_key", "backend": "x", '
     b'"storage_class": "keychain", "created_at": 1}}}'],
)
def test_corrupt_metadata_is_a_clear_error(doc: bytes) -> None:
    with pytest.raises(MetadataCorrupt) as info:
        parse_metadata(doc, "metadata.json")
    assert info.value.hint


def test_dangling_active_pointer_means_nothing_active() -> None:
    doc = {"schema": 1, "active": "gone", "profiles": {}}
    assert parse_metadata(json.dumps(doc).encode(), "m").active is None


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes; Windows uses ACLs")
def test_group_readable_metadata_is_refused(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    with editing_metadata(paths) as meta:
        meta.put(_profile("a"))
    paths.metadata_file.chmod(0o644)
    with pytest.raises(UnsafeFile):
        read_metadata(paths)
