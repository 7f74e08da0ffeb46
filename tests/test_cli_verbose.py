"""`-v` works where people type it, explains what happens, and never reaches exec's child."""

from __future__ import annotations

from pathlib import Path

from support.cli import make_encrypted_world

KEY = "sk-ant-api03-test-verbose-0001"


def test_verbose_after_the_command_explains_without_secrets(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    assert world.login("work", KEY).rc == 0
    res = world.cclogin("token", "-v")
    assert res.rc == 0 and res.stdout == KEY + "\n"
    assert "cclogin: debug: profile 'work' (active): api_key in encrypted-file" in res.stderr
    assert KEY not in res.stderr
    assert world.cclogin("status", "--verbose").rc == 0


def test_verbose_after_exec_belongs_to_the_child(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    assert world.login("work", KEY).rc == 0
    res = world.cclogin("exec", "--", "sh", "-c", 'echo "args:$*"', "sh", "-v")
    assert res.rc == 0
    assert res.stdout == "args:-v\n"
    assert "debug" not in res.stderr
