"""Issue 8: every hand-over proven with the real Claude Code (pinned in tests/claude_code).

`cclogin exec -- claude` against a stub Messages API on 127.0.0.1 that records every
request's headers: which header Claude Code sent, with which value; what a Bash tool
call of the model sees in its environment; what Claude Code wrote about the key.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.claude_code import ClaudeCode
from support.cli import CCLOGIN, World, files_containing, make_encrypted_world, open_world
from support.messages_stub import MessagesStub
from support.oidc import OidcServer, write_browser
from support.tokens import expire_soon

KEY = "sk-ant-api03-TEST-handover-0001"
OTHER_KEY = "sk-ant-api03-TEST-settings-0002"
HELPER_KEY = "sk-ant-api03-TEST-userhelper-0003"
OAUTH_TOKEN = "sk-ant-oat01-TEST-handover-0004"
ENV_PROBE = "env | grep -E '^(ANTHROPIC|CLAUDE_CODE_OAUTH|CCLOGIN)' || echo no-credential-variables"


@pytest.fixture(params=["secret-service", "encrypted-file"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


def via_cclogin(
    cc: ClaudeCode, world: World, stub: MessagesStub, profile: str, *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`cclogin exec --profile P -- claude -p ... ARGS` against the stub."""
    prefix = [CCLOGIN, "exec", "--profile", profile, "--"]
    return cc.run(world.environ() if env is None else env, stub, *args, prefix=prefix)


def write_settings(world: World, doc: dict[str, object], name: str = "settings.json") -> Path:
    path = Path(world.env["HOME"]) / ".claude" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def test_api_key_reaches_claude_code_through_a_helper_never_its_children(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    assert world.login("work", KEY).rc == 0
    messages_stub.tool_command = ENV_PROBE
    done = via_cclogin(claude_code, world, messages_stub, "work", "--allowedTools", "Bash")
    assert done.returncode == 0, done.stderr
    sent = messages_stub.messages()
    assert sent and all(r.api_key == KEY for r in sent)
    # The model's Bash tool ran, and its environment held no credential of ours.
    assert messages_stub.tool_results, "the stub's tool_use never came back"
    assert KEY not in "".join(messages_stub.tool_results)
    assert "CCLOGIN_PASSPHRASE" not in "".join(messages_stub.tool_results)
    # Nothing of the key in Claude Code's files (no customApiKeyResponses entry).
    assert files_containing(Path(world.env["HOME"]), KEY[-20:].encode()) == []
    assert KEY not in done.stdout + done.stderr


def test_configured_helper_and_settings_env_do_not_outrank_the_profile(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    assert world.login("work", KEY).rc == 0
    settings = write_settings(world, {"apiKeyHelper": f"echo {HELPER_KEY}", "env": {"ANTHROPIC_API_KEY": OTHER_KEY}})
    done = via_cclogin(claude_code, world, messages_stub, "work")
    assert done.returncode == 0, done.stderr
    last = messages_stub.last()
    assert (last.api_key, last.bearer) == (KEY, KEY)
    # The user is told what was overridden, by file and member, never by value.
    assert f"apiKeyHelper in {settings}" in done.stderr
    assert f"env.ANTHROPIC_API_KEY in {settings}" in done.stderr
    assert OTHER_KEY not in done.stderr and HELPER_KEY not in done.stderr


def test_claude_token_wins_over_a_configured_api_key_helper(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    """The bug of point 1: a helper beside a Claude login billed the API key."""
    assert world.login("claude", OAUTH_TOKEN, how="--with-oauth-token").rc == 0
    write_settings(world, {"apiKeyHelper": f"echo {HELPER_KEY}"})
    messages_stub.tool_command = ENV_PROBE
    done = via_cclogin(claude_code, world, messages_stub, "claude", "--allowedTools", "Bash")
    assert done.returncode == 0, done.stderr
    last = messages_stub.last()
    assert last.bearer == OAUTH_TOKEN
    assert last.api_key is None  # no API key billed
    assert OAUTH_TOKEN not in "".join(messages_stub.tool_results)  # Claude Code strips it


def test_callers_base_url_is_kept_and_competing_variables_dropped(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    assert world.login("work", KEY).rc == 0
    env = world.environ({"ANTHROPIC_AUTH_TOKEN": "not-this-one", "CLAUDE_CODE_USE_BEDROCK": "1"})
    done = via_cclogin(claude_code, world, messages_stub, "work", env=env)
    # The stub is only reachable through the caller's ANTHROPIC_BASE_URL: it was kept.
    assert done.returncode == 0, done.stderr
    last = messages_stub.last()
    assert (last.api_key, last.bearer) == (KEY, KEY)
    assert "CLAUDE_CODE_USE_BEDROCK unset for this run" in done.stderr


def test_env_api_key_still_wins_as_claude_code_users_expect(
    claude_code: ClaudeCode, messages_stub: MessagesStub, world: World
) -> None:
    assert world.login("work", KEY).rc == 0
    done = claude_code.run(world.environ({"ANTHROPIC_API_KEY": OTHER_KEY}), messages_stub,
                           prefix=[CCLOGIN, "exec", "--"])
    assert done.returncode == 0, done.stderr
    assert messages_stub.last().api_key == OTHER_KEY


def test_other_programs_keep_plain_variables_and_the_callers_base_url(world: World, tmp_path: Path) -> None:
    assert world.login("work", KEY).rc == 0
    out = tmp_path / "env.json"
    res = world.cclogin("exec", "--profile", "work", "--", "python3", "-c",
                        f"import json, os; open({str(out)!r}, 'w').write(json.dumps(dict(os.environ)))",
                        extra={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/gateway"})
    assert res.rc == 0, res
    seen = json.loads(out.read_text())
    assert seen["ANTHROPIC_API_KEY"] == KEY
    assert seen["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/gateway"


@pytest.mark.oidc
def test_gateway_token_is_refreshed_for_claude_codes_helper_cache(
    claude_code: ClaudeCode, messages_stub: MessagesStub, tmp_path: Path, oidc_server: OidcServer
) -> None:
    """Claude Code keeps a helper's answer 5 minutes: a token with 4 left is refreshed first."""
    world = make_encrypted_world(tmp_path)
    world.env["BROWSER"] = str(write_browser(tmp_path / "browser"))
    res = world.cclogin("login", "--profile", "corp", "--issuer", oidc_server.issuer,
                        "--client-id", oidc_server.client_id)
    assert res.rc == 0, res
    before = world.cclogin("token").stdout.strip()
    expire_soon(world, "corp", 240.0)  # valid 4 more minutes: `token` alone would keep it
    assert world.cclogin("token").stdout.strip() == before
    grants = oidc_server.refresh_grants()
    done = via_cclogin(claude_code, world, messages_stub, "corp")
    assert done.returncode == 0, done.stderr
    fresh = world.cclogin("token").stdout.strip()
    assert fresh != before
    # once, for exec and the helper together: the helper cache was fitted to the token
    assert oidc_server.refresh_grants() == grants + 1
    assert messages_stub.last().bearer == fresh
    assert oidc_server.introspect(fresh)["active"] is True


def test_encrypted_store_unlockable_only_by_value_falls_back_and_says_so(
    claude_code: ClaudeCode, messages_stub: MessagesStub, tmp_path: Path
) -> None:
    """CCLOGIN_PASSPHRASE is stripped from children, so no helper could unlock the file."""
    world = make_encrypted_world(tmp_path)
    assert world.login("work", KEY).rc == 0
    passphrase = Path(world.env["CCLOGIN_PASSPHRASE_FILE"]).read_text().strip()
    env = world.environ({"CCLOGIN_PASSPHRASE": passphrase}, drop=("CCLOGIN_PASSPHRASE_FILE",))
    done = via_cclogin(claude_code, world, messages_stub, "work", env=env)
    assert done.returncode == 0, done.stderr
    assert messages_stub.last().api_key == KEY
    assert "commands Claude Code runs can see it" in done.stderr
    assert passphrase not in done.stderr
