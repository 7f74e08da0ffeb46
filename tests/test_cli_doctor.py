"""`cclogin doctor`: where things are, what is wrong, and how to fix each finding."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import make_encrypted_world


def _findings(out: str) -> list[dict[str, str]]:
    return list(json.loads(out))


def test_doctor_says_where_config_lives_and_lists_providers(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    config = world.home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[providers.corp]\nissuer = "https://login.example.test"\n'
                      'client_id = "cclogin"\n')
    res = world.cclogin("doctor", "--json")
    assert res.rc == 0, res
    lines = [f["message"] for f in _findings(res.stdout) if f["check"] == "config"]
    assert any(str(world.home / "config") in m for m in lines)
    assert any("providers: corp" in m for m in lines)


def test_a_broken_config_file_is_a_failure_with_a_fix(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    config = world.home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[providers\n")
    res = world.cclogin("doctor", "--json")
    assert res.rc == 1
    bad = [f for f in _findings(res.stdout) if f["level"] == "fail"]
    assert bad and "not valid TOML" in bad[0]["message"] and bad[0]["fix"]
