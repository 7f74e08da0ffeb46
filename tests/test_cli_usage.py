"""Usage errors speak like every other error, and never echo a pasted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import make_encrypted_world

KEY = "sk-ant-api03-test-usage-0001"


@pytest.mark.parametrize(
    "args",
    [("status", KEY), ("token", "--profile", "work", KEY), ("switch", "a", KEY),
     ("logout", f"--profile={KEY}", "--all"), (f"--{KEY}",)],
)
def test_a_key_pasted_as_an_argument_is_never_echoed(tmp_path: Path, args: tuple[str, ...]) -> None:
    world = make_encrypted_world(tmp_path)
    res = world.cclogin(*args)
    assert res.rc != 0
    assert KEY not in res.output and "sk-ant-api03" not in res.output
    assert "cclogin: error:" in res.stderr and "cclogin: hint:" in res.stderr


def test_unknown_option_names_the_help_to_read(tmp_path: Path) -> None:
    res = make_encrypted_world(tmp_path).cclogin("status", "--bogus")
    assert res.rc == 2
    error, hint = res.stderr.splitlines()
    assert error.startswith("cclogin: error: ") and "--bogus" in error  # click's own words
    assert hint == "cclogin: hint: see `cclogin status --help`"


def test_bare_cclogin_shows_help(tmp_path: Path) -> None:
    res = make_encrypted_world(tmp_path).cclogin()
    assert res.rc == 0 and "Commands:" in res.stdout
