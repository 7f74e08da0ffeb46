"""Claude Code's locks as Claude Code takes them, and a running Claude Code noticed first.

Lock tests run `claude_locks` in-process against a temporary home (what a user would
see: which lock directories exist, which survive, what cclogin says); the rest run the
real `cclogin` executable (tests/support/legacy_home.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from cclogin.migrate import claude_locks as cl
from cclogin.migrate.claude_locks import ClaudeBusy, claude_locks, lock_set
from cclogin.migrate.claude_running import _claude_program
from cclogin.paths import get_paths
from support.legacy_home import LegacyHome

LOGIN = {
    "claudeAiOauth": {
        "accessToken": "sk-ant-oat01-test-0077",
        "refreshToken": "sk-ant-ort01-test-0078",
        "expiresAt": 4102444800000,
        "scopes": ["user:inference"],
    }
}
TOKEN = "sk-ant-oat01-test-0077"


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    (tmp_path / "home" / ".claude").mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(tmp_path / "home"), "CCLOGIN_HOME": str(tmp_path / "cclogin")}
    env.update(more)
    return env


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _fresh(path: Path) -> bool:
    return time.time() - path.stat().st_mtime < 100


def _wait_until(check: Callable[[], bool], what: str, bound: float = 30.0) -> None:
    deadline = time.monotonic() + bound
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {bound} s"
        time.sleep(0.02)


def _hold(
    env: dict[str, str], files: list[Path] | None, notes: list[str]
) -> AbstractContextManager[None]:
    return claude_locks(get_paths(env), env, notes.append, files=files)


# --- which locks, for which file ------------------------------------------------------


def test_each_file_takes_exactly_claude_codes_locks_for_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    home = tmp_path / "home"
    notes: list[str] = []
    cred = home / ".claude" / ".credentials.json"

    with _hold(env, [cred], notes):
        during_cred = sorted(p.name for p in home.rglob("*.lock"))
    with _hold(env, [home / ".claude.json"], notes):
        during_config = sorted(p.name for p in home.rglob("*.lock"))
    with _hold(env, [home / "proj" / ".env"], notes):
        during_env = sorted(p.name for p in home.rglob("*.lock"))

    assert during_cred == [".claude.lock", ".oauth_refresh.lock", ".storage-write.lock"]
    assert during_config == [".claude.json.lock"]
    assert during_env == []
    assert list(home.rglob("*.lock")) == []  # all released
    assert not (tmp_path / "cclogin" / "state" / "journal" / "claude-locks.json").exists()


def test_a_custom_config_dir_locks_beside_its_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real-config"
    real.mkdir()
    link = tmp_path / "home" / "cfg"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    env = _env(tmp_path, CLAUDE_CONFIG_DIR=str(link))

    locks = {str(lock.path): lock.stale for lock in lock_set(None, env)}

    assert locks == {
        f"{link}/.oauth_refresh.lock": 60.0,
        f"{os.path.realpath(real)}.lock": 60.0,  # beside the target, not the link
        f"{link}/.storage-write.lock": 15.0,
        f"{link}/.claude.json.lock": 10.0,
    }


# --- holding: the mtime stays fresh ------------------------------------------------------


def test_a_held_lock_is_touched_so_claude_code_never_judges_it_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path)
    # the real period leaves room for three missed touches before the shortest staleness
    assert min(lock.stale for lock in lock_set(None, env)) > cl.TOUCH_EVERY * 3
    monkeypatch.setattr(cl, "TOUCH_EVERY", 0.05)  # the thread's period; the test only polls
    home = tmp_path / "home"
    cred = home / ".claude" / ".credentials.json"
    notes: list[str] = []

    with _hold(env, [cred, home / ".claude.json"], notes):
        held = [lock.path for lock in lock_set([cred, home / ".claude.json"], env)]
        for path in held:
            _age(path, 1000)  # as if untouched for a quarter of an hour
        for path in held:
            _wait_until(lambda: _fresh(path), f"{path} touched")  # noqa: B023

    assert all(not p.exists() for p in held)
    assert not any("removed" in n for n in notes)


# --- someone else's lock ----------------------------------------------------------------


def test_a_fresh_foreign_lock_is_waited_on_and_never_removed(tmp_path: Path) -> None:
    env = _env(tmp_path, CCLOGIN_CLAUDE_LOCK_WAIT="0.3")
    home = tmp_path / "home"
    foreign = home / ".claude" / ".storage-write.lock"
    foreign.mkdir()
    notes: list[str] = []

    cred = home / ".claude" / ".credentials.json"
    with pytest.raises(ClaudeBusy) as err, _hold(env, [cred], notes):
        pytest.fail("the lock was taken although Claude Code holds it")

    assert "still holds its lock" in err.value.message and str(foreign) in err.value.message
    assert foreign.is_dir()
    assert any("Claude Code holds" in n and "waiting" in n for n in notes)
    # the locks taken before it in the set are released again
    assert not (home / ".claude" / ".oauth_refresh.lock").exists()
    assert not (home / ".claude.lock").exists()


@pytest.mark.parametrize(
    ("name", "age"),
    [
        (".claude.json.lock", 12),  # proper-lockfile default: stale after 10 s
        (".claude/.storage-write.lock", 16),  # stale after 15 s
        (".claude/.oauth_refresh.lock", 61),  # stale after 60 s
        (".claude.lock", 61),
    ],
)
def test_a_foreign_lock_older_than_its_staleness_is_removed(
    tmp_path: Path, name: str, age: float
) -> None:
    env = _env(tmp_path, CCLOGIN_CLAUDE_LOCK_WAIT="0.3")
    home = tmp_path / "home"
    foreign = home / name
    foreign.mkdir()
    _age(foreign, age)
    notes: list[str] = []
    files = [home / ".claude" / ".credentials.json", home / ".claude.json"]

    with _hold(env, files, notes):
        taken = foreign.is_dir() and time.time() - foreign.stat().st_mtime < age

    assert taken  # ours now, fresh
    assert any("stale" in n and str(foreign) in n for n in notes)
    assert not foreign.exists()


@pytest.mark.parametrize(
    ("name", "age"),
    [
        (".claude/.oauth_refresh.lock", 12),  # 12 s is stale for .claude.json.lock, not here
        (".claude.lock", 12),
        (".claude/.storage-write.lock", 12),
        (".claude.json.lock", 5),
    ],
)
def test_a_foreign_lock_younger_than_its_staleness_is_kept(
    tmp_path: Path, name: str, age: float
) -> None:
    env = _env(tmp_path, CCLOGIN_CLAUDE_LOCK_WAIT="0.3")
    home = tmp_path / "home"
    foreign = home / name
    foreign.mkdir()
    _age(foreign, age)
    files = [home / ".claude" / ".credentials.json", home / ".claude.json"]

    with pytest.raises(ClaudeBusy), _hold(env, files, []):
        pytest.fail("taken although Claude Code holds it")

    assert foreign.is_dir()


# --- recovery after a killed cclogin ----------------------------------------------------


def _killed_holding_locks(legacy_home: LegacyHome) -> tuple[Path, dict[str, object]]:
    cred = legacy_home.home / ".claude" / ".credentials.json"
    cred.write_text(json.dumps(LOGIN))
    cred.chmod(0o600)
    killed = legacy_home.run("migrate", CCLOGIN_TEST_ONLY_CRASH_AT="claude-locks-taken")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    record = legacy_home.cclogin_home / "state" / "journal" / "claude-locks.json"
    return record, json.loads(record.read_text())


def _claude_lock_dirs(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*.lock") if p.is_dir())


def test_recovery_removes_the_locks_a_killed_run_held(legacy_home: LegacyHome) -> None:
    _record, doc = _killed_holding_locks(legacy_home)
    held = _claude_lock_dirs(legacy_home.home)
    assert held == [".claude.lock", ".claude/.oauth_refresh.lock", ".claude/.storage-write.lock"]
    assert len(doc["held"]) == 3  # type: ignore[arg-type]

    rerun = legacy_home.run("migrate")

    assert rerun.returncode == 0, rerun.stderr
    assert "left by an interrupted run" in rerun.stderr
    assert _claude_lock_dirs(legacy_home.home) == []
    assert legacy_home.token("claude") == TOKEN


def test_recovery_leaves_a_lock_with_another_inode_alone(legacy_home: LegacyHome) -> None:
    _killed_holding_locks(legacy_home)
    lock = legacy_home.home / ".claude" / ".oauth_refresh.lock"
    # Claude Code broke our (now untouched) lock and took it: a new directory.
    replacement = lock.with_name("new-dir")
    replacement.mkdir()
    lock.rmdir()
    replacement.rename(lock)

    status = legacy_home.run("status")

    assert lock.is_dir()  # Claude Code's, not ours
    assert not (legacy_home.home / ".claude.lock").exists()  # ours: gone
    assert not (legacy_home.home / ".claude" / ".storage-write.lock").exists()
    assert "removed Claude Code lock" in status.stderr
    lock.rmdir()
    assert legacy_home.run("migrate").returncode == 0
    assert legacy_home.token("claude") == TOKEN


def test_recovery_leaves_a_fresh_lock_recorded_without_inode_alone(
    legacy_home: LegacyHome,
) -> None:
    record, doc = _killed_holding_locks(legacy_home)
    entries = doc["held"]
    assert isinstance(entries, list)
    waited = Path(entries[-1]["path"])
    # As if killed while waiting for Claude Code's lock: recorded, never ours.
    entries[-1] = {"path": str(waited), "stale": entries[-1]["stale"]}
    record.write_text(json.dumps(doc))

    legacy_home.run("status")

    assert waited.is_dir()  # fresh: a live Claude Code may hold it
    assert _claude_lock_dirs(legacy_home.home) == [str(waited.relative_to(legacy_home.home))]


def test_recovery_removes_a_lock_recorded_without_inode_once_stale_by_claude_codes_rule(
    legacy_home: LegacyHome,
) -> None:
    record, doc = _killed_holding_locks(legacy_home)
    entries = doc["held"]
    assert isinstance(entries, list)
    waited = Path(entries[-1]["path"])  # .storage-write.lock: stale after 15 s
    entries[-1] = {"path": str(waited), "stale": entries[-1]["stale"]}
    record.write_text(json.dumps(doc))
    _age(waited, 16)

    legacy_home.run("status")

    assert not waited.exists()
    assert _claude_lock_dirs(legacy_home.home) == []


# --- a running Claude Code ---------------------------------------------------------------


def test_claude_code_is_recognised_by_its_program_not_by_anything_else() -> None:
    assert _claude_program("/opt/claude/versions/2.1.332", ["claude", "-p", "hi"]) == "claude"
    assert _claude_program("/home/u/.local/bin/claude", ["/home/u/.local/bin/claude"])
    npm = "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"
    assert _claude_program("/usr/bin/node", ["node", "--no-warnings", npm]) == "node cli.js"
    assert _claude_program("/usr/bin/node", ["node", "/usr/local/bin/claude"]) == "node claude"
    assert _claude_program("/usr/bin/node", ["node", "server.js"]) is None
    assert _claude_program("/usr/bin/vim", ["vim", "claude"]) is None
    assert _claude_program("/usr/bin/claude-helper", ["claude-helper"]) is None


@pytest.fixture
def fake_claude(tmp_path: Path) -> Iterator[Callable[..., int]]:
    """Start processes whose executable is named `claude` (a copy of sleep)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("running-session detection reads /proc (Linux only)")
    exe = tmp_path / "bin" / "claude"
    exe.parent.mkdir()
    shutil.copy("/bin/sleep", exe)
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> int:
        proc = subprocess.Popen([str(exe), "600"], env=env)  # returns once exec'd
        started.append(proc)
        return proc.pid

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=30)


def _install_login(legacy_home: LegacyHome) -> Path:
    cred = legacy_home.home / ".claude" / ".credentials.json"
    cred.write_text(json.dumps(LOGIN))
    cred.chmod(0o600)
    return cred


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_migrate_refuses_while_claude_code_runs_on_these_files(
    legacy_home: LegacyHome, fake_claude: Callable[..., int]
) -> None:
    _install_login(legacy_home)
    pid = fake_claude(
        HOME=str(legacy_home.home), CLAUDE_CONFIG_DIR=str(legacy_home.home / ".claude")
    )
    before = _tree(legacy_home.home)

    result = legacy_home.run("migrate")

    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("cclogin: error:")]
    assert len(errors) == 1 and f"pid {pid}" in errors[0]
    assert "cclogin: hint:" in result.stderr and "--even-if-claude-running" in result.stderr
    assert _tree(legacy_home.home) == before
    assert _claude_lock_dirs(legacy_home.home) == []
    assert legacy_home.profiles() == {}


def test_dry_run_only_reports_a_running_claude_code(
    legacy_home: LegacyHome, fake_claude: Callable[..., int]
) -> None:
    _install_login(legacy_home)
    pid = fake_claude(HOME=str(legacy_home.home))
    before = _tree(legacy_home.home)

    result = legacy_home.run("migrate", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert f"running Claude Code session (pid {pid}" in result.stderr
    assert "logs it out at its next prompt" in result.stderr
    assert _tree(legacy_home.home) == before


def test_migrate_proceeds_when_claude_code_runs_on_another_config_dir(
    legacy_home: LegacyHome, fake_claude: Callable[..., int], tmp_path: Path
) -> None:
    cred = _install_login(legacy_home)
    (tmp_path / "other").mkdir()
    fake_claude(HOME=str(legacy_home.home), CLAUDE_CONFIG_DIR=str(tmp_path / "other"))

    result = legacy_home.run("migrate")

    assert result.returncode == 0, result.stderr
    assert "Claude Code session" not in result.stderr
    assert TOKEN.encode() not in (cred.read_bytes() if cred.exists() else b"")
    assert legacy_home.token("claude") == TOKEN


def test_the_flag_migrates_anyway_and_warns(
    legacy_home: LegacyHome, fake_claude: Callable[..., int]
) -> None:
    cred = _install_login(legacy_home)
    pid = fake_claude(HOME=str(legacy_home.home))

    result = legacy_home.run("migrate", "--even-if-claude-running")

    assert result.returncode == 0, result.stderr
    assert f"warning: a running Claude Code session (pid {pid}" in result.stderr
    assert TOKEN.encode() not in (cred.read_bytes() if cred.exists() else b"")
    assert legacy_home.token("claude") == TOKEN


def test_recovery_never_removes_the_claude_code_lock_a_killed_run_was_waiting_for(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    paths = get_paths(env)
    theirs = tmp_path / "home" / ".claude" / ".oauth_refresh.lock"
    theirs.mkdir()  # Claude Code's, fresh
    ours = theirs.with_name(".oauth_refresh.lock.cclogin-0123abcd")  # made, not yet in place
    ours.mkdir()
    st = ours.stat()
    entry = {"path": str(theirs), "stale": 60.0, "scratch": str(ours)}
    cl._write_record(paths, [{**entry, "ino": st.st_ino, "dev": st.st_dev}])
    notes: list[str] = []

    cl.release_leftover_locks(paths, notes.append)

    assert theirs.is_dir()
    assert not ours.exists()
    assert not (paths.journal_dir / "claude-locks.json").exists()
    assert notes == []
