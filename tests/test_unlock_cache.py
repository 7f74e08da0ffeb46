"""`cclogin unlock` / `lock`: the encrypted store's data key in the real kernel keyring.

Every test runs the real executable in a session keyring of its own
(support.kernel_keyring.own_session), and reads what the kernel says from /proc/keys:
the timeout as the kernel counts it, the permissions, whether the key is still there.
No wall-clock assertions: an expiry is awaited by polling the kernel, bounded.
Argon2id not running is proven by the passphrase source never being consulted: a
CCLOGIN_PASSPHRASE_COMMAND that records each of its runs in a file.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import CCLOGIN, PASSPHRASE, Result, World, files_containing, make_encrypted_world
from support.kernel_keyring import (
    ATTEMPT,
    WITHOUT_KEYRING,
    ProcKey,
    add_key,
    own_session,
    proc_keys,
    session_id,
    session_members,
    unlock_keys,
)
from support.tty import Terminal

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not Path("/proc/keys").exists(),
    reason="the unlock cache is the Linux kernel keyring's",
)

KEY = "sk-ant-api03-unlock-cache-0001"
OTHER_KEY = "sk-ant-api03-unlock-cache-0002"
NO_SOURCE = ("CCLOGIN_PASSPHRASE_FILE", "CCLOGIN_PASSPHRASE_COMMAND", "CCLOGIN_PASSPHRASE")
PERM = 0x0B010000  # possessor view+read+search, user view, nothing else
RING_PERM = 0x040B0000  # the `cclogin` keyring: possessor write, user view+read+search


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with own_session():
        w = make_encrypted_world(tmp_path)
        assert w.login("default", KEY).rc == 0
        yield w


class Recorder:
    """A CCLOGIN_PASSPHRASE_COMMAND that writes one line to a log each time it runs."""

    def __init__(self, world: World) -> None:
        self.log = world.root / "asked.log"
        script = world.root / "ask-passphrase"
        script.write_text(
            f"#!/bin/sh\necho asked >> {self.log}\ncat {world.env['CCLOGIN_PASSPHRASE_FILE']}\n"
        )
        script.chmod(0o700)
        self.env = {"CCLOGIN_PASSPHRASE_COMMAND": str(script)}

    @property
    def runs(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


def token_without_source(world: World) -> Result:
    return world.cclogin("token", drop=NO_SOURCE)


def desc_of(world: World) -> str:
    """The description cclogin gives the key of this world's store as it is now."""
    from cclogin.store.file_format import HEADER_LEN
    from cclogin.store.unlock_cache import description

    return description(world.store_file, world.store_file.read_bytes()[:HEADER_LEN])


def valid_keys(desc: str) -> list[ProcKey]:
    """Keys of that description the kernel still honours (not invalidated, revoked or
    expired). By description: /proc/keys shows every unlock key of the uid (user view),
    other tests' too."""
    return [
        k
        for k in unlock_keys()
        if k.description == desc
        and "i" not in k.flags
        and "R" not in k.flags
        and k.timeout != "expd"
    ]


def the_key(world: World) -> ProcKey:
    keys = valid_keys(desc_of(world))
    assert len(keys) == 1, keys
    return keys[0]


def wait_until(condition, what: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the kernel never reported {what}")
        time.sleep(0.05)


def attempt(
    key: ProcKey,
    *prefix: str,
    runner: World | None = None,
    python: str = sys.executable,
    script: Path = ATTEMPT,
) -> dict[str, str]:
    """Run keyring_attempt.py (as `prefix ...`, or through `runner.cclogin`)."""
    args = [python, str(script), key.description, str(key.serial), str(session_id())]
    if runner is not None:
        out = runner.cclogin(*prefix, *args)
        assert out.rc == 0, out
        return dict(json.loads(out.stdout))
    proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(proc.stdout))


def got_it(results: dict[str, str]) -> list[str]:
    return [name for name, outcome in results.items() if not outcome.startswith("errno:")]


# --- the cache itself --------------------------------------------------------------


def test_after_unlock_token_needs_no_passphrase_source_and_runs_no_kdf(world: World) -> None:
    done = world.cclogin("unlock", "--for", "2h30m")
    assert done.rc == 0, done
    assert done.stdout == ""
    assert "unlocked" in done.stderr and "cclogin lock" in done.stderr
    key = the_key(world)
    assert key.timeout == "2h"  # 9000 s, as the kernel counts it
    assert key.perm == PERM and key.uid == os.getuid()
    [ring] = [
        k
        for k in proc_keys()
        if k.type == "keyring" and k.description == "cclogin" and k.serial in session_members()
    ]
    assert ring.perm == RING_PERM and ring.uid == os.getuid()

    # No passphrase source at all, no terminal: the cache alone opens the store.
    got = token_without_source(world)
    assert (got.rc, got.stdout, got.stderr) == (0, KEY + "\n", "")
    # A passphrase source that exists is never consulted: no Argon2id ran.
    asked = Recorder(world)
    env = dict(asked.env)
    for _ in range(3):
        assert (
            world.cclogin("token", extra=env, drop=("CCLOGIN_PASSPHRASE_FILE",)).stdout
            == KEY + "\n"
        )
    assert asked.runs == 0
    # Writes use it too (a login of a second profile, then reading it back).
    assert (
        world.cclogin(
            "login",
            "--with-api-key",
            "-p",
            "two",
            "--no-switch",
            input=OTHER_KEY + "\n",
            drop=NO_SOURCE,
        ).rc
        == 0
    )
    assert world.cclogin("token", "-p", "two", drop=NO_SOURCE).stdout == OTHER_KEY + "\n"

    # The control: once locked, every token asks the source again.
    assert world.cclogin("lock").rc == 0
    assert world.cclogin("token", extra=env, drop=("CCLOGIN_PASSPHRASE_FILE",)).stdout == KEY + "\n"
    assert asked.runs == 1


def test_unlock_asks_on_a_terminal_once(world: World) -> None:
    term = Terminal(
        ["unlock", "--for", "20m"], {k: v for k, v in world.env.items() if k not in NO_SOURCE}
    )
    term.expect("Passphrase for the encrypted store")
    term.type("not it")
    term.expect("wrong passphrase; try again\r\nPassphrase for the encrypted store")
    term.type(PASSPHRASE)
    code = term.finish()
    assert code == 0, term.screen
    assert "unlocked" in term.screen
    assert PASSPHRASE not in term.screen
    assert the_key(world).timeout in ("19m", "20m")
    assert token_without_source(world).stdout == KEY + "\n"


@pytest.mark.parametrize(
    ("duration", "kernel_says"),
    [("90s", "1m"), ("15m30s", "15m"), ("2h30m", "2h"), ("3d12h", "3d"), ("1000", "16m")],
)
def test_the_kernel_timeout_is_what_was_asked(
    world: World, duration: str, kernel_says: str
) -> None:
    assert world.cclogin("unlock", "--for", duration).rc == 0
    assert the_key(world).timeout == kernel_says


def test_default_lifetime_is_eight_hours_and_status_says_until_when(world: World) -> None:
    assert world.cclogin("unlock").rc == 0
    assert the_key(world).timeout in ("7h", "8h")
    status = world.cclogin("status", "--json", drop=NO_SOURCE)
    assert status.rc == 0, status
    cache = json.loads(status.stdout)["unlock_cache"]
    assert cache["active"] is True and cache["unavailable"] is None
    assert 8 * 3600 - 120 <= cache["seconds_left"] <= 8 * 3600
    assert abs(cache["expires_at"] - (time.time() + cache["seconds_left"])) < 120
    text = world.cclogin("status", drop=NO_SOURCE)
    assert "unlock cache: active until" in text.stdout and "7 h" in text.stdout
    doctor = world.cclogin("doctor", drop=NO_SOURCE)
    assert "unlock cache: active until" in doctor.output
    # A second unlock replaces the key (one key, the new timeout), it does not add one.
    assert world.cclogin("unlock", "--for", "90s").rc == 0
    assert the_key(world).timeout == "1m"


@pytest.mark.parametrize("duration", ["0", "0s", "banana", "-5m", "1y", "99999999999"])
def test_a_bad_duration_is_a_usage_error_and_changes_nothing(world: World, duration: str) -> None:
    assert world.cclogin("unlock", "--for", "10m").rc == 0
    before = the_key(world)
    out = world.cclogin("unlock", "--for", duration)
    assert out.rc == 2, out
    assert the_key(world).serial == before.serial


def test_an_expired_cache_falls_back_to_the_passphrase(world: World) -> None:
    assert world.cclogin("unlock", "--for", "1").rc == 0
    assert the_key(world).timeout in ("0s", "1s")
    wait_until(lambda: not valid_keys(desc_of(world)), "the key expired")
    refused = token_without_source(world)
    assert refused.rc == 4, refused
    assert "no passphrase source" in refused.stderr and "cclogin unlock" in refused.stderr
    asked = Recorder(world)
    got = world.cclogin("token", extra=asked.env, drop=("CCLOGIN_PASSPHRASE_FILE",))
    assert (got.rc, got.stdout, asked.runs) == (0, KEY + "\n", 1)


def test_lock_drops_it(world: World) -> None:
    assert world.cclogin("unlock", "--for", "1h").rc == 0
    assert the_key(world)
    out = world.cclogin("lock")
    assert out.rc == 0 and "locked" in out.stderr
    assert valid_keys(desc_of(world)) == []
    assert token_without_source(world).rc == 4
    again = world.cclogin("lock")
    assert again.rc == 0 and "no unlock cache" in again.stderr


def test_a_passphrase_change_proves_the_old_one_and_drops_the_cache(
    world: World, tmp_path: Path
) -> None:
    assert world.cclogin("unlock", "--for", "1h").rc == 0
    old = desc_of(world)
    new = tmp_path / "new-passphrase"
    new.write_text("a brand new passphrase\n")
    new.chmod(0o600)
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("not the passphrase\n")
    wrong.chmod(0o600)
    # The cache does not stand in for the old passphrase.
    refused = world.cclogin(
        "passphrase",
        "--new-passphrase-file",
        str(new),
        extra={"CCLOGIN_PASSPHRASE_FILE": str(wrong)},
    )
    assert refused.rc == 1, refused
    assert the_key(world) and token_without_source(world).stdout == KEY + "\n"

    done = world.cclogin("passphrase", "--new-passphrase-file", str(new))
    assert done.rc == 0, done
    assert "unlock cache" in done.stderr and "dropped" in done.stderr
    assert valid_keys(old) == [] and valid_keys(desc_of(world)) == []
    assert token_without_source(world).rc == 4
    assert world.cclogin("token", extra={"CCLOGIN_PASSPHRASE_FILE": str(new)}).stdout == KEY + "\n"


def test_logout_all_drops_it(world: World) -> None:
    assert world.login("second", OTHER_KEY).rc == 0
    assert world.cclogin("unlock", "--for", "1h").rc == 0
    out = world.cclogin("logout", "--all", drop=NO_SOURCE)  # the cache opens the store for it
    assert out.rc == 0, out
    assert "removed the unlock cache" in out.stderr
    assert valid_keys(desc_of(world)) == []
    assert world.stored_keys() == []


# --- who can read it -----------------------------------------------------------------


def test_the_children_of_exec_and_run_cannot_read_it(world: World) -> None:
    assert world.cclogin("unlock", "--for", "1h").rc == 0
    key = the_key(world)
    control = attempt(key)  # this test's process possesses the session keyring
    assert control["request_key"].startswith("read:") and control["read by serial"].startswith(
        "read:"
    )

    for command in (("exec", "--"), ("run", "--")):
        results = attempt(key, *command, runner=world)
        assert got_it(results) == [], (command, results)
    # Nor does a cclogin started by the child (Claude Code's helper under `exec`;
    # `run` sets no credential variable of its own, which `token` would print).
    inner = world.cclogin("run", "--", CCLOGIN, "token", drop=NO_SOURCE)
    assert inner.rc == 4 and "no passphrase source" in inner.stderr
    # The parent session is untouched: the key is still there and still works here.
    assert the_key(world).serial == key.serial
    assert token_without_source(world).stdout == KEY + "\n"


def test_another_local_user_cannot_read_it(world: World) -> None:
    """Even the hard case: a process of another user started *inside* the session
    (`runuser -u`, like `sudo -u`, keeps the session keyring: it possesses it)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("needs root, useradd and runuser to make a second user")
    assert world.cclogin("unlock", "--for", "1h").rc == 0
    key = the_key(world)
    name = "ccunlock" + secrets.token_hex(3)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True)
    # The checkout may sit where the other user cannot read (/root is 0700): a copy
    # of the attempt script they can run.
    shared = Path(tempfile.mkdtemp(prefix="cclogin-attempt-", dir="/tmp"))
    shared.chmod(0o755)
    script = shared / ATTEMPT.name
    shutil.copyfile(ATTEMPT, script)
    script.chmod(0o644)
    try:
        results = attempt(key, "runuser", "-u", name, "--", python="/usr/bin/python3", script=script)
        assert got_it(results) == [], results
    finally:
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(shared, ignore_errors=True)
    assert the_key(world).serial == key.serial


def test_a_shell_without_a_session_keyring_gets_one_and_keeps_it_private(
    world: World, tmp_path: Path
) -> None:
    """Most SSH logins (no pam_keyinit) run on the user-session keyring, which every
    process of the uid can join by name: the key must not go there."""
    on_user_session = tmp_path / "on-user-session"
    on_user_session.write_text(
        f"#!{sys.executable}\n"
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "nr = {'x86_64': 250, 'aarch64': 219}[os.uname().machine]\n"
        f"name = b'_uid_ses.{os.getuid()}'\n"
        "assert libc.syscall(ctypes.c_long(nr), ctypes.c_long(1), name) > 0  # join it\n"
        "os.execvp(sys.argv[1], sys.argv[1:])\n"
    )
    on_user_session.chmod(0o700)
    desc = desc_of(world)
    probe = f"{sys.executable} {ATTEMPT} {desc} 0 0"
    script = (
        f"{CCLOGIN} unlock --for 30m || exit 9\n"
        f"env -u CCLOGIN_PASSPHRASE_FILE {CCLOGIN} token\n"
        f"{probe}\n"  # a child of this shell
        f"{on_user_session} {probe}\n"  # a process on the user-session keyring: another login
    )
    proc = subprocess.run(
        [str(on_user_session), "sh", "-c", script],
        env=world.environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "a new session keyring given to sh" in proc.stderr
    token, inside, outside = proc.stdout.splitlines()
    assert token == KEY
    assert json.loads(inside)["request_key"].startswith("read:")
    assert got_it(json.loads(outside)) == []


# --- binding to the file -------------------------------------------------------------


def test_a_replaced_store_is_not_opened_with_the_cached_key(world: World, tmp_path: Path) -> None:
    assert world.cclogin("unlock", "--for", "1h").rc == 0
    old = desc_of(world)
    (tmp_path / "elsewhere").mkdir()
    other = make_encrypted_world(tmp_path / "elsewhere")
    assert other.login("default", OTHER_KEY).rc == 0  # same passphrase, another data key
    shutil.copyfile(other.store_file, world.store_file)
    asked = Recorder(world)
    got = world.cclogin("token", extra=asked.env, drop=("CCLOGIN_PASSPHRASE_FILE",))
    assert (got.rc, got.stdout, asked.runs) == (0, OTHER_KEY + "\n", 1)
    assert token_without_source(world).rc == 4  # the cache belongs to the old file
    assert desc_of(world) != old and len(valid_keys(old)) == 1  # there, unused


def test_a_tampered_store_drops_the_cached_key(world: World) -> None:
    assert world.cclogin("unlock", "--for", "1h").rc == 0
    data = bytearray(world.store_file.read_bytes())
    data[-40] ^= 1  # a record's byte: same header, the MAC no longer verifies
    world.store_file.write_bytes(bytes(data))
    asked = Recorder(world)
    out = world.cclogin("token", extra=asked.env, drop=("CCLOGIN_PASSPHRASE_FILE",))
    assert out.rc == 1 and "integrity check" in out.stderr, out
    assert asked.runs == 1  # the cache was not trusted; the passphrase path said why
    assert valid_keys(desc_of(world)) == []


def test_a_planted_key_is_never_trusted(world: World) -> None:
    """A same-uid process that can add to the session keyring cannot plant a data key
    of its own: it does not verify against the file's MAC and is dropped."""
    desc = desc_of(world)
    planted = add_key(desc, b"\x01" + (2**40).to_bytes(8, "big") + os.urandom(32))
    asked = Recorder(world)
    got = world.cclogin("token", extra=asked.env, drop=("CCLOGIN_PASSPHRASE_FILE",))
    assert (got.rc, got.stdout, asked.runs) == (0, KEY + "\n", 1)
    assert planted not in [k.serial for k in valid_keys(desc)]


# --- where there is no kernel keyring ------------------------------------------------


@pytest.mark.parametrize("err", [errno.ENOSYS, errno.EPERM])
def test_without_a_kernel_keyring_unlock_says_so_and_token_works_as_before(
    world: World, err: int
) -> None:
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the seccomp filter knows x86_64 and aarch64")
    blocked = [sys.executable, str(WITHOUT_KEYRING), str(err), "--", CCLOGIN]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*blocked, *args],
            env=world.environ(),
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    out = run("unlock", "--for", "1h")
    assert out.returncode == 1, out.stderr
    assert "cclogin: error: the Linux kernel keyring is not available here" in out.stderr
    assert "cclogin: hint: cclogin works without it" in out.stderr
    assert valid_keys(desc_of(world)) == []
    token = run("token")
    assert (token.returncode, token.stdout, token.stderr) == (0, KEY + "\n", "")
    status = run("status")
    assert status.returncode == 0 and "unlock cache: unavailable here" in status.stdout
    assert run("lock").returncode == 0
    assert run("exec", "--", "true").returncode == 0


# --- policy and secrecy --------------------------------------------------------------


@pytest.fixture
def policy_file() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a policy file must be root's")
    folder = Path(tempfile.mkdtemp(prefix="cclogin-unlock-policy-", dir="/run"))
    folder.chmod(0o755)
    try:
        yield folder / "policy.toml"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_admin_policy_caps_the_lifetime(world: World, policy_file: Path) -> None:
    assert world.cclogin("unlock", "--for", "2h").rc == 0  # before any policy
    before = the_key(world)
    policy_file.write_text("schema = 1\n\n[unlock_cache]\nmax_seconds = 3600\n")
    policy_file.chmod(0o644)
    env = {"CCLOGIN_TEST_ONLY_POLICY_FILE": str(policy_file)}
    refused = world.cclogin("unlock", "--for", "2h", extra=env)
    assert refused.rc == 9, refused
    assert "unlock_cache.max_seconds" in refused.stderr
    assert the_key(world).serial == before.serial  # the refused request changed nothing
    assert world.cclogin("unlock", extra=env).rc == 0  # the default, shortened to the cap
    assert the_key(world).timeout in ("59m", "1h")

    policy_file.write_text("schema = 1\n\n[unlock_cache]\nmax_seconds = 0\n")
    assert world.cclogin("unlock", "--for", "1m", extra=env).rc == 9
    # A cache made before the policy said no is not used.
    asked = Recorder(world)
    got = world.cclogin("token", extra={**env, **asked.env}, drop=("CCLOGIN_PASSPHRASE_FILE",))
    assert (got.rc, got.stdout, asked.runs) == (0, KEY + "\n", 1)


def data_key(world: World) -> bytes:
    """The store's data key, unwrapped the slow way, to look for it everywhere."""
    from cclogin.secret import Secret
    from cclogin.store.file_format import decode
    from cclogin.store.kdf import derive_kek, unwrap_key

    h = decode(world.store_file.read_bytes()).header
    kek = derive_kek(Secret(PASSPHRASE), h.salt, h.kdf)
    return unwrap_key(kek, h.wrap_nonce, h.wrapped_key, h.wrap_aad())


def test_no_key_material_in_any_output_or_file(world: World) -> None:
    dk = data_key(world)
    forms = [
        dk.hex(),
        dk.hex().upper(),
        base64.b64encode(dk).decode(),
        base64.urlsafe_b64encode(dk).decode().rstrip("="),
        dk.decode("latin-1"),
    ]
    outputs = [
        world.cclogin("-v", "unlock", "--for", "1h"),
        world.cclogin("-v", "token", drop=NO_SOURCE),
        world.cclogin("-v", "status", "--json", drop=NO_SOURCE),
        world.cclogin("-v", "status", drop=NO_SOURCE),
        world.cclogin("-v", "doctor", "--json", drop=NO_SOURCE),
        world.cclogin("-v", "exec", "--", "env", drop=NO_SOURCE),
        world.cclogin("-v", "lock"),
    ]
    assert [o.rc for i, o in enumerate(outputs) if i != 4] == [0] * 6  # doctor may warn
    for out in outputs:
        for form in forms:
            assert form not in out.output, out.args
    for needle in (dk, dk.hex().encode()):
        assert files_containing(world.root, needle) == []
