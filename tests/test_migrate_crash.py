"""SIGKILL at every named point and at random instants: no credential is ever lost.

After each kill: every original secret is in its old file, a backup, or the store;
the next run finishes or rolls back by itself and says so; then `token` returns every
original secret and no plaintext is left anywhere.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from unittest import mock

import pytest

from cclogin.migrate.crash import MIGRATE_POINTS, UNDO_POINTS
from cclogin.paths import get_paths
from cclogin.store.select import open_backend
from support.legacy_home import VECTORS, LegacyHome

SEED = {  # vector -> (where, profile, secret)
    "subscription-login.credentials.json": (
        ".claude/.credentials.json",
        "claude",
        "sk-ant-oat01-test-0002",
    ),
    "claude-json-api-key.json": (".claude.json", "claude-api-key", "sk-ant-api03-test-0001"),
    "dotenv-project.env": ("proj/.env", "env-proj", "sk-ant-api03-test-0011"),
}


def _seed(home: LegacyHome) -> list[str]:
    for vector, (where, _p, _s) in SEED.items():
        home.install(vector, as_path=where)
    return ["migrate", "--from", str(home.home / "proj/.env")]


def _stored_secrets(home: LegacyHome) -> set[str]:
    """What the encrypted store holds, read in-process (no recovery runs)."""
    env = home.env()
    paths = get_paths(env)
    if not paths.encrypted_store.exists():
        return set()
    with mock.patch.dict(os.environ, env, clear=True):  # the weak-KDF switch is read from here
        store = open_backend("encrypted-file", paths, env)
        return {store.get(k).decode() for k in store.keys()}  # type: ignore[union-attr]


def _assert_nothing_lost(home: LegacyHome) -> None:
    stored = " ".join(_stored_secrets(home))
    files = b"".join(
        p.read_bytes()
        for base in (home.home, home.cclogin_home / "data" / "backups")
        if base.exists()
        for p in base.rglob("*")
        if p.is_file()
    )
    for _where, profile, secret in SEED.values():
        assert secret in stored or secret.encode() in files, f"{profile}'s secret is lost"


def _assert_finished(home: LegacyHome) -> None:
    for _where, profile, secret in SEED.values():
        assert home.token(profile) == secret
    assert home.plaintext_left() == []
    assert home.leftovers() == []
    claude_json = (home.home / ".claude.json").read_bytes()
    assert claude_json == (VECTORS / "claude-json-api-key.json.after").read_bytes()


@pytest.mark.parametrize("point", MIGRATE_POINTS)
def test_kill_at_every_point_then_rerun(legacy_home: LegacyHome, point: str) -> None:
    args = _seed(legacy_home)

    killed = legacy_home.run(*args, CCLOGIN_TEST_ONLY_CRASH_AT=point)

    assert killed.returncode == -signal.SIGKILL
    _assert_nothing_lost(legacy_home)
    rerun = legacy_home.run(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert "interrupted" in rerun.stderr  # it says what it finished or rolled back
    _assert_finished(legacy_home)


@pytest.mark.parametrize("point", ["stored", "source-rewritten", "backup-written"])
def test_status_and_token_settle_a_leftover_journal(legacy_home: LegacyHome, point: str) -> None:
    args = _seed(legacy_home)
    legacy_home.run(*args, CCLOGIN_TEST_ONLY_CRASH_AT=point)

    status = legacy_home.run("status")
    token = legacy_home.run("token", "--profile", "claude")

    assert "interrupted migration" in status.stderr
    assert token.stdout == "sk-ant-oat01-test-0002\n"
    assert not list((legacy_home.cclogin_home / "state" / "journal").glob("*.journal.json"))
    legacy_home.run(*args, check=True)
    _assert_finished(legacy_home)


def test_kill_during_recovery(legacy_home: LegacyHome) -> None:
    args = _seed(legacy_home)
    legacy_home.run(*args, CCLOGIN_TEST_ONLY_CRASH_AT="profile-written")

    again = legacy_home.run(*args, CCLOGIN_TEST_ONLY_CRASH_AT="recover-started")

    assert again.returncode == -signal.SIGKILL
    _assert_nothing_lost(legacy_home)
    legacy_home.run(*args, check=True)
    _assert_finished(legacy_home)


@pytest.mark.parametrize("point", UNDO_POINTS)
def test_kill_during_undo(legacy_home: LegacyHome, point: str) -> None:
    args = _seed(legacy_home)
    legacy_home.run(*args, check=True)

    killed = legacy_home.run("migrate", "--undo", CCLOGIN_TEST_ONLY_CRASH_AT=point)

    assert killed.returncode == -signal.SIGKILL
    _assert_nothing_lost(legacy_home)
    finish = legacy_home.run("migrate", "--undo")
    assert finish.returncode == 0, finish.stderr
    for vector, (where, _p, _s) in SEED.items():
        assert (legacy_home.home / where).read_bytes() == (VECTORS / vector).read_bytes()
    assert legacy_home.profiles() == {}


@pytest.mark.slow
def test_random_instant_kills(legacy_home: LegacyHome, tmp_path: Path) -> None:
    """25 runs, each SIGKILLed at a random instant inside a migration.

    The instant is tied to progress the code reports (the k-th crash point passed, k
    random), not to a delay measured on this machine: the kill then lands somewhere
    between two steps however loaded the machine is.
    """
    rng = random.Random(int(os.environ.get("CCLOGIN_TEST_SEED", "20240601")))
    args = _seed(legacy_home)
    progress = tmp_path / "progress-full"
    legacy_home.run(*args, check=True, CCLOGIN_TEST_ONLY_PROGRESS=str(progress))
    steps = len(progress.read_text().splitlines())
    assert steps > 5  # the seeded home makes a run pass many crash points
    kills = 0
    for run in range(25):
        home = LegacyHome(tmp_path / f"run{run}")
        (home.home / ".claude").mkdir(parents=True)
        (home.root / "passphrase").write_text("correct horse battery staple\n")
        (home.root / "passphrase").chmod(0o600)
        run_args = _seed(home)
        marks = tmp_path / f"progress-{run}"
        target = rng.randrange(0, steps)  # 0: before the first step
        proc = home.popen(*run_args, CCLOGIN_TEST_ONLY_PROGRESS=str(marks))
        deadline = time.monotonic() + 60  # a bound for a hung run, not a measurement
        while proc.poll() is None and time.monotonic() < deadline:
            if target == 0 or (marks.exists() and marks.read_text().count("\n") >= target):
                break
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        kills += proc.returncode == -signal.SIGKILL
        _assert_nothing_lost(home)
        rerun = home.run(*run_args)
        assert rerun.returncode == 0, rerun.stderr
        _assert_finished(home)
    assert kills >= 15  # most runs really were killed mid-way
