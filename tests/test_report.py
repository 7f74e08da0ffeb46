"""`cclogin report --json`: validated against docs/report.schema.json, exit codes that
mean one thing each, the policy's digest, every violation with its rule and line, no
secret. Run by a second, unprivileged user under root-owned policies (support.policy_world).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from support.policy_world import (
    KEY,
    PolicyWorld,
    make_oauth_profile,
    policy_world,
    unix_user,
    user_cclogin,
)

__all__ = ["policy_world", "unix_user", "user_cclogin"]  # fixtures, imported for pytest

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs" / "report.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


def report(
    w: PolicyWorld, schema: dict[str, Any], *, rc: int, args: tuple[str, ...] = (), **kw: Any
) -> dict[str, Any]:
    r = w.run("report", "--json", *args, **kw)
    assert r.rc == rc, str(r)
    assert KEY not in r.output and KEY[:-1] not in r.output
    doc: dict[str, Any] = json.loads(r.stdout)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    return doc


def test_no_policy_is_compliant(policy_world: PolicyWorld, schema: dict[str, Any]) -> None:
    w = policy_world
    w.use_policy(None)
    assert w.login().rc == 0
    doc = report(w, schema, rc=0)
    assert doc["compliant"] is True and doc["violations"] == []
    assert doc["policy"] == {
        "status": "none", "path": None, "sha256": None, "schema": None, "rules": {}, "error": None,
    }
    assert doc["profiles"] == [
        {"name": "default", "kind": "api_key", "backend": "encrypted-file",
         "storage_class": "encrypted-file", "active": True},
    ]
    assert doc["user"]["uid"] == w.user.uid and doc["user"]["name"] == w.user.name
    assert doc["plaintext"]["claude_code"] == [] and doc["plaintext"]["problems"] == []
    assert doc["plaintext"]["scan"]["findings"] == 0
    assert doc["report_schema"] == 1
    assert report(w, schema, rc=0, args=("--no-scan",))["plaintext"]["scan"] is None


def test_the_home_scan_is_summarised_never_shown(policy_world: PolicyWorld, schema: dict[str, Any]) -> None:
    """`cclogin scan`'s counts: a key exported in ~/.bashrc and typed in the history."""
    w = policy_world
    w.use_policy(None)
    key = "sk-ant-api03-" + ("Zq7_Lm2-Xv9k" * 8)[:93] + "AA"
    w.user_file(".bashrc", f"export ANTHROPIC_API_KEY={key}\n", 0o644)
    w.user_file(".bash_history", f"ls\nexport ANTHROPIC_API_KEY={key}\n")
    r = w.run("report", "--json")
    assert r.rc == 0, str(r)  # no policy rule counts them: informational
    assert key not in r.output and key[13:40] not in r.output
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    summary = doc["plaintext"]["scan"]
    assert summary["findings"] == 2 and summary["files_with_findings"] == 2
    assert summary["by_kind"] == {"api_key": 2}
    assert summary["by_location"] == {"shell-history": 1, "shell-rc": 1}
    assert summary["committed"] == 0 and summary["files_scanned"] >= 2
    human = w.run("report")
    assert "2 in 2 files" in human.stdout and key not in human.output


def test_violations_each_name_rule_line_and_subject(policy_world: PolicyWorld, schema: dict[str, Any]) -> None:
    w = policy_world
    w.use_policy(None)
    assert w.login().rc == 0  # in the encrypted file, with the weak test KDF
    assert w.login("team-x").rc == 0
    make_oauth_profile(w, "corp", "https://idp.old.test")
    planted = w.user_file(".claude.json", json.dumps({"primaryApiKey": KEY[:-1] + "Q"}), 0o644)
    text = (
        "schema = 1\n"
        "[backends]\n"
        'allowed = ["secret-service", "vault"]\n'
        'require_team_server = ["team-*"]\n'
        "[encrypted_file]\n"
        "min_memory_kib = 1024\n"
        "[oauth]\n"
        'allowed_issuers = ["https://idp.new.test/"]\n'
        "[migrate]\n"
        "require_clean = true\n"
        "[passphrase]\n"
        "allow_environment = false\n"
    )
    path = w.write_policy(text)
    w.use_policy(path)
    w.user_file(".config/cclogin/config.toml", 'backend = "encrypted-file"\n')
    doc = report(w, schema, rc=10, extra={"CCLOGIN_PASSPHRASE": "in the environment (test)"})
    assert doc["compliant"] is False
    assert doc["policy"]["status"] == "in_force"
    assert doc["policy"]["path"] == str(path)
    assert doc["policy"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc["policy"]["rules"]["backends.allowed"] == ["secret-service", "vault"]
    assert doc["policy"]["rules"]["migrate.require_clean"] is True
    got = {(v["rule"], v["line"], v["subject"]) for v in doc["violations"]}
    assert got == {
        ("backends.allowed", 3, "profile:default"),
        ("backends.allowed", 3, "profile:team-x"),
        ("backends.allowed", 3, "profile:corp"),
        ("backends.require_team_server", 4, "profile:team-x"),
        ("oauth.allowed_issuers", 8, "profile:corp"),
        ("backends.allowed", 3, "setting:backend"),
        ("encrypted_file.min_memory_kib", 6, f"encrypted-store:{w.home}/.local/share/cclogin/store.cclogin"),
        ("migrate.require_clean", 10, f"file:{planted}"),
        ("passphrase.allow_environment", 12, "environment:CCLOGIN_PASSPHRASE"),
    }, json.dumps(doc["violations"], indent=1)
    assert doc["plaintext"]["claude_code"] == [
        {"path": str(planted), "kinds": ["api_key"], "labels": [doc["plaintext"]["claude_code"][0]["labels"][0]]}
    ]
    assert "in the environment (test)" not in json.dumps(doc)
    # The text form says the same, and exits the same.
    human = w.run("report")
    assert human.rc == 10 and "NOT compliant" in human.stdout and KEY not in human.output


def test_compliant_under_a_policy(policy_world: PolicyWorld, schema: dict[str, Any]) -> None:
    w = policy_world
    w.write_policy('schema = 1\n[backends]\nallowed = ["encrypted-file"]\n[logout]\nrequire_revoke = true\n')
    assert w.login().rc == 0
    doc = report(w, schema, rc=0)
    assert doc["compliant"] is True and doc["policy"]["status"] == "in_force"
    assert doc["policy"]["rules"] == {"backends.allowed": ["encrypted-file"], "logout.require_revoke": True}


def test_an_unusable_policy_is_reported_and_exits_9(policy_world: PolicyWorld, schema: dict[str, Any]) -> None:
    w = policy_world
    path = w.write_policy("schema = 1\n", mode=0o666)
    doc = report(w, schema, rc=9)
    assert doc["compliant"] is False
    assert doc["policy"]["status"] == "unusable" and doc["policy"]["path"] == str(path)
    assert "writable by group or others" in doc["policy"]["error"]
    w.write_policy("schema = 1\n[backends]\nallowed = 1\n")
    doc = report(w, schema, rc=9)
    assert "line 3" in doc["policy"]["error"]
    assert w.run("status").rc == 9  # every other command stops


def test_the_schema_rejects_what_the_report_never_says(schema: dict[str, Any]) -> None:
    """The schema is a real contract: a wrong shape fails it."""
    good: dict[str, Any] = {
        "report_schema": 1, "cclogin_version": "0.1.0", "generated_at": "2025-01-01T00:00:00Z",
        "user": {"name": "a", "uid": 1000, "home": "/home/a"},
        "policy": {"status": "none", "path": None, "sha256": None, "schema": None, "rules": {}, "error": None},
        "profiles": [], "plaintext": {"claude_code": [], "problems": [], "scan": None},
        "violations": [], "compliant": True,
    }
    jsonschema.validate(good, schema)
    for broken in (
        {**good, "compliant": "yes"},
        {**good, "secret": "x"},
        {**good, "policy": {**good["policy"], "status": "in_force"}},  # no digest
        {**good, "violations": [{"rule": "made.up", "line": 1, "subject": "profile:a", "message": ""}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
