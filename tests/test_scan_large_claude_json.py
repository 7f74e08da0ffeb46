"""A ~/.claude.json over scan's walk limit is still read: it is where Claude Code keeps
a Console key, and real ones grow past 10 MiB with project history."""

from __future__ import annotations

import json

from support.legacy_home import LegacyHome
from support.scan_home import fake_key

EXIT_FOUND = 8


def test_a_claude_json_over_the_walk_limit_is_still_scanned(legacy_home: LegacyHome) -> None:
    key = fake_key("api03", 7)
    path = legacy_home.home / ".claude.json"
    history = ["fix the build " * 8] * 2000
    projects = {f"/work/p{i}": {"history": history[:40], "allowedTools": []} for i in range(2500)}
    # The key last, past the first 10 MiB, as a grown file has it.
    path.write_text(json.dumps({"projects": projects, "primaryApiKey": key}, indent=2))
    path.chmod(0o600)
    assert path.stat().st_size > 11 * 1024 * 1024

    result = legacy_home.run("scan", "--json", "--no-store-check", "--no-git")

    assert result.returncode == EXIT_FOUND, result.stderr
    doc = json.loads(result.stdout)
    hits = [f for f in doc["findings"] if f["path"] == str(path)]
    assert [h["variable"] for h in hits] == ["primaryApiKey"]
    assert key not in result.stdout + result.stderr
    # A file the walk finds (not a known place) keeps the cap.
    big = legacy_home.home / "notes" / "big.txt"
    big.parent.mkdir()
    big.write_bytes(b"x" * (11 * 1024 * 1024) + f"\nANTHROPIC_API_KEY={key}\n".encode())
    again = json.loads(legacy_home.run("scan", "--json", "--no-store-check", "--no-git").stdout)
    assert str(big) not in {f["path"] for f in again["findings"]}
