"""`cclogin login --device`, `--paste` and `--claude`, through the real executable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from support.cli import CCLOGIN, World, make_encrypted_world
from support.fake_claude import DEFAULT_TOKEN, install
from support.oidc import OidcServer, play_user

pytestmark = [pytest.mark.oidc, pytest.mark.slow]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_encrypted_world(tmp_path)


def _start(world: World, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CCLOGIN, *args], env=world.environ(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _read_until(stream: object, pattern: str, seen: list[str]) -> re.Match[str]:
    regex = re.compile(pattern)
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        seen.append(line)
        found = regex.search(line)
        if found:
            return found
    raise AssertionError(f"never saw {pattern!r} in: {''.join(seen)}")


def test_device_login_through_the_executable(world: World, oidc_server: OidcServer) -> None:
    proc = _start(world, "login", "--device", "--profile", "dev", "--issuer",
                  oidc_server.issuer, "--client-id", oidc_server.client_id)
    seen: list[str] = []
    code = _read_until(proc.stderr, r"^\s+([A-Z0-9-]{4,})\s*$", seen).group(1)
    oidc_server.approve_device(code)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + err
    token = world.cclogin("token", "--profile", "dev")
    assert token.rc == 0 and oidc_server.introspect(token.stdout.strip())["active"] is True
    assert token.stdout.strip() not in "".join(seen) + err + out


def test_paste_login_through_the_executable(world: World, oidc_server: OidcServer) -> None:
    proc = _start(world, "login", "--paste", "--profile", "pasted", "--issuer",
                  oidc_server.issuer, "--client-id", oidc_server.client_id)
    seen: list[str] = []
    url = _read_until(proc.stderr, r"^\s+(http://\S+)\s*$", seen).group(1)
    answer = play_user(url)  # the browser on another machine ends on this address
    _out, err = proc.communicate(answer + "\n", timeout=60)
    assert proc.returncode == 0, "".join(seen) + err
    token = world.cclogin("token", "--profile", "pasted")
    assert token.rc == 0 and oidc_server.introspect(token.stdout.strip())["active"] is True


def test_paste_of_another_logins_answer_stores_nothing(world: World,
                                                       oidc_server: OidcServer) -> None:
    other = _start(world, "login", "--paste", "--profile", "x", "--issuer",
                   oidc_server.issuer, "--client-id", oidc_server.client_id)
    seen: list[str] = []
    other_url = _read_until(other.stderr, r"^\s+(http://\S+)\s*$", seen).group(1)
    other.kill()
    other.communicate()
    proc = _start(world, "login", "--paste", "--profile", "pasted", "--issuer",
                  oidc_server.issuer, "--client-id", oidc_server.client_id)
    _read_until(proc.stderr, r"^\s+(http://\S+)\s*$", seen)
    _out, err = proc.communicate(play_user(other_url) + "\n", timeout=60)
    assert proc.returncode != 0
    assert "state" in err.lower()
    assert world.cclogin("status").rc == 3  # nothing was stored
    assert world.stored_keys() == []


@pytest.fixture
def claude_world(world: World, tmp_path: Path) -> World:
    install(tmp_path / "bin")
    world.env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{world.env['PATH']}"
    return world


def test_login_claude_stores_the_setup_token(claude_world: World) -> None:
    res = claude_world.cclogin("login", "--claude", "--profile", "claude")
    assert res.rc == 0, res
    assert DEFAULT_TOKEN not in res.output  # relayed with the token masked
    token = claude_world.cclogin("token", "--profile", "claude")
    assert token.stdout == DEFAULT_TOKEN + "\n"
    status = claude_world.cclogin("status", "--json")
    assert '"kind": "claude_token"' in status.stdout
    child = claude_world.cclogin("exec", "--profile", "claude", "--", "sh", "-c",
                                 'test "$CLAUDE_CODE_OAUTH_TOKEN" = "$1" && echo same',
                                 "sh", DEFAULT_TOKEN)
    assert child.stdout.strip() == "same"


def test_login_claude_cancelled_stores_nothing(claude_world: World) -> None:
    res = claude_world.cclogin("login", "--claude", "--profile", "claude",
                               extra={"FAKE_CLAUDE_MODE": "cancel"})
    assert res.rc == 1
    assert "cancel" in res.stderr.lower() or "exit" in res.stderr.lower()
    assert claude_world.cclogin("status").rc == 3


def test_login_claude_without_claude_on_path(world: World) -> None:
    res = world.cclogin("login", "--claude", "--profile", "claude",
                        extra={"PATH": "/usr/bin:/bin"})
    assert res.rc == 1
    assert "claude" in res.stderr and "cclogin: hint:" in res.stderr
    assert world.cclogin("status").rc == 3


def test_login_claude_refuses_an_existing_profile_before_running_claude(
    claude_world: World, tmp_path: Path
) -> None:
    assert claude_world.login("claude", "sk-ant-api03-test-flow-0001").rc == 0
    record = tmp_path / "argv.txt"
    res = claude_world.cclogin("login", "--claude", "--profile", "claude",
                               extra={"FAKE_CLAUDE_ARGV": str(record)})
    assert res.rc == 1 and "exists" in res.stderr
    assert not record.exists()  # Claude Code's sign-in never started
    assert claude_world.cclogin("token").stdout == "sk-ant-api03-test-flow-0001\n"
