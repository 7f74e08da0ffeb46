"""Bad and awkward inputs: each a clear error or warning, every credential still findable."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.legacy_home import VECTORS, LegacyHome

SUB = "subscription-login.credentials.json"
NEW_LOGIN = (
    '{"claudeAiOauth": {"accessToken": "sk-ant-oat01-test-0099", "expiresAt": 4102444800000}}'
)


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[None]:
    where.mkdir(parents=True, exist_ok=True)
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def test_a_file_over_the_size_limit_is_judged_from_its_size(legacy_home: LegacyHome) -> None:
    """Over CCLOGIN_MIGRATE_MAX_SIZE a file is not loaded, only read through in blocks
    for the names of credentials (test_migrate_large.py has one that names one)."""
    big = legacy_home.home / "big.json"
    with big.open("wb") as f:
        f.truncate(50 << 20)  # sparse

    result = legacy_home.run("migrate", "--from", str(big), CCLOGIN_MIGRATE_MAX_SIZE="16M")

    assert result.returncode == 0, result.stderr
    assert "is 50 MiB, more than the 16 MiB cclogin reads" in result.stderr
    assert "names no credential migrate moves" in result.stderr
    assert big.stat().st_size == 50 << 20


def test_a_symlink_is_not_followed(legacy_home: LegacyHome) -> None:
    target = legacy_home.install(SUB, as_path="dotfiles/credentials.json")
    link = legacy_home.home / ".claude" / ".credentials.json"
    link.symlink_to(target)

    result = legacy_home.run("migrate")

    assert result.returncode == 1
    assert "symlink" in result.stderr and "--from" in result.stderr
    assert target.read_bytes() == (VECTORS / SUB).read_bytes() and link.is_symlink()
    assert legacy_home.profiles() == {}


def test_a_file_of_another_user_is_left_alone(legacy_home: LegacyHome) -> None:
    path = legacy_home.install(SUB)
    try:
        os.chown(path, 4242, 4242)
    except PermissionError:
        pytest.skip("cannot chown without root")

    result = legacy_home.run("migrate")

    assert result.returncode == 1
    assert "another user" in result.stderr
    assert path.read_bytes() == (VECTORS / SUB).read_bytes()


def test_a_file_rewritten_during_migration_is_migrated_again(legacy_home: LegacyHome) -> None:
    path = legacy_home.install(SUB)
    marker = legacy_home.cclogin_home / "paused-before-source-check"
    proc = legacy_home.popen("migrate", CCLOGIN_TEST_ONLY_PAUSE_AT="before-source-check")
    try:
        _wait_for(marker)
        # While paused: the journal holds no secret; Claude Code "refreshes" its login.
        for journal in (legacy_home.cclogin_home / "state" / "journal").iterdir():
            assert b"-test-00" not in journal.read_bytes()
        path.write_text(NEW_LOGIN)
        marker.unlink()
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, err
    assert "changed while being migrated" in err
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0099"
    assert not path.exists()
    assert legacy_home.plaintext_left() == []


def test_read_only_folder(legacy_home: LegacyHome) -> None:
    folder = legacy_home.home / "ro"
    with _tmpfs(folder, "1m"):
        env = folder / ".env"
        env.write_text("ANTHROPIC_API_KEY=sk-ant-api03-test-0031\n")
        env.chmod(0o600)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)

        result = legacy_home.run("migrate", "--from", str(env))

        assert result.returncode == 1
        assert "read-only" in result.stderr
        assert env.read_text() == "ANTHROPIC_API_KEY=sk-ant-api03-test-0031\n"
        assert legacy_home.token("env-ro") == "sk-ant-api03-test-0031"  # stored all the same

        subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        again = legacy_home.run("migrate", "--from", str(env))
        assert again.returncode == 0, again.stderr
        assert "already stored" in again.stderr
        assert "sk-ant-" not in env.read_text()
        assert legacy_home.leftovers() == []


def test_full_disk_for_the_store(legacy_home: LegacyHome) -> None:
    path = legacy_home.install(SUB)
    with _tmpfs(legacy_home.cclogin_home, "64k"):
        filler = legacy_home.cclogin_home / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:
            f.write(b"\0" * (64 << 10))

        result = legacy_home.run("migrate")

        assert result.returncode != 0
        assert "no space left" in result.stderr
        assert path.read_bytes() == (VECTORS / SUB).read_bytes()
        filler.unlink()
        assert legacy_home.run("migrate").returncode == 0
        assert legacy_home.token("claude") == "sk-ant-oat01-test-0002"


def test_full_disk_for_the_source(legacy_home: LegacyHome) -> None:
    folder = legacy_home.home / "full"
    with _tmpfs(folder, "64k"):
        env = folder / ".env"
        env.write_text("X=1\nANTHROPIC_API_KEY=sk-ant-api03-test-0032\n")
        env.chmod(0o600)
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as f:
            f.write(b"\0" * (64 << 10))

        result = legacy_home.run("migrate", "--from", str(env))

        assert result.returncode == 1
        assert "no space left" in result.stderr
        assert env.read_text() == "X=1\nANTHROPIC_API_KEY=sk-ant-api03-test-0032\n"
        assert legacy_home.token("env-full") == "sk-ant-api03-test-0032"
        assert sorted(p.name for p in folder.iterdir()) == [".env", "filler"]  # no temp left


def test_waits_for_claude_codes_lock_and_says_so(legacy_home: LegacyHome) -> None:
    legacy_home.install(SUB)
    lock = legacy_home.home / ".claude" / ".oauth_refresh.lock"
    lock.mkdir()
    proc = legacy_home.popen("migrate", CCLOGIN_CLAUDE_LOCK_WAIT="30")
    # Released once cclogin says it is waiting (progress it reports, not a guessed
    # delay: under load the store's unlock alone can outlast any fixed sleep).
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if "Claude Code holds" in line:
            break
    lock.rmdir()  # Claude Code finished its refresh
    _out, rest = proc.communicate(timeout=60)
    err = "".join(seen) + rest

    assert proc.returncode == 0, err
    assert "Claude Code holds" in err and "waiting" in err
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0002"
    assert legacy_home.leftovers() == []


def test_gives_up_on_a_held_claude_lock_without_losing_anything(legacy_home: LegacyHome) -> None:
    path = legacy_home.install(SUB)
    lock = legacy_home.home / ".claude.lock"
    lock.mkdir()

    result = legacy_home.run("migrate", CCLOGIN_CLAUDE_LOCK_WAIT="0.3")

    assert result.returncode == 1
    assert "still holds its lock" in result.stderr
    assert path.read_bytes() == (VECTORS / SUB).read_bytes()
    assert lock.is_dir()  # Claude Code's lock is not ours to remove
    lock.rmdir()
    assert legacy_home.run("migrate").returncode == 0
    assert not path.exists()


def test_a_different_value_is_not_overwritten_without_force(legacy_home: LegacyHome) -> None:
    path = legacy_home.install(SUB)
    legacy_home.run("migrate", check=True)
    path.write_text(NEW_LOGIN)
    path.chmod(0o600)

    refused = legacy_home.run("migrate")

    assert refused.returncode == 1
    assert "already holds a different credential" in refused.stderr and "--force" in refused.stderr
    assert path.read_text() == NEW_LOGIN
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0002"
    forced = legacy_home.run("migrate", "--force")
    assert forced.returncode == 0, forced.stderr
    assert legacy_home.token("claude") == "sk-ant-oat01-test-0099"


def test_the_same_value_twice_makes_one_profile(legacy_home: LegacyHome) -> None:
    legacy_home.install(SUB)
    copy = legacy_home.install(SUB, as_path="old/creds.json")

    result = legacy_home.run("migrate", "--from", str(copy))

    assert result.returncode == 0, result.stderr
    assert list(legacy_home.profiles()) == ["claude"]
    assert legacy_home.plaintext_left() == []
    legacy_home.run("migrate", "--undo", check=True)
    assert copy.read_bytes() == (VECTORS / SUB).read_bytes()
    assert (legacy_home.home / ".claude/.credentials.json").read_bytes() == copy.read_bytes()


def test_dry_run_changes_nothing(legacy_home: LegacyHome) -> None:
    legacy_home.install(SUB)
    legacy_home.install("claude-json-api-key.json")
    before = {
        p: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in legacy_home.root.rglob("*")
        if p.is_file()
    }

    result = legacy_home.run("migrate", "--dry-run")

    assert result.returncode == 0
    assert "would go to profile 'claude' (claude_login) in encrypted-file" in result.stderr
    assert "would go to profile 'claude-api-key'" in result.stderr
    assert "would be removed" in result.stderr and "nothing was changed" in result.stderr
    after = {
        p: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in legacy_home.root.rglob("*")
        if p.is_file()
    }
    assert after == before


def test_api_key_helper_points_claude_code_at_cclogin(legacy_home: LegacyHome) -> None:
    legacy_home.install("claude-json-api-key.json")
    settings = legacy_home.home / ".claude" / "settings.json"
    settings.write_text(json.dumps({"model": "opus", "permissions": {"allow": ["Bash(ls)"]}}))

    result = legacy_home.run("migrate", "--set-api-key-helper")

    assert result.returncode == 0, result.stderr
    assert "set apiKeyHelper" in result.stderr
    doc = json.loads(settings.read_text())
    assert doc["model"] == "opus" and doc["permissions"] == {"allow": ["Bash(ls)"]}
    assert doc["apiKeyHelper"].endswith("token --profile claude-api-key")
    helper = subprocess.run(  # Claude Code runs the helper through a shell
        ["/bin/sh", "-c", doc["apiKeyHelper"]],
        env=legacy_home.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert helper.stdout == "sk-ant-api03-test-0001\n"


def test_without_the_flag_it_says_how_to_run_claude(legacy_home: LegacyHome) -> None:
    legacy_home.install(SUB)
    legacy_home.install("claude-json-api-key.json")

    result = legacy_home.run("migrate")

    assert "cclogin exec --profile claude -- claude" in result.stderr
    assert "--set-api-key-helper" in result.stderr
    assert not (legacy_home.home / ".claude" / "settings.json").exists()


def test_doctor_reports_every_shape_until_migrated(legacy_home: LegacyHome) -> None:
    legacy_home.install(SUB)
    legacy_home.install("claude-json-api-key.json")
    legacy_home.install("xdg-older-release.credentials.json")

    before = legacy_home.run("doctor", "--json")
    legacy_home.run("migrate", check=True)
    after = legacy_home.run("doctor", "--json")

    plain = [f["message"] for f in json.loads(before.stdout) if f["check"] == "plaintext"]
    assert len(plain) == 3 and all("plaintext credential" in m for m in plain)
    after_plain = [f for f in json.loads(after.stdout) if f["check"] == "plaintext"]
    assert [f["level"] for f in after_plain] == ["ok"]


def test_kept_backups_go_with_logout(legacy_home: LegacyHome) -> None:
    legacy_home.install(SUB)
    legacy_home.install("claude-json-api-key.json")
    legacy_home.run("migrate", "--keep-backup", check=True)
    backups = sorted((legacy_home.cclogin_home / "data" / "backups").iterdir())
    assert {b.name.split(".")[0] for b in backups} == {"claude", "claude-api-key"}
    assert all(b.stat().st_mode & 0o777 == 0o600 for b in backups)

    legacy_home.run("logout", "--profile", "claude", check=True)

    left = (legacy_home.cclogin_home / "data" / "backups").iterdir()
    assert [b.name.split(".")[0] for b in left] == ["claude-api-key"]
    legacy_home.run("logout", "--all", check=True)
    assert legacy_home.plaintext_left() == []
    assert legacy_home.leftovers() == []


def test_logout_removes_a_plaintext_copy_that_came_back(legacy_home: LegacyHome) -> None:
    # Migrated, then the plaintext returns (Claude Code wrote its file again, or a
    # backup was restored): logout removes that copy too, and only the secret in it.
    sub = legacy_home.install(SUB)
    settings = legacy_home.install("claude-json-api-key.json")
    legacy_home.run("migrate", check=True)
    legacy_home.install(SUB)
    legacy_home.install("claude-json-api-key.json")
    after_migrate = (VECTORS / "claude-json-api-key.json.after").read_bytes()

    out = legacy_home.run("logout", "--all", check=True)

    assert "plaintext copy" in out.stderr
    assert not sub.exists()  # only Claude Code's secrets were in it
    assert settings.read_bytes() == after_migrate  # every setting kept, the key gone
    assert legacy_home.plaintext_left() == []


def test_logout_leaves_a_different_plaintext_secret_alone(legacy_home: LegacyHome) -> None:
    legacy_home.install("claude-json-api-key.json")
    legacy_home.run("migrate", check=True)
    other = legacy_home.install(SUB)  # someone else's login, never migrated here
    before = other.read_bytes()
    legacy_home.run("logout", "--all", check=True)
    assert other.read_bytes() == before
