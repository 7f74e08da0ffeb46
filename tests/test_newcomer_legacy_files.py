"""Odd but real legacy files (issue 10.9), through the real `cclogin`: a UTF-8 BOM,
NaN/Infinity, and the empty login Claude Code leaves behind when a login ended."""

from __future__ import annotations

import json
from typing import Any

from support.legacy_home import LegacyHome

LOGIN = {
    "claudeAiOauth": {
        "accessToken": "sk-ant-oat01-test-0041",
        "refreshToken": "sk-ant-ort01-test-0042",
        "expiresAt": 4102444800000,
        "scopes": ["user:inference"],
    },
    "mcpOAuth": {"srv": {"accessToken": "mcp-test-token-1"}},
}


def _refuse(name: str) -> Any:
    raise AssertionError(f"{name} in --json output is not JSON")


def strict(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse)


def test_a_bom_before_the_credentials_file_is_migrated_and_undo_restores_it(
    legacy_home: LegacyHome,
) -> None:
    creds = legacy_home.home / ".claude" / ".credentials.json"
    original = b"\xef\xbb\xbf" + json.dumps(LOGIN, indent=2).encode() + b"\r\n"
    creds.write_bytes(original)
    creds.chmod(0o600)

    result = legacy_home.run("migrate")

    assert result.returncode == 0, result.stderr
    assert "left alone" not in result.stdout + result.stderr
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0041"
    left = creds.read_bytes()
    assert left.startswith(b"\xef\xbb\xbf")  # the kept mcpOAuth stays, BOM and all
    assert b"claudeAiOauth" not in left and b"mcp-test-token-1" in left
    strict(left.decode("utf-8-sig"))

    undo = legacy_home.run("migrate", "--undo")

    assert undo.returncode == 0, undo.stderr
    assert creds.read_bytes() == original


def test_a_bom_before_a_file_holding_only_the_login_comes_back_byte_for_byte(
    legacy_home: LegacyHome,
) -> None:
    creds = legacy_home.home / ".claude" / ".credentials.json"
    original = b"\xef\xbb\xbf" + json.dumps({"claudeAiOauth": LOGIN["claudeAiOauth"]}).encode()
    creds.write_bytes(original)
    creds.chmod(0o600)

    assert legacy_home.run("migrate", check=True).returncode == 0
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0041"
    assert legacy_home.run("migrate", "--undo", check=True).returncode == 0
    assert creds.read_bytes() == original


def test_nan_and_infinity_are_refused_and_never_reach_status_json(
    legacy_home: LegacyHome,
) -> None:
    creds = legacy_home.home / ".claude" / ".credentials.json"
    before = (
        b'{"claudeAiOauth": {"accessToken": "sk-ant-oat01-test-0043", '
        b'"expiresAt": NaN, "rateLimit": Infinity}}'
    )
    creds.write_bytes(before)
    creds.chmod(0o600)

    result = legacy_home.run("migrate")

    assert result.returncode == 1
    assert "NaN or Infinity" in result.stdout + result.stderr
    assert creds.read_bytes() == before
    status = legacy_home.run("status", "--json")
    doc = strict(status.stdout)
    assert doc["profiles"] == []


def test_a_login_claude_code_already_ended_is_named_not_called_wrong_shape(
    legacy_home: LegacyHome,
) -> None:
    creds = legacy_home.home / ".claude" / ".credentials.json"
    before = json.dumps(
        {
            "claudeAiOauth": {
                "accessToken": "",
                "refreshToken": "",
                "expiresAt": 0,
                "loginEnded": "time_limit",
            }
        }
    ).encode()
    creds.write_bytes(before)
    creds.chmod(0o600)

    result = legacy_home.run("migrate")
    said = result.stdout + result.stderr

    assert result.returncode == 0, said
    assert "wrong shape" not in said
    assert "a login Claude Code already ended (time_limit); nothing to migrate" in said
    assert "`claude /login` or `cclogin login --claude`" in said
    assert creds.read_bytes() == before


def test_every_json_output_is_strict_json(legacy_home: LegacyHome) -> None:
    creds = legacy_home.home / ".claude" / ".credentials.json"
    creds.write_text(json.dumps(LOGIN))
    creds.chmod(0o600)
    assert legacy_home.run("migrate", check=True).returncode == 0
    for command in (("status", "--json"), ("doctor", "--json"), ("backends", "--json")):
        result = legacy_home.run(*command)
        assert result.stdout.strip(), (command, result.stderr)
        strict(result.stdout)  # raises on NaN/Infinity or anything that is not JSON
