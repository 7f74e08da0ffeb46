"""Every live plaintext location of Claude Code, through the real `cclogin` executable:
`migrate` moves the secret (every other byte kept), `token` gives it back, `--undo`
restores each file byte for byte and mode for mode, `doctor` reports each location
until it is migrated, and `logout` sweeps copies that came back.

Claude Code's other secrets in `.credentials.json` (mcpOAuth, pluginSecrets, ...) stay
in the file, reported by name (never by value) by migrate, --dry-run, doctor and logout.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest

from support.cli import files_containing
from support.legacy_home import LegacyHome

FAR = 4102444800000  # 2100-01-01, epoch ms


def _login(token: str, extra: str = "") -> str:
    return f'{{"accessToken": "{token}", "expiresAt": {FAR}, "scopes": ["user:inference"]{extra}}}'


@dataclass
class Case:
    files: dict[str, tuple[bytes, int]]  # path under HOME -> (bytes, mode)
    after: dict[str, bytes | None]  # path under HOME -> bytes after migrate (None: removed)
    profiles: dict[str, tuple[str, str]]  # profile -> (kind, secret)
    env: dict[str, str] = field(default_factory=dict)  # values: "{home}" is replaced


SECURE_A = "sk-ant-oat01-TEST-secure-0001"
SECURE_B = "sk-ant-oat01-TEST-stale-0002"
BACKUP_KEY = "sk-ant-api03-TEST-backup-0001"
CONFIG_KEY = "sk-ant-api03-TEST-config-0001"
SETTINGS_KEY = "sk-ant-api03-TEST-settings-0001"
SETTINGS_OAUTH = "sk-ant-oat01-TEST-settings-0002"
SETTINGS_AUTH = "gw-TEST-settings-0003"
TEMP_LOGIN = "sk-ant-oat01-TEST-temp-0001"
TEMP_KEY = "sk-ant-api03-TEST-temp-0002"

_CLAUDE_JSON = (
    f'{{\n  "numStartups": 9,\n  "primaryApiKey": "{BACKUP_KEY}",\n  "theme": "dark"\n}}\n'
)
_CLAUDE_JSON_AFTER = '{\n  "numStartups": 9,\n  "theme": "dark"\n}\n'
_SETTINGS = (
    f'{{\n  "env": {{\n    "DISABLE_TELEMETRY": "1",\n    "ANTHROPIC_API_KEY": "{SETTINGS_KEY}",\n'
    '    "MAX_THINKING_TOKENS": "1024"\n  },\n  "model": "opus"\n}\n'
)
_SETTINGS_AFTER = (
    '{\n  "env": {\n    "DISABLE_TELEMETRY": "1",\n'
    '    "MAX_THINKING_TOKENS": "1024"\n  },\n  "model": "opus"\n}\n'
)
_LOCAL = (
    f'{{"env":{{"CLAUDE_CODE_OAUTH_TOKEN":"{SETTINGS_OAUTH}","ANTHROPIC_BASE_URL":"https://gw.example.com",'
    f'"ANTHROPIC_AUTH_TOKEN":"{SETTINGS_AUTH}"}},"permissions":{{"allow":[]}}}}'
)
_LOCAL_AFTER = '{"env":{"ANTHROPIC_BASE_URL":"https://gw.example.com"},"permissions":{"allow":[]}}'

CASES = {
    "securestorage-dir-first-and-stale-copy": Case(
        files={
            "secure/.credentials.json": (
                f'{{"claudeAiOauth": {_login(SECURE_A)}, "organizationUuid": "org-1"}}'.encode(),
                0o600,
            ),
            ".claude/.credentials.json": (
                f'{{"claudeAiOauth": {_login(SECURE_B)}}}'.encode(),
                0o600,
            ),
        },
        after={
            "secure/.credentials.json": b'{"organizationUuid": "org-1"}',
            ".claude/.credentials.json": None,
        },
        profiles={"claude": ("claude_login", SECURE_A), "claude-2": ("claude_login", SECURE_B)},
        env={"CLAUDE_SECURESTORAGE_CONFIG_DIR": "{home}/secure"},
    ),
    "global-config-backups": Case(
        files={
            ".claude.json": (_CLAUDE_JSON.encode(), 0o600),
            ".claude/backups/.claude.json.backup.1754000000000": (_CLAUDE_JSON.encode(), 0o644),
            ".claude/backups/.claude.json.backup.1754000060000": (
                _CLAUDE_JSON.replace('"numStartups": 9', '"numStartups": 10').encode(),
                0o644,
            ),
        },
        after={
            ".claude.json": _CLAUDE_JSON_AFTER.encode(),
            ".claude/backups/.claude.json.backup.1754000000000": _CLAUDE_JSON_AFTER.encode(),
            ".claude/backups/.claude.json.backup.1754000060000": _CLAUDE_JSON_AFTER.replace(
                '"numStartups": 9', '"numStartups": 10'
            ).encode(),
        },
        profiles={"claude-api-key": ("api_key", BACKUP_KEY)},
    ),
    "legacy-config-json": Case(
        files={
            ".claude/.config.json": (
                f'{{"autoUpdaterStatus": "enabled", "primaryApiKey": "{CONFIG_KEY}"}}'.encode(),
                0o644,
            )
        },
        after={".claude/.config.json": b'{"autoUpdaterStatus": "enabled"}'},
        profiles={"claude-api-key": ("api_key", CONFIG_KEY)},
    ),
    "settings-env": Case(
        files={
            ".claude/settings.json": (_SETTINGS.encode(), 0o644),
            ".claude/settings.local.json": (_LOCAL.encode(), 0o600),
        },
        after={
            ".claude/settings.json": _SETTINGS_AFTER.encode(),
            ".claude/settings.local.json": _LOCAL_AFTER.encode(),
        },
        profiles={
            "claude-api-key": ("api_key", SETTINGS_KEY),
            "claude-oauth-token": ("claude_token", SETTINGS_OAUTH),
            "claude-auth-token": ("oauth", SETTINGS_AUTH),
        },
    ),
    "claude-code-temp-files": Case(
        files={
            ".claude/.credentials.json.tmp.0a1b2c3d": (
                f'{{"claudeAiOauth":{_login(TEMP_LOGIN)}}}'.encode(),
                0o600,
            ),
            ".claude.json.tmp.4242.a1b2c3d4e5f6": (
                f'{{"primaryApiKey":"{TEMP_KEY}","theme":"dark"}}'.encode(),
                0o600,
            ),
        },
        after={
            ".claude/.credentials.json.tmp.0a1b2c3d": None,
            ".claude.json.tmp.4242.a1b2c3d4e5f6": b'{"theme":"dark"}',
        },
        profiles={"claude": ("claude_login", TEMP_LOGIN), "claude-api-key": ("api_key", TEMP_KEY)},
    ),
}


def _plant(home: LegacyHome, case: Case) -> None:
    home.extra_env.update({k: v.replace("{home}", str(home.home)) for k, v in case.env.items()})
    for rel, (data, mode) in case.files.items():
        path = home.home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)


def _secret_anywhere(home: LegacyHome, secret: str) -> list[str]:
    return files_containing(home.home, secret.encode()) + files_containing(
        home.cclogin_home, secret.encode()
    )


def _plaintext_findings(home: LegacyHome) -> list[dict[str, str]]:
    result = home.run("doctor", "--json")
    return [f for f in json.loads(result.stdout) if f["check"] == "plaintext"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_migrate_then_undo(legacy_home: LegacyHome, name: str) -> None:
    case = CASES[name]
    _plant(legacy_home, case)

    before = _plaintext_findings(legacy_home)
    for rel in case.files:
        assert any(str(legacy_home.home / rel) in f["message"] for f in before), (rel, before)

    result = legacy_home.run("migrate")

    assert result.returncode == 0, result.stderr
    for profile, (kind, secret) in case.profiles.items():
        assert _secret_anywhere(legacy_home, secret) == [], profile
        assert secret not in result.stderr
        assert legacy_home.token(profile) == secret
        assert legacy_home.profiles()[profile]["kind"] == kind
    assert set(legacy_home.profiles()) == set(case.profiles)
    for rel, want in case.after.items():
        path = legacy_home.home / rel
        if want is None:
            assert not path.exists(), rel
        else:
            assert path.read_bytes() == want, rel
            assert path.stat().st_mode & 0o777 == case.files[rel][1], rel
    assert [f["level"] for f in _plaintext_findings(legacy_home)] == ["ok"]
    assert legacy_home.leftovers() == []

    undo = legacy_home.run("migrate", "--undo")

    assert undo.returncode == 0, undo.stderr
    for rel, (data, mode) in case.files.items():
        path = legacy_home.home / rel
        assert path.read_bytes() == data, rel
        assert path.stat().st_mode & 0o777 == mode, rel
    assert legacy_home.profiles() == {}


@pytest.mark.parametrize("name", sorted(CASES))
def test_logout_sweeps_copies_that_came_back(legacy_home: LegacyHome, name: str) -> None:
    case = CASES[name]
    _plant(legacy_home, case)
    legacy_home.run("migrate", check=True)
    _plant(legacy_home, case)  # Claude Code wrote them again, or a backup was restored

    out = legacy_home.run("logout", "--all")

    assert out.returncode == 0, out.stderr
    assert "plaintext copy" in out.stderr
    for _kind, secret in case.profiles.values():
        assert _secret_anywhere(legacy_home, secret) == []
    for rel, want in case.after.items():
        path = legacy_home.home / rel
        assert (path.read_bytes() if path.exists() else None) == want, rel


def test_the_same_key_in_the_config_and_its_backups_is_one_profile(
    legacy_home: LegacyHome,
) -> None:
    _plant(legacy_home, CASES["global-config-backups"])

    result = legacy_home.run("migrate")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("(already stored there)") == 2  # each backup: action "same"
    assert "a backup Claude Code made" in result.stderr
    # Newest backup first, in Claude Code's order.
    assert result.stderr.index("backup.1754000060000") < result.stderr.index("backup.1754000000000")


# --- Claude Code's other secrets: they stay, reported by name ---------------------------

KEPT = {
    "mcpOAuth": '{"github|0a1b": {"serverName": "github", "accessToken": "mcp-TEST-kept-0001"}}',
    "mcpOAuthClientConfig": '{"github|0a1b": {"clientSecret": "mcp-TEST-kept-0002"}}',
    "pluginSecrets": '{"plug": {"token": "plugin-TEST-kept-0003"}}',
    "designOauth": '{"accessToken": "design-TEST-kept-0004"}',
    "chatHistoryOauth": '{"accessToken": "chat-TEST-kept-0005"}',
    "cloudSessionsOauth": '{"accessToken": "cloud-TEST-kept-0006"}',
}
KEPT_LOGIN = "sk-ant-oat01-TEST-kept-0007"


def _kept_file(legacy_home: LegacyHome) -> tuple[Path, bytes]:
    members = ",\n  ".join(f'"{k}": {v}' for k, v in KEPT.items())
    data = f'{{\n  "claudeAiOauth": {_login(KEPT_LOGIN)},\n  {members}\n}}\n'.encode()
    path = legacy_home.home / ".claude" / ".credentials.json"
    path.write_bytes(data)
    path.chmod(0o644)
    return path, data


def _names_every_kept_key(text: str) -> None:
    for key, value in KEPT.items():
        assert f"{key} stays in the file" in text, key
        assert value not in text and "TEST-kept" not in text  # never a value
    assert "only from this file" in text and "MCP servers" in text


def test_only_the_subscription_login_moves_the_rest_is_reported(legacy_home: LegacyHome) -> None:
    path, data = _kept_file(legacy_home)

    dry = legacy_home.run("migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    _names_every_kept_key(dry.stderr)
    assert path.read_bytes() == data

    result = legacy_home.run("migrate")

    assert result.returncode == 0, result.stderr
    _names_every_kept_key(result.stderr)
    assert legacy_home.token("claude") == KEPT_LOGIN
    assert _secret_anywhere(legacy_home, KEPT_LOGIN) == []
    left = json.loads(path.read_text())
    assert list(left) == list(KEPT)  # only those keys, as they were
    members = ",\n  ".join(f'"{k}": {v}' for k, v in KEPT.items())
    assert path.read_bytes() == f"{{\n  {members}\n}}\n".encode()
    assert path.stat().st_mode & 0o777 == 0o600  # secrets stay in it: 0600 enforced

    doctor = legacy_home.run("doctor", "--json")
    kept = [f for f in json.loads(doctor.stdout) if f["check"] == "plaintext-kept"]
    assert len(kept) == len(KEPT)
    _names_every_kept_key("\n".join(f["message"] for f in kept))
    plain = [f for f in json.loads(doctor.stdout) if f["check"] == "plaintext"]
    assert [f["level"] for f in plain] == ["ok"]

    again = legacy_home.run("migrate")
    assert again.returncode == 0 and "nothing to migrate" in again.stderr
    _names_every_kept_key(again.stderr)

    undo = legacy_home.run("migrate", "--undo")
    assert undo.returncode == 0, undo.stderr
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o644


def test_logout_reports_the_kept_keys_and_leaves_them(legacy_home: LegacyHome) -> None:
    path, _data = _kept_file(legacy_home)
    legacy_home.run("migrate", check=True)
    kept_bytes = path.read_bytes()

    out = legacy_home.run("logout", "--all")

    assert out.returncode == 0, out.stderr
    _names_every_kept_key(out.stderr)
    assert path.read_bytes() == kept_bytes
    assert legacy_home.profiles() == {}


def test_a_kept_only_file_readable_by_others_is_reported(legacy_home: LegacyHome) -> None:
    path = legacy_home.home / ".claude" / ".credentials.json"
    path.write_text(f'{{"mcpOAuth": {KEPT["mcpOAuth"]}}}')
    path.chmod(0o644)

    result = legacy_home.run("migrate", "--dry-run")
    doctor = json.loads(legacy_home.run("doctor", "--json").stdout)

    assert "mcpOAuth stays in the file" in result.stderr
    assert f"chmod 600 {path}" in result.stderr
    assert any(f["level"] == "warn" and "chmod 600" in (f["fix"] or "") for f in doctor)


def test_an_older_migration_that_moved_mcp_oauth_still_undoes(legacy_home: LegacyHome) -> None:
    """Blobs written before only claudeAiOauth moved hold mcpOAuth in their undo record."""
    from cclogin.accounts.profiles import editing_metadata
    from cclogin.migrate.files import sha256
    from cclogin.migrate.plan import Edit, build_blob
    from cclogin.model import ClaudeLogin, Profile, profile_name, secret_key
    from cclogin.paths import get_paths
    from cclogin.secret import Secret
    from cclogin.store.select import open_backend

    path = legacy_home.home / ".claude" / ".credentials.json"
    login = _login(KEPT_LOGIN)
    original = f'{{"claudeAiOauth": {login}, "mcpOAuth": {KEPT["mcpOAuth"]}}}'.encode()
    origin = {
        "migration": "0001-claude-code-plaintext",
        "at": 1,
        "path": str(path),
        "shape": "json",
        "variable": "",
        "after_sha256": sha256(b""),
        "edits": [
            Edit(0, original, b"").to_json(),  # the old plan: both keys cut, file removed
        ],
        "members": [f'"claudeAiOauth": {login}', f'"mcpOAuth": {KEPT["mcpOAuth"]}'],
    }
    cred = ClaudeLogin(raw=Secret(login), access_token=Secret(KEPT_LOGIN), expires_at=None)
    env = legacy_home.env()
    paths = get_paths(env)
    with mock.patch.dict(os.environ, env, clear=True):
        store = open_backend("encrypted-file", paths, env)
        store.set(secret_key(profile_name("claude")), build_blob(cred, [origin]))
        with editing_metadata(paths) as meta:
            meta.put(
                Profile(
                    name=profile_name("claude"),
                    kind="claude_login",
                    backend=store.name,
                    storage_class=store.storage_class,
                    created_at=1.0,
                    source=str(path),
                )
            )

    undo = legacy_home.run("migrate", "--undo")

    assert undo.returncode == 0, undo.stderr
    assert "exactly as it was" in undo.stderr
    assert path.read_bytes() == original
    assert legacy_home.profiles() == {}


# --- abandoned temp files, and the paths older guides write ---------------------------


def test_a_truncated_temp_file_is_reported_with_the_hint_to_delete_it(
    legacy_home: LegacyHome,
) -> None:
    temp = legacy_home.home / ".claude" / ".credentials.json.tmp.deadbeef"
    temp.write_text('{"claudeAiOauth":{"accessToken":"sk-ant-oat01-TEST-trunc-0001","ref')
    temp.chmod(0o600)
    before = temp.read_bytes()

    dry = legacy_home.run("migrate", "--dry-run")
    real = legacy_home.run("migrate")
    doctor = json.loads(legacy_home.run("doctor", "--json").stdout)
    legacy_home.run("login", "--with-api-key", stdin="sk-ant-api03-TEST-other-0001\n", check=True)
    logout = legacy_home.run("logout", "--all")

    for out in (dry, real, logout):
        assert out.returncode == 0, out.stderr
        assert "abandoned temp file" in out.stderr and f"rm {temp}" in out.stderr
        assert "TEST-trunc" not in out.stderr
    found = [f for f in doctor if f["check"] == "plaintext" and str(temp) in f["message"]]
    assert len(found) == 1 and f"rm {temp}" in found[0]["fix"]
    assert temp.read_bytes() == before


def test_paths_older_guides_write_are_labelled_so(legacy_home: LegacyHome) -> None:
    path = legacy_home.home / ".config" / "claude" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(f'{{"claudeAiOauth": {_login("sk-ant-oat01-TEST-xdg-0001")}}}')
    path.chmod(0o600)

    result = legacy_home.run("migrate", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert f"{path} (written by older guides and other tools" in result.stderr
    assert "current Claude Code never reads it" in result.stderr
