"""Every vector in migrations/0001-claude-code-plaintext/vectors, through the real CLI."""

from __future__ import annotations

import json

import pytest

from support.legacy_home import (
    VECTORS,
    LegacyHome,
    expectation,
    vector_names,
)

VECTORS_LIST = vector_names()


def _migrate_args(name: str, home: LegacyHome) -> list[str]:
    expect = expectation(name)
    flags = [str(a) for a in expect.get("args", [])]  # e.g. --leave-reference
    if expect.get("from"):
        return ["migrate", *flags, "--from", str(home.home / expect["install_as"])]
    return ["migrate", *flags]


def test_there_are_vectors_of_every_outcome() -> None:
    outcomes = {expectation(n)["outcome"] for n in VECTORS_LIST}
    assert outcomes == {"migrated", "left-alone", "refused"}
    assert len(VECTORS_LIST) >= 15


@pytest.mark.parametrize("name", VECTORS_LIST)
def test_vector(legacy_home: LegacyHome, name: str) -> None:
    expect = expectation(name)
    original = (VECTORS / name).read_bytes()
    path = legacy_home.install(name)

    result = legacy_home.run(*_migrate_args(name, legacy_home))

    assert result.returncode == expect["exit"], result.stderr
    if "message" in expect:
        assert expect["message"] in result.stderr
    after = expect["after"]
    if after == "deleted":
        assert not path.exists()
    elif after == "unchanged":
        assert path.read_bytes() == original
    else:
        assert path.read_bytes() == (VECTORS / after).read_bytes()
    profiles = legacy_home.profiles()
    assert set(profiles) == set(expect["profiles"])
    for profile, want in expect["profiles"].items():
        assert profiles[profile]["kind"] == want["kind"]
        got = legacy_home.run("token", "--profile", profile)
        if want["token"] is None:
            assert got.returncode == want["token_exit"]
        else:
            assert got.stdout == want["token"] + "\n"
    if expect["outcome"] == "migrated":
        assert legacy_home.plaintext_left() == []
        assert legacy_home.leftovers() == []
        # The second run is a no-op that says so.
        again = legacy_home.run(*_migrate_args(name, legacy_home))
        assert again.returncode == 0
        assert "nothing to migrate" in again.stderr or "no credential" in again.stderr
        assert legacy_home.profiles().keys() == profiles.keys()


@pytest.mark.parametrize(
    "name", [n for n in VECTORS_LIST if expectation(n)["outcome"] == "migrated"]
)
def test_undo_writes_the_file_back_exactly(legacy_home: LegacyHome, name: str) -> None:
    original = (VECTORS / name).read_bytes()
    path = legacy_home.install(name)
    legacy_home.run(*_migrate_args(name, legacy_home), check=True)

    result = legacy_home.run("migrate", "--undo")

    assert result.returncode == 0, result.stderr
    assert "exactly as it was" in result.stderr
    assert path.read_bytes() == original
    assert legacy_home.profiles() == {}


def test_home_seeded_with_every_vector(legacy_home: LegacyHome) -> None:
    """The release bar: no plaintext left, every secret returned, logout leaves nothing."""
    args = ["migrate"]
    secrets: set[str] = set()
    for name in VECTORS_LIST:
        expect = expectation(name)
        where = f"seeded/{name}/{expect['install_as'].rsplit('/', 1)[-1]}"
        legacy_home.install(name, as_path=where)
        args += ["--from", str(legacy_home.home / where)]
        if expect["outcome"] == "migrated":
            secrets |= {p["token"] for p in expect["profiles"].values() if p["token"]}
    # One of each standard location too.
    legacy_home.install("subscription-login.credentials.json")
    legacy_home.install("claude-json-api-key.json")

    result = legacy_home.run(*args, "--keep-backup")

    assert result.returncode == 1  # the corrupt vectors are reported as errors
    assert "not valid JSON" in result.stderr
    plaintext = legacy_home.plaintext_left()
    # Only the refused (corrupt) inputs and the kept backups still hold plaintext.
    refused = {f"home/seeded/{n}" for n in VECTORS_LIST if expectation(n)["outcome"] == "refused"}
    assert all(any(p.startswith(r) for r in refused) or "/backups/" in p for p in plaintext)
    returned = {legacy_home.token(name) for name in legacy_home.profiles() if name != "claude-3"}
    assert secrets <= returned | {"sk-ant-oat01-test-0015"}  # the expired one cannot be handed out

    logout = legacy_home.run("logout", "--all")

    assert logout.returncode == 0, logout.stderr
    left = legacy_home.plaintext_left()
    assert all(any(p.startswith(r) for r in refused) for p in left), left
    assert legacy_home.leftovers() == []
    assert legacy_home.profiles() == {}


def test_metadata_schema_1_baseline_vector() -> None:
    from cclogin.accounts.profiles import SCHEMA_VERSION, parse_metadata

    folder = VECTORS.parents[1] / "0002-metadata-schema-1" / "vectors"
    expect = json.loads((folder / "metadata-schema-1.json.expect.json").read_text())
    meta = parse_metadata((folder / "metadata-schema-1.json").read_bytes(), "vector")
    assert expect["schema"] == SCHEMA_VERSION
    assert sorted(meta.profiles) == expect["profiles"]
    assert meta.active == expect["active"]
