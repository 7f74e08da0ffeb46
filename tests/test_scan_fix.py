"""`cclogin scan --fix` and `--undo`, end to end through the real executable.

On the planted home of tests/test_scan.py (keys in bash and zsh history, rc files,
fish, three `.env` files in a git repository, `~/.claude.json`, a JSON config, a 50 MB
log, `node_modules`): the fix leaves a home where `scan` finds nothing, every key is
in the store, every other byte of every file is what this test computes on its own,
and files the scan did not report are not touched; `--undo` then puts every file back
byte for byte, with its mode, and removes only the profiles the fix created.

Killed at every named step and at random instants (tied to the progress the code
reports, never to a timer): nothing is lost (each key is still in its file or in the
store), the next command of any kind settles it, and the undo still restores the start.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import time
from pathlib import Path
from unittest import mock

import pytest

from cclogin.migrate.crash import FIX_POINTS, FIX_UNDO_POINTS
from cclogin.paths import get_paths
from cclogin.store.select import open_backend
from support.legacy_home import CCLOGIN, LegacyHome
from support.scan_home import FILLER, ScanHome, build, fake_gateway_token, fake_key

EXE = shlex.quote(os.path.realpath(CCLOGIN))
PROFILE_OF = {  # (file, line) of each planted key -> the profile the fix makes for it
    (".bash_history", 3): "bash-history-api-key",
    (".zsh_history", 2): "zsh-history-api-key",
    (".zsh_history", 4): "zsh-history-oauth-token",
    (".bashrc", 3): "shell-api-key",
    (".zshrc", 2): "shell-auth-token",
    (".config/fish/config.fish", 2): "fish-api-key",
    (".local/share/fish/fish_history", 3): "fish-history-api-key",
    ("src/project/.env", 1): "env-project",
    ("src/project/.env.local", 2): "env-project-2",
    ("src/project/app/.env", 1): "env-app-oauth-token",
    (".claude.json", 3): "claude-api-key",
    (".config/costs/config.json", 2): "costs-admin-key",
}
MODES = {".bashrc": 0o640, ".zsh_history": 0o600, "src/project/.env": 0o664, ".claude.json": 0o600}


def expected_after(planted: ScanHome) -> dict[str, bytes]:
    """Every reported file once fixed, computed here from the planted text alone."""
    k = fake_key

    def cmd(profile: str) -> str:
        return f"{EXE} token --profile {profile}"

    return {
        ".bash_history": b"ls -la\nclaude\n",
        ".zsh_history": b": 1699999999:0;echo caf\xc3\x83\xa9\n: 1700000002:0;ls\n",
        ".bashrc": (
            "# ~/.bashrc\n"
            "export ANTHROPIC_API_KEY=$(cclogin token)\n"
            f'export ANTHROPIC_API_KEY="$({cmd("shell-api-key")})"\n'
            'export ANTHROPIC_AUTH_TOKEN="${ANTHROPIC_AUTH_TOKEN}"\n'
        ).encode(),
        ".zshrc": (
            "export ANTHROPIC_API_KEY=\n"
            f'export ANTHROPIC_AUTH_TOKEN="$({cmd("shell-auth-token")})"\n'
        ).encode(),
        ".config/fish/config.fish": (
            "set -gx ANTHROPIC_API_KEY (cclogin token)\n"
            f"set -gx ANTHROPIC_API_KEY ({cmd('fish-api-key')})\n"
        ).encode(),
        ".local/share/fish/fish_history": b"- cmd: ls\n  when: 1700000000\n",
        "src/project/.env": b"ANTHROPIC_API_KEY=cclogin://env-project\n",
        "src/project/.env.local": b"# local\nANTHROPIC_API_KEY='cclogin://env-project-2'\n",
        "src/project/app/.env": b"CLAUDE_CODE_OAUTH_TOKEN=cclogin://env-app-oauth-token\n",
        ".claude.json": b'{\n  "numStartups": 3,\n  "theme": "dark"\n}\n',
        ".config/costs/config.json": (
            (planted.home / ".config/costs/config.json")
            .read_bytes()
            .replace(f'"admin_key": "{k("admin01", 12)}"'.encode(), b"")
        ),
    }


def snapshot(home: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under the home (git's own data aside): bytes and mode."""
    out = {}
    for path in home.rglob("*"):
        if ".git" in path.relative_to(home).parts or path.is_symlink() or not path.is_file():
            continue
        out[str(path.relative_to(home))] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return out


def planted_home(legacy_home: LegacyHome, big_log: bool = True) -> ScanHome:
    planted = build(legacy_home.home, legacy_home.root / "outside", big_log=big_log)
    for rel, mode in MODES.items():
        os.chmod(legacy_home.home / rel, mode)
    return planted


def fresh(tmp_path: Path, name: str) -> LegacyHome:
    home = LegacyHome(tmp_path / name)
    (home.home / ".claude").mkdir(parents=True)
    (home.root / "passphrase").write_text("correct horse battery staple\n")
    (home.root / "passphrase").chmod(0o600)
    return home


def assert_no_secret(planted: ScanHome, *outputs: str) -> None:
    for text in outputs:
        assert FILLER not in text and "FAKE" not in text
        for secret in planted.secrets:
            assert secret not in text and secret[13:] not in text


def stored_secrets(home: LegacyHome) -> str:
    """Every blob of the encrypted store, read in process (no recovery runs)."""
    env = home.env()
    paths = get_paths(env)
    if not paths.encrypted_store.exists():
        return ""
    with mock.patch.dict(os.environ, env, clear=True):  # the weak-KDF switch is read here
        store = open_backend("encrypted-file", paths, env)
        return " ".join(store.get(k).decode() for k in store.keys())  # type: ignore[union-attr]


def assert_nothing_lost(home: LegacyHome, planted: ScanHome) -> None:
    stored = stored_secrets(home)
    for p in planted.planted:
        in_file = p.secret.encode() in (home.home / p.rel).read_bytes()
        assert in_file or p.secret in stored, f"the key of {p.rel}:{p.line} is lost"


def journals(home: LegacyHome) -> list[str]:
    folder = home.cclogin_home / "state" / "journal"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def records(home: LegacyHome) -> list[str]:
    folder = home.cclogin_home / "data" / "scan-fix"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def scan_doc(home: LegacyHome) -> dict[str, object]:
    result = home.run("scan", "--json")
    assert result.returncode in (0, 8), result.stderr
    return dict(json.loads(result.stdout))


def assert_fixed(home: LegacyHome, planted: ScanHome) -> None:
    doc = scan_doc(home)
    assert doc["findings"] == [], doc["findings"]
    for p in planted.planted:
        assert home.token(PROFILE_OF[(p.rel, p.line)]) == p.secret
    assert journals(home) == []


def assert_restored(home: LegacyHome, start: dict[str, tuple[bytes, int]]) -> None:
    now = snapshot(home.home)
    assert set(now) == set(start)
    for rel, (data, mode) in start.items():
        assert now[rel][0] == data, f"{rel} is not as it was"
        assert now[rel][1] == mode, f"{rel} has mode {now[rel][1]:o}, not {mode:o}"
    assert home.profiles() == {}
    assert journals(home) == [] and records(home) == []


# --- the round trip ----------------------------------------------------------------------------


def test_fix_then_scan_finds_nothing_and_undo_restores_every_byte(legacy_home: LegacyHome) -> None:
    planted = planted_home(legacy_home)
    start = snapshot(legacy_home.home)
    reported = {p.rel for p in planted.planted}

    fixed = legacy_home.run("-v", "scan", "--fix")

    assert fixed.returncode == 0, fixed.stderr
    assert_no_secret(planted, fixed.stdout, fixed.stderr)
    assert "done: 11 file(s) fixed" in fixed.stderr
    assert_fixed(legacy_home, planted)
    after = snapshot(legacy_home.home)
    expected = expected_after(planted)
    assert set(expected) == reported
    for rel, (data, mode) in start.items():
        if rel in reported:
            assert after[rel][0] == expected[rel], rel
        else:  # the scope guard: a file the scan did not report is not touched
            assert after[rel][0] == data, rel
        assert after[rel][1] == mode, rel
    assert set(after) == set(start)
    # What the user must still do is said: rotate the committed key, mind open shells.
    assert "~/src/project/.env: committed: rotate this key" in fixed.stderr
    assert "running" in fixed.stderr and "history" in fixed.stderr
    assert "cclogin run --env-file ~/src/project/.env -- CMD" in fixed.stderr
    # The rc line asks cclogin when the shell starts: sourcing it gives the key.
    shell = subprocess.run(
        ["bash", "-c", 'source ~/.bashrc 2>/dev/null; printf %s "$ANTHROPIC_API_KEY"'],
        env={**legacy_home.env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.stdout == fake_key("api03", 4)
    assert set(legacy_home.profiles()) == set(PROFILE_OF.values())

    undone = legacy_home.run("-v", "scan", "--undo")

    assert undone.returncode == 0, undone.stderr
    assert_no_secret(planted, undone.stdout, undone.stderr)
    assert undone.stderr.count("back exactly as it was") == 11
    assert_restored(legacy_home, start)
    again = legacy_home.run("scan", "--undo")
    assert again.returncode == 0 and "nothing to undo" in again.stderr


def test_an_existing_profile_is_reused_and_kept_by_the_undo(legacy_home: LegacyHome) -> None:
    planted = planted_home(legacy_home, big_log=False)
    key = fake_key("api03", 11)  # the one in ~/.claude.json
    assert (
        legacy_home.run("login", "--profile", "work", "--with-api-key", stdin=key + "\n").returncode
        == 0
    )
    (legacy_home.home / "other.env").write_text(f"ANTHROPIC_API_KEY={key}\n")
    start = snapshot(legacy_home.home)

    fixed = legacy_home.run("scan", "--fix")

    assert fixed.returncode == 0, fixed.stderr
    assert "~/.claude.json:3: API key" in fixed.stderr
    assert "-> profile 'work' (already holds it)" in fixed.stderr
    assert (legacy_home.home / "other.env").read_text() == "ANTHROPIC_API_KEY=cclogin://work\n"
    profiles = legacy_home.profiles()
    assert "work" in profiles and "claude-api-key" not in profiles
    assert scan_doc(legacy_home)["findings"] == []

    undone = legacy_home.run("scan", "--undo")

    assert undone.returncode == 0, undone.stderr
    assert "removed profile 'work'" not in undone.stderr
    now = snapshot(legacy_home.home)
    assert {rel: v for rel, v in now.items()} == start
    assert set(legacy_home.profiles()) == {"work"}
    assert legacy_home.token("work") == key
    assert_no_secret(planted, fixed.stderr, undone.stderr)


def test_dry_run_changes_nothing(legacy_home: LegacyHome) -> None:
    planted = planted_home(legacy_home, big_log=False)
    start = snapshot(legacy_home.home)

    dry = legacy_home.run("-v", "scan", "--fix", "--dry-run")

    assert dry.returncode == 8, dry.stderr
    assert dry.stderr.count("would fix ") == len(planted.planted)
    assert "would fix ~/.bash_history:3: API key" in dry.stderr
    assert "the history entry is removed" in dry.stderr
    assert "the key is replaced by cclogin://env-project" in dry.stderr
    assert f'the value now asks cclogin: "$({EXE} token --profile shell-auth-token)"' in dry.stderr
    assert "member primaryApiKey removed" in dry.stderr
    assert "dry run: nothing was changed" in dry.stderr
    assert_no_secret(planted, dry.stdout, dry.stderr)
    assert snapshot(legacy_home.home) == start
    assert (
        legacy_home.profiles() == {} and journals(legacy_home) == [] and records(legacy_home) == []
    )


def test_usage_errors(legacy_home: LegacyHome) -> None:
    for args in (
        ["--dry-run"],
        ["--fix", "--json"],
        ["--undo", "--fix"],
        ["--undo", str(legacy_home.home)],
    ):
        result = legacy_home.run("scan", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("cclogin: error:")


# --- a file that changes under the fix ---------------------------------------------------------


def _paused(home: LegacyHome, point: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    proc = home.popen(*args, CCLOGIN_TEST_ONLY_PAUSE_AT=point)
    marker = home.cclogin_home / f"paused-{point}"
    deadline = time.monotonic() + 60  # a bound for a hung run, not a measurement
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return proc, marker


def test_a_file_changed_between_scan_and_fix_is_refused(legacy_home: LegacyHome) -> None:
    planted = planted_home(legacy_home, big_log=False)
    proc, marker = _paused(legacy_home, "fix-scanned", "scan", "--fix")
    bashrc = legacy_home.home / ".bashrc"
    changed = b"# a line added meanwhile\n" + bashrc.read_bytes()  # every span moves
    bashrc.write_bytes(changed)
    marker.unlink()
    _out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, err
    assert (
        "~/.bashrc changed since it was scanned (line 3 no longer holds the key found there)" in err
    )
    assert "done: 10 file(s) fixed; 1 file(s) left as they were" in err
    assert bashrc.read_bytes() == changed
    assert "shell-api-key" not in legacy_home.profiles()
    assert_no_secret(planted, err)
    again = legacy_home.run("scan", "--fix")
    assert again.returncode == 0, again.stderr
    assert scan_doc(legacy_home)["findings"] == []
    assert legacy_home.token("shell-api-key") == fake_key("api03", 4)


def test_a_file_changed_while_being_fixed_is_rolled_back(legacy_home: LegacyHome) -> None:
    planted = planted_home(legacy_home, big_log=False)
    history = legacy_home.home / ".bash_history"  # the first file fixed
    original = history.read_bytes()
    proc, marker = _paused(legacy_home, "fix-profile-written", "scan", "--fix")
    with history.open("ab") as f:  # a running bash appending with `history -a`
        f.write(b"ls\n")
    marker.unlink()
    _out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, err
    assert "~/.bash_history changed while being fixed; it was left as it is" in err
    assert "rolled back the fix of" in err
    assert history.read_bytes() == original + b"ls\n"
    assert "bash-history-api-key" not in legacy_home.profiles()
    assert_no_secret(planted, err)
    legacy_home.run("scan", "--fix", check=True)
    assert history.read_bytes() == b"ls -la\nclaude\nls\n"


def test_running_shells_of_this_home_are_named(legacy_home: LegacyHome) -> None:
    planted_home(legacy_home, big_log=False)
    env = {**legacy_home.env(), "PATH": "/usr/bin:/bin"}
    ours = subprocess.Popen(["bash", "-c", "sleep 120; true"], env=env)
    theirs = subprocess.Popen(
        ["bash", "-c", "sleep 120; true"], env={**env, "HOME": "/nonexistent"}
    )
    try:
        # Until both are bash (not yet the forked python): polled, not slept on.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            Path(f"/proc/{p.pid}/comm").read_text().strip() != "bash" for p in (ours, theirs)
        ):
            time.sleep(0.01)
        fixed = legacy_home.run("scan", "--fix")
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()
    assert fixed.returncode == 0, fixed.stderr
    assert f"bash (pid {ours.pid}): run `history -c; history -r` in it" in fixed.stderr
    assert str(theirs.pid) not in fixed.stderr
    assert "then run `cclogin scan` again" in fixed.stderr


# --- kills ------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", FIX_POINTS)
def test_kill_at_every_step_then_any_command_settles_it(tmp_path: Path, point: str) -> None:
    home = fresh(tmp_path, "h")
    planted = planted_home(home, big_log=False)
    start = snapshot(home.home)

    killed = home.run("scan", "--fix", CCLOGIN_TEST_ONLY_CRASH_AT=point)

    assert killed.returncode == -signal.SIGKILL
    assert any(n.startswith("scanfix-") for n in journals(home))
    assert_nothing_lost(home, planted)
    status = home.run("status")  # any command settles a leftover first
    assert "interrupted fix of" in status.stderr, status.stderr
    assert journals(home) == []
    assert_nothing_lost(home, planted)
    home.run("scan", "--fix", check=True)
    assert_fixed(home, planted)
    home.run("scan", "--undo", check=True)
    assert_restored(home, start)


@pytest.mark.parametrize("point", FIX_UNDO_POINTS)
def test_kill_during_undo(tmp_path: Path, point: str) -> None:
    home = fresh(tmp_path, "h")
    planted = planted_home(home, big_log=False)
    start = snapshot(home.home)
    home.run("scan", "--fix", check=True)

    killed = home.run("scan", "--undo", CCLOGIN_TEST_ONLY_CRASH_AT=point)

    assert killed.returncode == -signal.SIGKILL
    assert_nothing_lost(home, planted)
    token = home.run("token", "--profile", "claude-api-key")  # settles it, then answers
    assert "interrupted undo" in token.stderr, token.stderr
    assert journals(home) == []
    assert_nothing_lost(home, planted)
    home.run("scan", "--undo", check=True)
    assert_restored(home, start)


@pytest.mark.slow
def test_random_instant_kills(tmp_path: Path) -> None:
    """20 fixes, each SIGKILLed at a random instant: after the k-th step the code
    reports (k random), however loaded the machine is. Then a random next command
    settles it; nothing is lost; a fix completes and the undo restores the start."""
    rng = random.Random(int(os.environ.get("CCLOGIN_TEST_SEED", "20240612")))
    probe = fresh(tmp_path, "probe")
    planted_home(probe, big_log=False)
    progress = tmp_path / "progress-full"
    probe.run("scan", "--fix", check=True, CCLOGIN_TEST_ONLY_PROGRESS=str(progress))
    steps = len(progress.read_text().splitlines())
    assert steps >= 5 * 11  # five steps per fixed file
    nexts = (
        ("status",),
        ("scan", "--json"),
        ("token", "--profile", "shell-api-key"),
        ("scan", "--fix"),
    )
    kills = 0
    after_point: set[str] = set()  # the last step each killed run reported
    for run in range(20):
        home = fresh(tmp_path, f"run{run}")
        planted = planted_home(home, big_log=False)
        start = snapshot(home.home)
        marks = tmp_path / f"progress-{run}"
        target = rng.randrange(1, steps)
        proc = home.popen("scan", "--fix", CCLOGIN_TEST_ONLY_PROGRESS=str(marks))
        deadline = time.monotonic() + 120  # a bound for a hung run, not a measurement
        while proc.poll() is None and time.monotonic() < deadline:
            if marks.exists() and marks.read_text().count("\n") >= target:
                break
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=60)
        kills += proc.returncode == -signal.SIGKILL
        if marks.exists() and proc.returncode == -signal.SIGKILL:
            passed = marks.read_text().splitlines()
            after_point.add(passed[-1] if passed else "")
        assert_nothing_lost(home, planted)
        command = rng.choice(nexts)
        after = home.run(*command)
        shown = [err, after.stderr] + ([] if command[0] == "token" else [after.stdout])
        assert_no_secret(planted, *shown)  # `token` prints its key: that is its job
        assert not any(n.startswith("scanfix-") for n in journals(home)), after.stderr
        assert_nothing_lost(home, planted)
        if run % 2:
            home.run("scan", "--fix", check=True)
            assert_fixed(home, planted)
        home.run("scan", "--undo", check=True)
        assert_restored(home, start)
    assert kills >= 15  # most runs really were killed mid-way
    assert len(after_point & set(FIX_POINTS)) >= 3, after_point  # at different steps
    print(f"random kills: {kills} of 20, after {sorted(after_point)}")


def test_fish_universal_variable_is_cut_and_put_back(legacy_home: LegacyHome) -> None:
    key = fake_key("api03", 40)
    escaped = "".join(c if c.isalnum() or c == "_" else f"\\x{ord(c):02x}" for c in key)
    uvars = legacy_home.home / ".config" / "fish" / "fish_variables"
    uvars.parent.mkdir(parents=True)
    text = (
        "# This file contains fish universal variable definitions.\n"
        "# VERSION: 3.0\n"
        f"SETUVAR --export ANTHROPIC_API_KEY:{escaped}\n"
        "SETUVAR fish_greeting:hi\n"
    )
    uvars.write_text(text)
    fixed = legacy_home.run("scan", "--fix")
    assert fixed.returncode == 0, fixed.stderr
    assert uvars.read_text() == text.replace(f"SETUVAR --export ANTHROPIC_API_KEY:{escaped}\n", "")
    assert legacy_home.token("fish-api-key") == key
    assert "set -gx ANTHROPIC_API_KEY (cclogin token --profile fish-api-key)" in fixed.stderr
    legacy_home.run("scan", "--undo", check=True)
    assert uvars.read_text() == text
    assert key not in fixed.stderr and fake_gateway_token(1) not in fixed.stderr


def test_one_key_in_two_files_goes_to_one_profile(legacy_home: LegacyHome) -> None:
    key = fake_key("api03", 41)
    rc = legacy_home.home / ".profile"
    rc.write_text(f"export ANTHROPIC_API_KEY={key}\n")
    env = legacy_home.home / "proj" / ".env"
    env.parent.mkdir()
    env.write_text(f"export ANTHROPIC_API_KEY={key} # the team key\n")
    start = snapshot(legacy_home.home)

    fixed = legacy_home.run("scan", "--fix")

    assert fixed.returncode == 0, fixed.stderr
    assert set(legacy_home.profiles()) == {"env-proj"}  # a .env names it before an rc file
    assert rc.read_text() == f'export ANTHROPIC_API_KEY="$({EXE} token --profile env-proj)"\n'
    assert env.read_text() == "export ANTHROPIC_API_KEY=cclogin://env-proj # the team key\n"
    legacy_home.run("scan", "--undo", check=True)
    assert snapshot(legacy_home.home) == start and legacy_home.profiles() == {}


def test_a_running_claude_code_keeps_its_file_out_of_the_fix(legacy_home: LegacyHome) -> None:
    planted = planted_home(legacy_home, big_log=False)
    claude_json = legacy_home.home / ".claude.json"
    before = claude_json.read_bytes()
    env = {**legacy_home.env(), "PATH": "/usr/bin:/bin"}
    session = subprocess.Popen(["bash", "-c", "exec -a claude sleep 120"], env=env)
    try:
        deadline = time.monotonic() + 30  # until bash has exec'd: /proc says so, not a delay
        while Path(f"/proc/{session.pid}/cmdline").read_bytes().split(b"\0")[0] != b"claude":
            assert time.monotonic() < deadline
            time.sleep(0.005)
        fixed = legacy_home.run("scan", "--fix")
    finally:
        session.kill()
        session.wait()

    assert fixed.returncode == 1
    assert f"a running Claude Code session (pid {session.pid}" in fixed.stderr
    assert "would write the key back into ~/.claude.json; left as it is" in fixed.stderr
    assert claude_json.read_bytes() == before
    assert "done: 10 file(s) fixed; 1 file(s) left as they were" in fixed.stderr
    assert_no_secret(planted, fixed.stderr)
