"""`cclogin scan`, end to end through the real executable, on a planted home.

It finds exactly the planted credentials (bash and zsh history, rc files, fish,
`.env` files in a git repository, `~/.claude.json`, a JSON config) and nothing else:
no decoy, nothing in `node_modules`, nothing in a 50 MB log (skipped, reported),
nothing behind a symlink out of the home. No secret reaches stdout or stderr, even
with -v.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from support.legacy_home import LegacyHome
from support.scan_home import FILLER, ScanHome, build, fake_key, git

EXIT_FOUND = 8


@pytest.fixture
def planted(legacy_home: LegacyHome) -> ScanHome:
    return build(legacy_home.home, legacy_home.root / "outside")


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def scan_json(legacy_home: LegacyHome, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    result = legacy_home.run("scan", "--json", *args, **env)
    assert result.returncode in (0, EXIT_FOUND), result.stderr
    return result.returncode, _strict(result.stdout), result.stderr


def found_set(doc: dict[str, Any], home: Path) -> set[tuple[str, int, str, str | None]]:
    return {
        (os.path.relpath(f["path"], home), f["line"], f["kind"], f["variable"])
        for f in doc["findings"]
    }


def by_rel(doc: dict[str, Any], home: Path) -> dict[tuple[str, int], dict[str, Any]]:
    return {(os.path.relpath(f["path"], home), f["line"]): f for f in doc["findings"]}


def assert_no_secret(planted: ScanHome, *outputs: str) -> None:
    for text in outputs:
        assert FILLER not in text
        assert "FAKE" not in text
        for secret in planted.secrets + planted.decoys:
            assert secret not in text
            assert secret[13:] not in text  # the body alone


def test_finds_exactly_the_planted_credentials(legacy_home: LegacyHome, planted: ScanHome) -> None:
    rc, doc, stderr = scan_json(legacy_home)

    assert rc == EXIT_FOUND
    expected = {(p.rel, p.line, p.kind, p.variable) for p in planted.planted}
    assert found_set(doc, legacy_home.home) == expected
    assert doc["schema"] == 1
    assert doc["summary"]["findings"] == len(expected)
    assert_no_secret(planted, json.dumps(doc), stderr)


def test_spans_point_at_the_secret_and_fingerprints_are_its_hash(
    legacy_home: LegacyHome, planted: ScanHome
) -> None:
    import hashlib

    _rc, doc, _ = scan_json(legacy_home)
    secrets = {(p.rel, p.line): p.secret for p in planted.planted}
    for (rel, line), f in by_rel(doc, legacy_home.home).items():
        data = (legacy_home.home / rel).read_bytes()
        secret = secrets[(rel, line)]
        assert data[f["span"][0] : f["span"][1]] == secret.encode()
        assert f["fingerprint"] == hashlib.sha256(secret.encode()).hexdigest()[:8]
        line_bytes = data[f["line_span"][0] : f["line_span"][1]]
        assert secret.encode() in line_bytes and b"\n" not in line_bytes
        assert data.count(b"\n", 0, f["span"][0]) + 1 == line
        assert f["exact_shape"] == (f["kind"] != "unknown")


def test_shapes_and_history_entries_are_what_a_fixer_needs(
    legacy_home: LegacyHome, planted: ScanHome
) -> None:
    _rc, doc, _ = scan_json(legacy_home)
    found = by_rel(doc, legacy_home.home)
    home = legacy_home.home

    def entry(rel: str, line: int) -> bytes:
        f = found[(rel, line)]
        return (home / rel).read_bytes()[f["entry_span"][0] : f["entry_span"][1]]

    assert found[(".bash_history", 3)]["history_format"] == "bash"
    assert entry(".bash_history", 3).startswith(b"#1700000000\nexport ANTHROPIC_API_KEY=")
    assert found[(".zsh_history", 2)]["history_format"] == "zsh-extended"
    assert entry(".zsh_history", 2).startswith(b": 1700000000:0;export")
    assert entry(".zsh_history", 4).startswith(b": 1700000001:2;echo one \\\nCLAUDE_CODE")
    assert entry(".zsh_history", 4).endswith(b" claude\n")
    fish = entry(".local/share/fish/fish_history", 3)
    assert fish.startswith(b"- cmd: export") and fish.endswith(b"  when: 1700000001\n")
    shapes = {rel: f["shape"] for (rel, _line), f in found.items()}
    assert shapes[".bashrc"] == shapes[".zshrc"] == shapes[".config/fish/config.fish"] == "rc"
    assert shapes["src/project/.env"] == "dotenv"
    assert shapes[".claude.json"] == "json"
    assert found[(".claude.json", 3)]["location"] == "claude-code"
    assert found[(".bashrc", 3)]["quote"] == '"'
    assert found[("src/project/.env.local", 2)]["quote"] == "'"
    assert found[(".bash_history", 3)]["location"] == "shell-history"


def test_git_status_tracked_ignored_untracked(legacy_home: LegacyHome, planted: ScanHome) -> None:
    # A GIT_DIR of the caller's must not make git look at another repository.
    _rc, doc, _ = scan_json(legacy_home, GIT_DIR=str(legacy_home.root / "nowhere"))
    found = by_rel(doc, legacy_home.home)

    tracked = found[("src/project/.env", 1)]
    assert tracked["git"]["status"] == "tracked"
    assert tracked["git"]["in_history"] is True
    assert "committed: rotate this key — moving it does not unleak it" in tracked["advice"]
    assert found[("src/project/.env.local", 2)]["git"]["status"] == "ignored"
    untracked = found[("src/project/app/.env", 1)]
    assert untracked["git"]["status"] == "untracked"
    assert untracked["git"]["in_history"] is False
    assert untracked["advice"] == []
    assert found[(".bashrc", 3)]["git"]["status"] == "none"
    assert doc["summary"]["committed"] == 1


def test_a_key_removed_from_the_index_is_still_in_history(
    legacy_home: LegacyHome, planted: ScanHome
) -> None:
    repo = legacy_home.home / "src" / "project"
    git(repo, "rm", "-q", "--cached", ".env")
    (repo / ".gitignore").write_text(".env.local\n.env\n")

    _rc, doc, _ = scan_json(legacy_home)

    f = by_rel(doc, legacy_home.home)[("src/project/.env", 1)]
    assert f["git"]["status"] == "ignored" and f["git"]["in_history"] is True
    assert any(a.startswith("in git history: rotate this key") for a in f["advice"])


def test_what_was_skipped_is_reported(legacy_home: LegacyHome, planted: ScanHome) -> None:
    _rc, doc, _ = scan_json(legacy_home)
    skipped = {(os.path.relpath(p["path"], legacy_home.home), p["reason"]) for p in doc["skipped"]["paths"]}

    assert ("logs/big.log", "too_large") in skipped
    assert ("src/project/node_modules", "dependency_dir") in skipped
    assert ("src/project/.git", "dependency_dir") in skipped
    assert ("linked.env", "symlink_outside") in skipped
    counts = doc["skipped"]["counts"]
    assert counts["too_large"] == 1 and counts["symlink_outside"] == 1


def test_human_output_and_verbose_never_show_a_secret(
    legacy_home: LegacyHome, planted: ScanHome
) -> None:
    result = legacy_home.run("-v", "scan")
    again = legacy_home.run("scan", "-v", "--no-store-check")

    assert result.returncode == again.returncode == EXIT_FOUND
    assert_no_secret(planted, result.stdout, result.stderr, again.stdout, again.stderr)
    assert "src/project/.env:1" in result.stdout and "COMMITTED" in result.stdout
    assert "committed: rotate this key" in result.stdout
    assert "skipped ~/logs/big.log: file too large" in result.stdout
    assert "skipped ~/linked.env: symlink out of the roots" in result.stdout
    assert "cclogin: fix:" in result.stderr
    assert "1 file too large (over 10 MiB)" in legacy_home.run("scan").stdout


def test_a_stored_key_shows_as_in_store(legacy_home: LegacyHome, planted: ScanHome) -> None:
    stored = fake_key("api03", 11)  # the one in ~/.claude.json
    login = legacy_home.run("login", "--profile", "work", "--with-api-key", stdin=stored + "\n")
    assert login.returncode == 0, login.stderr

    _rc, doc, stderr = scan_json(legacy_home)

    found = by_rel(doc, legacy_home.home)
    assert found[(".claude.json", 3)]["in_store"] == "yes"
    assert found[(".claude.json", 3)]["profiles"] == ["work"]
    assert found[(".bashrc", 3)]["in_store"] == "no"
    assert doc["store"] == "checked" and doc["summary"]["in_store"] == 1
    assert "yes (work)" in legacy_home.run("scan").stdout
    assert_no_secret(planted, stderr)


def test_a_store_that_cannot_be_read_is_unknown_not_a_failure(
    legacy_home: LegacyHome, planted: ScanHome
) -> None:
    stored = fake_key("api03", 11)
    assert legacy_home.run("login", "--with-api-key", stdin=stored + "\n").returncode == 0
    (legacy_home.root / "passphrase").write_text("not the passphrase\n")

    rc, doc, stderr = scan_json(legacy_home)

    assert rc == EXIT_FOUND
    assert {f["in_store"] for f in doc["findings"]} == {"unknown"}
    assert doc["store"] == "unreadable"
    assert_no_secret(planted, stderr)


def test_paths_and_no_home(legacy_home: LegacyHome, planted: ScanHome) -> None:
    project = legacy_home.home / "src" / "project"

    _rc, doc, _ = scan_json(legacy_home, "--no-home", str(project))
    assert {os.path.relpath(f["path"], project) for f in doc["findings"]} == {
        ".env", ".env.local", "app/.env"
    }
    _rc, doc, _ = scan_json(legacy_home, "--no-home", str(project / ".env"))
    assert [f["line"] for f in doc["findings"]] == [1]
    # With a PATH, the home's known places are still scanned (not its other files).
    _rc, doc, _ = scan_json(legacy_home, str(project / "app"))
    rels = {os.path.relpath(f["path"], legacy_home.home) for f in doc["findings"]}
    assert {".bashrc", ".claude.json", ".config/costs/config.json", "src/project/app/.env"} <= rels
    assert "src/project/.env" not in rels


def test_max_size_and_a_clean_home(legacy_home: LegacyHome, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.txt").write_text("nothing here\n")
    rc, doc, _ = scan_json(legacy_home, "--no-home", str(clean))
    assert rc == 0 and doc["findings"] == []
    assert legacy_home.run("scan", "--no-home", str(clean)).returncode == 0

    (clean / "key.txt").write_text("x" * 2000 + f"\nANTHROPIC_API_KEY={fake_key('api03', 21)}\n")
    rc, doc, _ = scan_json(legacy_home, "--no-home", "--max-size", "1000", str(clean))
    assert rc == 0 and doc["skipped"]["counts"] == {"too_large": 1}
    rc, doc, _ = scan_json(legacy_home, "--no-home", str(clean))
    assert rc == EXIT_FOUND and [f["line"] for f in doc["findings"]] == [2]


def test_a_missing_path_is_a_usage_error(legacy_home: LegacyHome) -> None:
    result = legacy_home.run("scan", str(legacy_home.root / "missing"))
    assert result.returncode == 2
    assert result.stderr.startswith("cclogin: error:")


@pytest.mark.secret_service
def test_a_locked_keychain_is_unknown_then_yes_once_unlocked(tmp_path: Path) -> None:
    from support.cli import open_world

    with open_world("secret-service", tmp_path) as world:
        stored, other = fake_key("api03", 31), fake_key("api03", 32)
        assert world.login("work", stored).rc == 0
        project = tmp_path / "project"
        project.mkdir()
        (project / ".env").write_text(f"ANTHROPIC_API_KEY={stored}\nANTHROPIC_AUTH_TOKEN={other}\n")
        assert world.daemon is not None

        world.daemon.lock()
        locked = world.cclogin("-v", "scan", "--json", "--no-home", str(project))
        world.daemon.unlock()
        unlocked = world.cclogin("scan", "--json", "--no-home", str(project))

        assert locked.rc == unlocked.rc == EXIT_FOUND, locked.stderr
        assert [f["in_store"] for f in _strict(locked.stdout)["findings"]] == ["unknown", "unknown"]
        assert [f["in_store"] for f in _strict(unlocked.stdout)["findings"]] == ["yes", "no"]
        for text in (locked.stdout, locked.stderr, unlocked.stdout, unlocked.stderr):
            assert stored not in text and other not in text and FILLER not in text
