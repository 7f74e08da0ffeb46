"""Hard links keep plaintext (issue 9.4): a credential file with a second name is refused.

`migrate` replaces or unlinks one name; a second hard link (a dotfiles folder, a
`cp -al` snapshot) would keep the secret. So a credential file with st_nlink > 1 is
left as it is, with the link count and how to find the other names; `--dry-run`,
`doctor` and `logout` say the same, and nobody reports the home clean.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.legacy_home import VECTORS, LegacyHome

CASES = {  # vector -> (where, profile, secret)
    "subscription-login.credentials.json": (
        ".claude/.credentials.json",
        "claude",
        "sk-ant-oat01-test-0002",
    ),
    "claude-json-api-key.json": (".claude.json", "claude-api-key", "sk-ant-api03-test-0001"),
}


def _linked(home: LegacyHome, vector: str, links: int = 2) -> tuple[Path, list[Path]]:
    where = CASES[vector][0]
    source = home.install(vector, as_path=where)
    (home.home / "dotfiles").mkdir(exist_ok=True)
    others = []
    for n in range(links - 1):
        other = home.home / "dotfiles" / f"{Path(where).name}.{n}"
        os.link(source, other)
        others.append(other)
    return source, others


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "hard link" in line]


@pytest.mark.parametrize("vector", sorted(CASES))
def test_migrate_refuses_a_hard_linked_credential_file(
    legacy_home: LegacyHome, vector: str
) -> None:
    source, others = _linked(legacy_home, vector)
    secret = CASES[vector][2]

    result = legacy_home.run("migrate")

    assert result.returncode != 0
    lines = _errors(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cclogin: error: {source} holds a credential and has 2 hard links")
    assert f"`find ~ -samefile {source}`" in lines[0]
    assert secret not in result.stderr + result.stdout
    for path in (source, *others):
        assert path.read_bytes() == (VECTORS / vector).read_bytes()
    assert os.stat(source).st_nlink == 2
    assert legacy_home.profiles() == {}
    assert legacy_home.leftovers() == []


def test_link_count_is_named(legacy_home: LegacyHome) -> None:
    _linked(legacy_home, "subscription-login.credentials.json", links=3)

    result = legacy_home.run("migrate")

    assert "has 3 hard links: the plaintext would stay in the other 2 names" in result.stderr


def test_dry_run_reports_the_link_count(legacy_home: LegacyHome) -> None:
    source, others = _linked(legacy_home, "subscription-login.credentials.json")

    result = legacy_home.run("migrate", "--dry-run")

    assert f"{source} holds a credential and has 2 hard links" in result.stderr
    assert result.returncode != 0
    assert source.read_bytes() == others[0].read_bytes()
    assert legacy_home.profiles() == {}


def test_doctor_does_not_call_the_home_clean(legacy_home: LegacyHome) -> None:
    source, _others = _linked(legacy_home, "subscription-login.credentials.json")

    result = legacy_home.run("doctor")

    out = result.stdout + result.stderr
    assert f"[WARN] plaintext: {source} holds a credential and has 2 hard links" in out
    assert f"find ~ -samefile {source}" in out


def test_migrate_works_once_the_other_link_is_gone(legacy_home: LegacyHome) -> None:
    _source, others = _linked(legacy_home, "subscription-login.credentials.json")
    assert legacy_home.run("migrate").returncode != 0

    others[0].unlink()
    result = legacy_home.run("migrate")

    assert result.returncode == 0, result.stderr
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0002"
    assert legacy_home.plaintext_left() == []


def test_logout_does_not_say_verified_while_a_link_keeps_the_secret(
    legacy_home: LegacyHome,
) -> None:
    legacy_home.install("subscription-login.credentials.json")
    legacy_home.run("migrate", check=True)
    # Claude Code writes its file again, and a snapshot links it elsewhere.
    source, others = _linked(legacy_home, "subscription-login.credentials.json")

    result = legacy_home.run("logout", "--profile", "claude", "--no-revoke")

    assert result.returncode != 0
    assert f"{source} holds a credential and has 2 hard links" in result.stderr
    assert f"find ~ -samefile {source}" in result.stderr
    assert "verified" not in result.stderr
    assert "sk-ant-oat01-test-0002" not in result.stderr + result.stdout
    assert source.read_bytes() == others[0].read_bytes()  # one name was not cut off
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0002"  # nothing was deleted

    others[0].unlink()
    assert legacy_home.run("logout", "--profile", "claude", "--no-revoke").returncode == 0
    assert legacy_home.plaintext_left() == []
