"""`migrate --set-api-key-helper`: never beside a Claude login, in place, undone exactly.

Claude Code ranks apiKeyHelper above CLAUDE_CODE_OAUTH_TOKEN and the subscription login
in `.credentials.json` (/work/shared/CLAUDE-CODE.md), so cclogin refuses to set it there.
Everything runs the real `cclogin` executable (support.legacy_home).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.legacy_home import LegacyHome
from support.secret_service import SecretServiceDaemon

KEY = "sk-ant-api03-test-0001"  # what claude-json-api-key.json holds
API_KEY_FILE = "claude-json-api-key.json"
SUB = "subscription-login.credentials.json"
# 4-space indent, CRLF, unknown keys, an `env` object, no trailing newline.
ODD = (
    '{\r\n    "model": "opus",\r\n    "env": {\r\n        "FOO": "bar"\r\n    },\r\n'
    '    "x-unknown-tool": [1, {"a": null}]\r\n}'
)


def _settings(home: LegacyHome) -> Path:
    return home.home / ".claude" / "settings.json"


def _helper(home: LegacyHome) -> str:
    doc = json.loads(_settings(home).read_text())
    return str(doc["apiKeyHelper"])


def _doctor(home: LegacyHome, **env: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(home.exe), "doctor", "--json"],
        env=home.env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return [f for f in json.loads(result.stdout) if f["check"] == "apiKeyHelper"]


def test_refused_beside_a_subscription_login(legacy_home: LegacyHome) -> None:
    legacy_home.install(SUB)
    legacy_home.install(API_KEY_FILE)
    _settings(legacy_home).write_text(ODD)

    result = legacy_home.run("migrate", "--set-api-key-helper")

    assert result.returncode == 1, result.stderr
    assert "apiKeyHelper not set" in result.stderr
    assert "subscription login" in result.stderr and "silently bill" in result.stderr
    assert "cclogin exec --profile claude-api-key -- claude" in result.stderr
    assert _settings(legacy_home).read_bytes() == ODD.encode()
    assert legacy_home.token("claude-api-key") == KEY  # the migration itself went ahead


def test_not_offered_beside_a_login_that_stays(legacy_home: LegacyHome) -> None:
    """A `.credentials.json` login cclogin did not move (its profile name `claude` is
    taken by something else, so it stays) still counts."""
    legacy_home.install(SUB)
    claude_json = legacy_home.install(API_KEY_FILE)
    cred = legacy_home.home / ".claude" / ".credentials.json"
    profile = legacy_home.run(
        "login", "--with-api-key", "--profile", "claude", stdin="sk-ant-api03-test-0009\n"
    )
    assert profile.returncode == 0, profile.stderr  # so `claude` is taken: conflict, it stays

    result = legacy_home.run("migrate", "--set-api-key-helper", "--from", str(claude_json))

    assert cred.exists()
    assert "apiKeyHelper not set" in result.stderr
    assert f"subscription login in {cred}" in result.stderr
    assert not _settings(legacy_home).exists()


def test_refused_beside_a_claude_token_profile(legacy_home: LegacyHome) -> None:
    token = "sk-ant-oat01-test-0077-" + "x" * 40
    login = legacy_home.run("login", "--with-oauth-token", "--profile", "tok", stdin=token + "\n")
    assert login.returncode == 0, login.stderr
    legacy_home.install(API_KEY_FILE)
    _settings(legacy_home).write_text(ODD)

    result = legacy_home.run("migrate", "--set-api-key-helper")

    assert result.returncode == 1
    assert "Claude token in profile 'tok'" in result.stderr
    assert "cclogin exec --profile claude-api-key -- claude" in result.stderr
    assert _settings(legacy_home).read_bytes() == ODD.encode()


def test_set_in_place_runs_without_path_and_undo_restores_bytes(legacy_home: LegacyHome) -> None:
    claude_json = legacy_home.install(API_KEY_FILE)
    original_claude_json = claude_json.read_bytes()
    _settings(legacy_home).write_text(ODD, newline="")

    result = legacy_home.run("migrate", "--set-api-key-helper")

    assert result.returncode == 0, result.stderr
    command = _helper(legacy_home)
    expected = ODD.replace(
        '[1, {"a": null}]', '[1, {"a": null}],\r\n    "apiKeyHelper": ' + json.dumps(command)
    )
    assert _settings(legacy_home).read_bytes() == expected.encode()
    words = shlex.split(command)
    assignments = {w.partition("=")[0] for w in words if "=" in w and not w.startswith("/")}
    # Where cclogin's data and passphrase are travels with the command (never a
    # passphrase): a Claude Code started from a desktop launcher has no shell variables.
    assert assignments == {"CCLOGIN_HOME", "CCLOGIN_PASSPHRASE_FILE"}
    program = words[len(assignments)]
    assert os.path.isabs(program) and os.path.isfile(program)
    assert words[len(assignments) + 1 :] == ["token", "--profile", "claude-api-key"]
    launcher_env = {"HOME": str(legacy_home.home), "PATH": "/usr/bin:/bin", "CCLOGIN_TEST_ONLY_WEAK_KDF": "1"}
    helper = subprocess.run(
        ["/bin/sh", "-c", command],
        env=launcher_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert helper.returncode == 0, helper.stderr
    assert helper.stdout == KEY + "\n"
    assert _doctor(legacy_home) == []  # a good helper: nothing to say

    undo = legacy_home.run("migrate", "--undo")

    assert undo.returncode == 0, undo.stderr
    assert _settings(legacy_home).read_bytes() == ODD.encode()
    assert claude_json.read_bytes() == original_claude_json


def test_a_created_settings_file_goes_again_on_undo(legacy_home: LegacyHome) -> None:
    legacy_home.install(API_KEY_FILE)

    result = legacy_home.run("migrate", "--set-api-key-helper")

    assert result.returncode == 0, result.stderr
    assert _helper(legacy_home).endswith("token --profile claude-api-key")
    assert legacy_home.run("migrate", "--undo").returncode == 0
    assert not _settings(legacy_home).exists()


def test_force_replaces_another_helper_and_undo_puts_it_back(legacy_home: LegacyHome) -> None:
    legacy_home.install(API_KEY_FILE)
    before = '{\n    "apiKeyHelper": "/opt/old/helper.sh",\n    "theme": "dark"\n}\n'
    _settings(legacy_home).write_text(before)

    refused = legacy_home.run("migrate", "--set-api-key-helper")

    assert refused.returncode == 1
    assert "already sets apiKeyHelper" in refused.stderr and "--force" in refused.stderr
    assert _settings(legacy_home).read_text() == before

    forced = legacy_home.run("migrate", "--set-api-key-helper", "--force")  # a rerun

    assert forced.returncode == 0, forced.stderr
    command = _helper(legacy_home)
    assert _settings(legacy_home).read_text() == before.replace(
        '"/opt/old/helper.sh"', json.dumps(command)
    )
    assert legacy_home.run("migrate", "--undo").returncode == 0
    assert _settings(legacy_home).read_text() == before


def test_undo_after_other_edits_only_takes_its_own_member_back(legacy_home: LegacyHome) -> None:
    legacy_home.install(API_KEY_FILE)
    _settings(legacy_home).write_text('{"model": "opus"}')
    assert legacy_home.run("migrate", "--set-api-key-helper").returncode == 0
    command = _helper(legacy_home)
    changed = '{"model": "sonnet", "apiKeyHelper": ' + json.dumps(command) + "}"
    _settings(legacy_home).write_text(changed)  # Claude Code's /config changed the model

    assert legacy_home.run("migrate", "--undo").returncode == 0

    assert _settings(legacy_home).read_text() == '{"model": "sonnet"}'


def test_refused_where_the_helper_could_not_get_a_passphrase(legacy_home: LegacyHome) -> None:
    """CCLOGIN_PASSPHRASE alone: the encrypted file works here, but no passphrase
    source Claude Code's helper could use is configured."""
    legacy_home.install(API_KEY_FILE)
    passphrase = (legacy_home.root / "passphrase").read_text().strip()

    result = legacy_home.run(
        "migrate",
        "--set-api-key-helper",
        CCLOGIN_PASSPHRASE_FILE="",
        CCLOGIN_PASSPHRASE=passphrase,
    )

    assert result.returncode == 1
    assert "would fail in Claude Code" in result.stderr and "no passphrase source" in result.stderr
    assert not _settings(legacy_home).exists()


def test_doctor_flags_a_helper_for_a_missing_profile(legacy_home: LegacyHome) -> None:
    command = f"{shlex.quote(str(legacy_home.exe))} token --profile gone"
    _settings(legacy_home).write_text(json.dumps({"apiKeyHelper": command}))

    found = _doctor(legacy_home)

    assert [f["level"] for f in found] == ["fail"]
    assert "'gone', which does not exist" in found[0]["message"]
    assert found[0]["fix"]


def test_doctor_flags_a_missing_program_and_a_missing_passphrase(legacy_home: LegacyHome) -> None:
    legacy_home.install(API_KEY_FILE)
    assert legacy_home.run("migrate", "--set-api-key-helper").returncode == 0
    local = legacy_home.home / ".claude" / "settings.local.json"
    local.write_text(json.dumps({"apiKeyHelper": "/nowhere/bin/cclogin token -p claude-api-key"}))

    found = _doctor(legacy_home)
    assert len(found) == 1 and found[0]["level"] == "fail"
    assert "/nowhere/bin/cclogin, which does not exist" in found[0]["message"]
    assert str(legacy_home.exe.resolve()) in found[0]["fix"]
    local.unlink()
    # A helper written without the passphrase pointer (by hand, or by an older cclogin)
    # fails where Claude Code's environment has no passphrase source.
    bare = f"{shlex.quote(str(legacy_home.exe))} token --profile claude-api-key"
    _settings(legacy_home).write_text(json.dumps({"apiKeyHelper": bare}))

    found = _doctor(legacy_home, CCLOGIN_PASSPHRASE_FILE="")

    assert len(found) == 1 and found[0]["level"] == "fail"
    assert "encrypted file" in found[0]["message"]
    assert "no passphrase source" in found[0]["message"]
    assert "CCLOGIN_PASSPHRASE_FILE" in found[0]["fix"]


@pytest.mark.secret_service
def test_keyring_backend_needs_no_passphrase(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    overlay = secret_service_daemon.env
    home = LegacyHome(
        tmp_path,
        extra_env={
            "CCLOGIN_BACKEND": "secret-service",
            "CCLOGIN_PASSPHRASE_FILE": "",
            "DBUS_SESSION_BUS_ADDRESS": overlay["DBUS_SESSION_BUS_ADDRESS"],
            "XDG_RUNTIME_DIR": overlay["XDG_RUNTIME_DIR"],
        },
    )
    (home.home / ".claude").mkdir(parents=True)
    claude_json = home.install(API_KEY_FILE)
    original = claude_json.read_bytes()
    _settings(home).write_text(ODD, newline="")

    result = home.run("migrate", "--set-api-key-helper")

    assert result.returncode == 0, result.stderr
    helper = subprocess.run(
        ["/bin/sh", "-c", _helper(home)],
        env=home.env(PATH="/usr/bin:/bin"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert helper.stdout == KEY + "\n", helper.stderr
    assert _doctor(home) == []
    assert home.run("migrate", "--undo").returncode == 0
    assert _settings(home).read_bytes() == ODD.encode()
    assert claude_json.read_bytes() == original
    assert secret_service_daemon.items() == []
