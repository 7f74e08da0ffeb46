"""Issue 8: migrate, then the real Claude Code, then --undo, then the real Claude Code again.

For a Console key (in ~/.claude.json and in Claude Code's own backups) and for a
subscription login (.credentials.json): which header the real client sends at each
step, and that no file under HOME holds the secret while it is migrated.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.claude_code import ClaudeCode
from support.cli import CCLOGIN, World, files_containing, open_world
from support.messages_stub import MessagesStub

KEY = "sk-ant-api03-TEST-migrate-real-0001"
ACCESS = "sk-ant-oat01-TEST-migrate-real-access"
REFRESH = "sk-ant-ort01-TEST-migrate-real-refresh"


@pytest.fixture(params=["secret-service", "encrypted-file"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


def home(world: World) -> Path:
    return Path(world.env["HOME"])


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file Claude Code's setup holds, with its mode, for a byte-for-byte compare."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return out


def plant_console_key(world: World) -> None:
    config = home(world) / ".claude.json"
    doc = {"numStartups": 3, "primaryApiKey": KEY, "hasCompletedOnboarding": True, "projects": {}}
    config.write_text(json.dumps(doc, indent=2))
    config.chmod(0o600)
    backups = home(world) / ".claude" / "backups"
    backups.mkdir(parents=True)
    for n, ms in enumerate((1764000000000, 1764000060000)):
        backup = backups / f".claude.json.backup.{ms}"
        backup.write_text(json.dumps({**doc, "numStartups": n}, indent=2))
        backup.chmod(0o644)  # Claude Code copies the source's mode; 0644 is common


def plant_subscription(world: World, hours: float = 8.0) -> None:
    creds = home(world) / ".claude" / ".credentials.json"
    creds.parent.mkdir(exist_ok=True)
    login = {
        "accessToken": ACCESS,
        "refreshToken": REFRESH,
        "expiresAt": int((time.time() + hours * 3600) * 1000),
        "scopes": ["user:inference", "user:profile"],
        "subscriptionType": "pro",
    }
    creds.write_text(json.dumps({"claudeAiOauth": login}))
    creds.chmod(0o600)


def test_console_key_migrate_helper_undo_with_the_real_client(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    plant_console_key(world)
    before = snapshot(home(world))
    env = world.environ()
    assert claude_code.run(env, messages_stub).returncode == 0
    assert messages_stub.last().api_key == KEY  # primaryApiKey, as before cclogin

    res = world.cclogin("migrate", "--set-api-key-helper")
    assert res.rc == 0, res
    assert files_containing(home(world), KEY.encode()) == []  # backups scrubbed too
    settings = json.loads((home(world) / ".claude" / "settings.json").read_text())
    program = next(w for w in shlex.split(settings["apiKeyHelper"]) if "=" not in w)
    assert program.startswith("/") and os.access(program, os.X_OK)  # absolute path

    messages_stub.reset()
    # Claude Code started from a desktop launcher: its own PATH, none of the shell's
    # cclogin variables. The helper command carries what it needs.
    launcher = world.environ({"PATH": "/usr/bin:/bin"}, drop=("CCLOGIN_HOME", "CCLOGIN_PASSPHRASE_FILE"))
    done = claude_code.run(launcher, messages_stub)
    assert done.returncode == 0, done.stdout + done.stderr
    assert messages_stub.last().api_key == KEY

    res = world.cclogin("migrate", "--undo")
    assert res.rc == 0, res
    after = snapshot(home(world))
    for name in before:
        if name == ".claude.json":
            continue  # Claude Code itself rewrote it on every run (startup counters)
        assert after.get(name) == before[name], name  # byte for byte, modes included
    config = json.loads((home(world) / ".claude.json").read_text())
    assert config["primaryApiKey"] == KEY and "firstStartTime" in config  # its edits kept
    assert not (home(world) / ".claude" / "settings.json").exists() or "apiKeyHelper" not in (
        home(world) / ".claude" / "settings.json"
    ).read_text()
    messages_stub.reset()
    done = claude_code.run(env, messages_stub)
    assert done.returncode == 0, done.stdout + done.stderr
    assert messages_stub.last().api_key == KEY


def test_subscription_login_migrate_exec_undo_with_the_real_client(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    plant_subscription(world)
    plant_console_key(world)  # a Console key beside the login, as many homes have
    env = world.environ()
    assert claude_code.run(env, messages_stub).returncode == 0
    assert messages_stub.last().bearer == ACCESS

    # The helper would outrank the login and bill the API key: refused, the rest migrates.
    res = world.cclogin("migrate", "--set-api-key-helper")
    assert res.rc == 1, res
    assert "bill" in res.stderr and "cclogin exec --profile" in res.stderr
    settings = home(world) / ".claude" / "settings.json"
    assert not settings.exists() or "apiKeyHelper" not in settings.read_text()
    assert "expires in 7 h" in res.stderr  # said when the migrated login ends
    assert "cclogin login --claude" in res.stderr
    for secret in (ACCESS, REFRESH, KEY):
        assert files_containing(home(world), secret.encode()) == []
    status = json.loads(world.cclogin("status", "--json").stdout)
    row = next(p for p in status["profiles"] if p["name"] == "claude")
    assert 7 * 3600 < row["seconds_left"] <= 8 * 3600

    # Plain claude has no login now; through cclogin it has the same one.
    messages_stub.reset()
    plain = claude_code.run(env, messages_stub)
    assert "Not logged in" in plain.stdout and messages_stub.messages() == []
    done = claude_code.run(env, messages_stub, prefix=[CCLOGIN, "exec", "--profile", "claude", "--"])
    assert done.returncode == 0, done.stderr
    assert (messages_stub.last().bearer, messages_stub.last().api_key) == (ACCESS, None)

    res = world.cclogin("migrate", "--undo")
    assert res.rc == 0, res
    messages_stub.reset()
    assert claude_code.run(env, messages_stub).returncode == 0
    assert messages_stub.last().bearer == ACCESS


def test_login_without_inference_scope_is_not_handed_over(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    plant_subscription(world)
    creds = home(world) / ".claude" / ".credentials.json"
    doc = json.loads(creds.read_text())
    doc["claudeAiOauth"]["scopes"] = ["user:profile"]
    creds.write_text(json.dumps(doc))
    assert world.cclogin("migrate").rc == 0
    done = claude_code.run(world.environ(), messages_stub, prefix=[CCLOGIN, "exec", "--profile", "claude", "--"])
    assert done.returncode == 5
    assert "user:inference" in done.stderr
    assert messages_stub.messages() == []
