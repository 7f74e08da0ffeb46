"""`migrate --leave-reference` is as crash-safe and undoable as plain `migrate`.

A SIGKILL at every named point: nothing is lost, and whatever finishes the run (the
next migrate, with or without the flag, or any other command) leaves the file the
killed run meant to write, the reference in it, because the journal says which.
"""

from __future__ import annotations

import signal

import pytest

from cclogin.migrate.crash import MIGRATE_POINTS, UNDO_POINTS
from support.legacy_home import VECTORS, LegacyHome

VECTOR = "dotenv-reference.env"
WHERE = "team/.env"
# A .env file is no Claude Code file: its migration takes none of Claude Code's locks.
POINTS = [p for p in MIGRATE_POINTS if p != "claude-locks-taken"]
SECRETS = {"env-team": "sk-ant-api03-test-0081", "env-team-oauth-token": "sk-ant-oat01-test-0082"}


def _args(home: LegacyHome, *flags: str) -> list[str]:
    return ["migrate", *flags, "--from", str(home.home / WHERE)]


def _assert_finished(home: LegacyHome) -> None:
    assert (home.home / WHERE).read_bytes() == (VECTORS / f"{VECTOR}.after").read_bytes()
    for profile, secret in SECRETS.items():
        assert home.token(profile) == secret
    assert home.plaintext_left() == []
    assert home.leftovers() == []


def _assert_nothing_lost(home: LegacyHome) -> None:
    """Each secret is still in the file, a backup, or the store (token finishes a run)."""
    files = b"".join(
        p.read_bytes()
        for base in (home.home, home.cclogin_home / "data" / "backups")
        if base.exists()
        for p in base.rglob("*")
        if p.is_file()
    )
    for profile, secret in SECRETS.items():
        if secret.encode() not in files:
            assert home.token(profile) == secret


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("rerun_flags", [("--leave-reference",), ()])
def test_kill_at_every_point_then_rerun(
    legacy_home: LegacyHome, point: str, rerun_flags: tuple[str, ...]
) -> None:
    legacy_home.install(VECTOR, as_path=WHERE)

    killed = legacy_home.run(
        *_args(legacy_home, "--leave-reference"), CCLOGIN_TEST_ONLY_CRASH_AT=point
    )

    assert killed.returncode == -signal.SIGKILL
    rerun = legacy_home.run(*_args(legacy_home, *rerun_flags))
    assert rerun.returncode == 0, rerun.stderr
    assert "interrupted" in rerun.stderr
    if (legacy_home.home / WHERE).read_bytes() == (VECTORS / VECTOR).read_bytes():
        pytest.fail("the rerun left the plaintext")
    if rerun_flags or b"cclogin://" in (legacy_home.home / WHERE).read_bytes():
        _assert_finished(legacy_home)  # the killed run's plan, whatever the rerun's flags
    else:
        # Rolled back before the file was touched: the rerun's own (comment) plan ran.
        assert b"moved to the keychain by cclogin" in (legacy_home.home / WHERE).read_bytes()
        assert legacy_home.plaintext_left() == []


@pytest.mark.parametrize("point", ["stored", "backup-written", "source-rewritten"])
def test_any_command_finishes_it_with_the_reference(legacy_home: LegacyHome, point: str) -> None:
    legacy_home.install(VECTOR, as_path=WHERE)
    legacy_home.run(*_args(legacy_home, "--leave-reference"), CCLOGIN_TEST_ONLY_CRASH_AT=point)
    _assert_nothing_lost(legacy_home)

    status = legacy_home.run("status")

    assert "interrupted migration" in status.stderr
    _assert_finished(legacy_home)


@pytest.mark.parametrize("point", UNDO_POINTS)
def test_kill_during_undo(legacy_home: LegacyHome, point: str) -> None:
    legacy_home.install(VECTOR, as_path=WHERE)
    legacy_home.run(*_args(legacy_home, "--leave-reference"), check=True)

    killed = legacy_home.run("migrate", "--undo", CCLOGIN_TEST_ONLY_CRASH_AT=point)

    assert killed.returncode == -signal.SIGKILL
    _assert_nothing_lost(legacy_home)
    finish = legacy_home.run("migrate", "--undo")
    assert finish.returncode == 0, finish.stderr
    assert (legacy_home.home / WHERE).read_bytes() == (VECTORS / VECTOR).read_bytes()
    assert legacy_home.profiles() == {}


def test_undo_into_a_file_changed_since_puts_the_key_back_in_its_line(
    legacy_home: LegacyHome,
) -> None:
    path = legacy_home.install(VECTOR, as_path=WHERE)
    legacy_home.run(*_args(legacy_home, "--leave-reference"), check=True)
    # Someone adds a line that refers to the same profile, above the migrated one.
    changed = b"COPY=cclogin://env-team\r\n" + path.read_bytes().replace(b"PORT=3000", b"PORT=4000")
    path.write_bytes(changed)

    undone = legacy_home.run("migrate", "--undo")

    assert undone.returncode == 0, undone.stderr
    want = b"COPY=cclogin://env-team\r\n" + (VECTORS / VECTOR).read_bytes().replace(
        b"PORT=3000", b"PORT=4000"
    )
    assert path.read_bytes() == want  # the new line and edit kept, the keys where they were
