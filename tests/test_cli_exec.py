"""`cclogin exec` and the ANTHROPIC_API_KEY override, through the real executable."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import BACKENDS, World, open_world

KEY = "sk-ant-api03-test-0011"
OAT = "sk-ant-oat01-test-0012"
ENV_KEY = "sk-ant-api03-test-env-0013"

# The child reports what it sees: its argv (as the kernel has it) and its environment.
CHILD = """
import json, os, sys
with open('/proc/self/cmdline', 'rb') as f:
    cmdline = f.read().decode()
print(json.dumps({'argv': sys.argv, 'cmdline': cmdline, 'pid': os.getpid(), 'env': dict(os.environ)}))
"""


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


def child_view(world: World, *args: str, extra: dict[str, str] | None = None) -> dict:
    out = world.cclogin("exec", *args, "--", sys.executable, "-c", CHILD, "child-arg", extra=extra)
    assert out.rc == 0, out
    return json.loads(out.stdout)


def test_api_key_profile_reaches_the_child_in_its_environment_only(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    seen = child_view(
        world,
        extra={
            "CCLOGIN_PASSPHRASE": "should-not-reach-child",
            "CCLOGIN_PASSPHRASE_COMMAND_X": "nor-this",
            "UNRELATED_VAR": "kept",
        },
    )
    assert seen["env"]["ANTHROPIC_API_KEY"] == KEY
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in seen["env"]
    # Not in argv: neither the child's nor the process cclogin turned into.
    assert KEY not in seen["cmdline"]
    assert all(KEY not in arg for arg in seen["argv"])
    assert seen["argv"][-1] == "child-arg"
    # cclogin's own unlock variables never reach the child; everything else does.
    assert not [k for k in seen["env"] if k.startswith("CCLOGIN_PASSPHRASE")]
    assert seen["env"]["UNRELATED_VAR"] == "kept"
    assert seen["env"]["CCLOGIN_HOME"] == str(world.home)


def test_passphrase_file_variable_is_stripped_from_the_child(tmp_path: Path) -> None:
    with open_world("encrypted-file", tmp_path) as world:
        assert world.login("default", KEY).rc == 0
        assert "CCLOGIN_PASSPHRASE_FILE" in world.env
        seen = child_view(world)
        assert seen["env"]["ANTHROPIC_API_KEY"] == KEY
        assert not [k for k in seen["env"] if k.startswith("CCLOGIN_PASSPHRASE")]
        assert "CCLOGIN_TEST_ONLY_WEAK_KDF" in seen["env"]  # only the passphrase ones go


def test_oauth_token_profile_uses_claude_code_variable(world: World) -> None:
    assert world.login("claude", OAT, how="--with-oauth-token").rc == 0
    seen = child_view(world)
    assert seen["env"]["CLAUDE_CODE_OAUTH_TOKEN"] == OAT
    assert "ANTHROPIC_API_KEY" not in seen["env"]
    assert OAT not in seen["cmdline"]


def test_env_flag_names_the_variable(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    seen = child_view(world, "--env", "OTHER_TOOL_KEY")
    assert seen["env"]["OTHER_TOOL_KEY"] == KEY
    assert KEY not in seen["cmdline"]
    bad = world.cclogin("exec", "--env", "NOT-A-NAME", "--", "true")
    assert bad.rc == 1, bad


def test_profile_flag_picks_the_profile_for_the_child(world: World) -> None:
    assert world.login("one", KEY).rc == 0
    assert world.login("two", OAT, how="--with-oauth-token").rc == 0  # active
    assert child_view(world, "--profile", "one")["env"]["ANTHROPIC_API_KEY"] == KEY
    assert child_view(world, extra={"CCLOGIN_PROFILE": "one"})["env"]["ANTHROPIC_API_KEY"] == KEY
    assert world.cclogin("token").stdout == OAT + "\n"  # nothing switched


def test_exit_status_is_the_childs(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    assert world.cclogin("exec", "--", "sh", "-c", "exit 7").rc == 7
    assert world.cclogin("exec", "--", "true").rc == 0
    killed = world.cclogin("exec", "--", "sh", "-c", "kill -TERM $$")
    # cclogin became the child (execve), so the signal is the process's own death.
    assert killed.rc in (-15, 143), killed


def test_unknown_profile_is_refused_not_defaulted(world: World, tmp_path: Path) -> None:
    assert world.login("default", KEY).rc == 0
    marker = tmp_path / "child-ran"
    out = world.cclogin("exec", "--profile", "nope", "--", "touch", str(marker))
    assert out.rc == 3, out
    assert "nope" in out.stderr
    assert "default" in out.stderr  # lists the known profiles
    assert not marker.exists()
    env_pick = world.cclogin("exec", "--", "touch", str(marker), extra={"CCLOGIN_PROFILE": "nope"})
    assert env_pick.rc == 3, env_pick
    assert not marker.exists()


def test_exec_when_not_logged_in_runs_nothing(world: World, tmp_path: Path) -> None:
    marker = tmp_path / "child-ran"
    out = world.cclogin("exec", "--", "touch", str(marker))
    assert out.rc == 3, out
    assert not marker.exists()


def test_missing_command_is_reported(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    out = world.cclogin("exec", "--", "no-such-command-cclogin-test")
    assert out.rc != 0
    assert "not found" in out.stderr
    assert KEY not in out.output


# --- ANTHROPIC_API_KEY in the environment wins -------------------------------------------


def test_env_api_key_overrides_without_touching_the_profile(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    env = {"ANTHROPIC_API_KEY": ENV_KEY}

    status = world.cclogin("status", extra=env)
    assert status.rc == 0, status
    assert "ANTHROPIC_API_KEY" in status.stdout
    assert "wins" in status.stdout or "overrid" in status.stdout
    assert ENV_KEY not in status.output and KEY not in status.output
    doc = json.loads(world.cclogin("status", "--json", extra=env).stdout)
    assert doc["env_override"] == "ANTHROPIC_API_KEY"

    token = world.cclogin("token", extra=env)
    assert (token.rc, token.stdout) == (0, ENV_KEY + "\n")
    # With --profile the user is told why the profile is not used.
    explicit = world.cclogin("token", "--profile", "default", extra=env)
    assert explicit.stdout == ENV_KEY + "\n"
    assert "ANTHROPIC_API_KEY" in explicit.stderr

    seen = child_view(world, extra=env)
    assert seen["env"]["ANTHROPIC_API_KEY"] == ENV_KEY

    # The stored profile is untouched.
    assert world.cclogin("token").stdout == KEY + "\n"
    assert world.stored_keys() == ["profile:default"]
    assert world.traces(ENV_KEY) == []


def test_env_api_key_works_with_no_profile_at_all(world: World) -> None:
    env = {"ANTHROPIC_API_KEY": ENV_KEY}
    assert world.cclogin("status", extra=env).rc == 0
    assert world.cclogin("token", extra=env).stdout == ENV_KEY + "\n"
    assert world.cclogin("status").rc == 3
