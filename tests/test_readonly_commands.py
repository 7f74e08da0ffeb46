"""Issue 13, item 2: `status`, `doctor` and `backends` write nothing to the keychain.

Proven from the daemon's side: a `dbus-monitor` on the fixture's private bus records
every method call the real gnome-keyring-daemon is sent while the real `cclogin` runs
(no CreateItem, Delete, SetSecret, Unlock or Lock among them, and the command did talk
to the daemon), and the daemon's own item list is the same before and after (a
create+delete pair would leave that unchanged, hence the monitor). A locked keychain is
still reported locked and stays locked, an absent one unavailable, a deleted entry
missing.

Then the keychain deadline (store/deadline.py): its clock covers the keychain only, not
the imports (checked structurally: no module is imported while a deadline runs), and a
call given up on is let finish, not cut, when the process exits.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

from support.cli import World, open_world
from support.secret_service import SecretServiceDaemon

pytestmark = pytest.mark.secret_service

KEY = "sk-ant-api03-test-readonly-0001"
# What a read-only command must never ask the keychain to do.
WRITES = ("CreateItem", "Delete", "SetSecret", "Unlock", "Lock", "CreateCollection",
          "SetAlias", "UnlockWithMasterPassword", "ChangeWithMasterPassword")
READ_ONLY = [("status",), ("status", "--json"), ("doctor",), ("doctor", "--json"),
             ("backends",), ("backends", "--json")]
_MEMBER = re.compile(r"\bmember=(\w+)")


class BusMonitor:
    """Every method call on the private bus between enter and exit, by member.

    The window is fenced by two marker calls the monitor must print (NameHasOwner of a
    unique name), so no call of the command can fall before the monitor attached or
    after it was stopped: no sleeps, no timing."""

    def __init__(self, daemon: SecretServiceDaemon, log: Path) -> None:
        self.daemon = daemon
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self._marks: list[str] = []

    def __enter__(self) -> BusMonitor:
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(
                ["dbus-monitor", "--address", self.daemon.env["DBUS_SESSION_BUS_ADDRESS"],
                 "type='method_call'"],
                stdout=out, stderr=subprocess.DEVNULL,
            )
        self._mark()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._mark()
        finally:
            assert self._proc is not None
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def _mark(self) -> None:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        name = f"cclogin.test.mark{uuid.uuid4().hex}"
        self._marks.append(name)
        bus = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
        conn = open_dbus_connection(self.daemon.env["DBUS_SESSION_BUS_ADDRESS"])
        try:
            for _attempt in range(600):  # until the monitor has printed it (~60 s at most)
                conn.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (name,)),
                                        timeout=5)
                if name in self.log.read_text(errors="replace"):
                    return
                time.sleep(0.1)
        finally:
            conn.close()
        raise AssertionError("dbus-monitor never printed the marker call")

    def calls(self) -> list[str]:
        """Members of the method calls inside the window, markers left out."""
        blocks = re.split(r"\n(?=\S)", self.log.read_text(errors="replace"))  # one per message
        first = next(i for i, b in enumerate(blocks) if self._marks[0] in b)
        last = next(i for i, b in enumerate(blocks) if self._marks[-1] in b)
        members = []
        for block in blocks[first + 1 : last]:
            found = _MEMBER.search(block.splitlines()[0])
            if found and not any(mark in block for mark in self._marks):
                members.append(found.group(1))
        return members


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("secret-service", tmp_path) as w:
        yield w


def _daemon(world: World) -> SecretServiceDaemon:
    assert world.daemon is not None
    return world.daemon


def _run_watched(world: World, tmp_path: Path, *args: str, **kw: object):  # type: ignore[no-untyped-def]
    with BusMonitor(_daemon(world), tmp_path / f"monitor-{uuid.uuid4().hex}.log") as monitor:
        # Without CCLOGIN_BACKEND, as users run it: `backends` then selects for real.
        res = world.cclogin(*args, drop=("CCLOGIN_BACKEND",), **kw)  # type: ignore[arg-type]
    return res, monitor.calls()


def _writes(calls: list[str]) -> list[str]:
    return [c for c in calls if c in WRITES]


# --- nothing written ------------------------------------------------------------------


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_create_and_delete_no_item(
    world: World, tmp_path: Path, args: tuple[str, ...]
) -> None:
    daemon = _daemon(world)
    assert world.login("default", KEY).rc == 0
    before = daemon.items()
    assert before == ["profile:default"]
    res, calls = _run_watched(world, tmp_path, *args)
    assert res.rc == 0, res
    assert _writes(calls) == [], calls
    assert "Get" in calls or "SearchItems" in calls, calls  # it did ask the daemon
    assert daemon.items() == before
    if args[0] == "status":
        assert "logged in as profile 'default'" in res.stdout
        assert "OpenSession" in calls and "GetSecret" in calls  # the entry was read back
    if args[0] == "backends":
        selected = json.loads(res.stdout)["selected"] if "--json" in args else res.stdout
        assert "secret-service" in selected
    assert KEY not in res.output


def test_the_monitor_sees_a_write_and_login_keeps_its_round_trip(
    world: World, tmp_path: Path
) -> None:
    """The check above can fail: a login without a pinned backend is watched too. It
    writes its secret (CreateItem) and, choosing the backend for it, a test entry that
    it deletes again: the round trip stays where a write is about to happen anyway."""
    res, calls = _run_watched(world, tmp_path, "login", "--with-api-key", "--profile", "p",
                              input=KEY + "\n")
    assert res.rc == 0, res
    assert calls.count("CreateItem") == 2 and calls.count("Delete") == 1, calls
    assert _daemon(world).items() == ["profile:p"]


# --- a locked, absent or emptied keychain is still reported -----------------------------


def _a_claude_login(world: World) -> None:
    """A profile of a kind whose expiry lives in the secret (status reads the secret
    for it). `migrate` makes these; here the metadata of a token login is relabelled,
    which is all status looks at before the store says it is locked."""
    oat = "sk-ant-oat01-test-readonly-0002"
    assert world.login("claude", oat, "--no-switch", how="--with-oauth-token").rc == 0
    meta = json.loads(world.metadata_file.read_text())
    profiles = meta["profiles"]
    entry = profiles["claude"] if isinstance(profiles, dict) else next(
        p for p in profiles if p["name"] == "claude")
    entry["kind"] = "claude_login"
    world.metadata_file.write_text(json.dumps(meta))


def test_a_locked_keychain_is_reported_locked_and_stays_locked(
    world: World, tmp_path: Path
) -> None:
    daemon = _daemon(world)
    assert world.login("default", KEY).rc == 0
    _a_claude_login(world)
    before = daemon.items()
    daemon.lock()
    try:
        status, calls = _run_watched(world, tmp_path, "status")
        assert status.rc == 4, status  # exit 4: the store is not usable now
        assert "locked" in status.stdout
        assert _writes(calls) == [], calls
        assert "OpenSession" not in calls and "GetSecret" not in calls  # not even a read
        doc, calls = _run_watched(world, tmp_path, "status", "--json")
        assert json.loads(doc.stdout)["exit_code"] == doc.rc == 4
        assert "locked" in json.loads(doc.stdout)["summary"]
        assert _writes(calls) == [], calls
        claude, calls = _run_watched(world, tmp_path, "status", "--profile", "claude")
        assert claude.rc == 4 and "locked" in claude.stdout, claude
        assert _writes(calls) == [], calls

        doctor, calls = _run_watched(world, tmp_path, "doctor", "--json")
        findings = json.loads(doctor.stdout)
        backend = [f for f in findings if f["check"] == "backend"]
        assert any("secret-service" in f["message"] and "locked" in f["message"]
                   for f in backend), backend
        # No other backend works here (no passphrase source): doctor fails, exit 1.
        assert doctor.rc == 1 and any(f["level"] == "fail" for f in backend), findings
        assert _writes(calls) == [], calls
        human, calls = _run_watched(world, tmp_path, "doctor")
        assert human.rc == 1 and "locked" in human.stdout, human
        assert _writes(calls) == [], calls

        backends, calls = _run_watched(world, tmp_path, "backends", "--json")
        listed = {b["name"]: b for b in json.loads(backends.stdout)["backends"]}
        assert not listed["secret-service"]["usable"]
        assert "locked" in listed["secret-service"]["reason"]
        assert backends.rc == 4  # nothing can be selected for a new login
        assert _writes(calls) == [], calls
        assert daemon.is_locked()  # nobody unlocked it
        assert daemon.items() == before
    finally:
        daemon.unlock()
    assert world.cclogin("status").rc == 0


def test_an_absent_secret_service_is_reported_unavailable(world: World) -> None:
    daemon = _daemon(world)
    assert world.login("default", KEY).rc == 0
    daemon.stop_keyring()  # the bus stays, with nobody owning org.freedesktop.secrets
    status = world.cclogin("status")
    assert status.rc == 4 and "no Secret Service daemon" in status.stdout, status
    doctor = world.cclogin("doctor", "--json")
    reasons = [f["message"] for f in json.loads(doctor.stdout) if f["check"] == "backend"]
    assert any("secret-service" in m and "no Secret Service daemon" in m for m in reasons), reasons
    backends = world.cclogin("backends", "--json", drop=("CCLOGIN_BACKEND",))
    listed = {b["name"]: b for b in json.loads(backends.stdout)["backends"]}
    assert not listed["secret-service"]["usable"]
    # No session bus at all (SSH, a container): unavailable as well.
    bare = world.cclogin("status", drop=("DBUS_SESSION_BUS_ADDRESS",))
    assert bare.rc == 4 and "Traceback" not in bare.output, bare


def test_an_entry_deleted_behind_cclogins_back_is_reported_missing(
    world: World, tmp_path: Path
) -> None:
    daemon = _daemon(world)
    assert world.login("default", KEY).rc == 0
    subprocess.run(["secret-tool", "clear", "service", "cclogin", "username", "profile:default"],
                   env=daemon.environ(), check=True, timeout=10)
    assert daemon.items() == []
    for args in (("status",), ("status", "--json")):
        res, calls = _run_watched(world, tmp_path, *args)
        assert res.rc == 3, res  # not logged in: the secret is gone
        assert "has no secret" in res.stdout
        assert _writes(calls) == [], calls
    doctor, calls = _run_watched(world, tmp_path, "doctor")
    assert "'default' has no secret" in doctor.stdout or "no longer exist" in doctor.stdout
    assert _writes(calls) == [], calls
    assert daemon.items() == []


# --- the keychain deadline: imports before the clock, no call cut short -----------------

SPY = """
import json, sys
from cclogin.paths import get_paths
from cclogin.store import os_keyring

seen = []

def spy(real):
    def wrapper(fn, *args):
        def watched(*inner):
            before = set(sys.modules)
            try:
                return fn(*inner)
            finally:
                seen.append((args[-1], sorted(set(sys.modules) - before)))
        return real(watched, *args)
    return wrapper

os_keyring.run_with_deadline = spy(os_keyring.run_with_deadline)
os_keyring.run_locked_with_deadline = spy(os_keyring.run_locked_with_deadline)
store = os_keyring.OsKeyringStore("secret-service", get_paths(), 10)
{body}
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"keyring", "secretstorage", "jeepney"}})
print(json.dumps({{"seen": seen, "heavy": heavy}}))
"""


def _spied(daemon: SecretServiceDaemon, body: str) -> dict[str, list]:  # type: ignore[type-arg]
    script = SPY.format(body=textwrap.dedent(body))
    proc = subprocess.run([sys.executable, "-c", script], env=daemon.environ(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_no_import_runs_on_the_keychain_clock(secret_service_daemon: SecretServiceDaemon) -> None:
    """Structural, so it holds on a loaded machine too: whatever each keychain call
    needs (keyring, secretstorage, cryptography, jeepney) is imported before its
    deadline starts, so a slow import can never use up CCLOGIN_KEYCHAIN_TIMEOUT."""
    out = _spied(secret_service_daemon, """
        store.probe()                               # read-only: jeepney only
        store.round_trip()                          # keyring: write, read, delete
        store.set("profile:a", b"sk-test-clock")     # keyring, under the writer lock
        assert store.get("profile:a") == b"sk-test-clock"   # the jeepney fast path
        assert store.delete("profile:a") is True
        """)
    whats = [what for what, _new in out["seen"]]
    assert whats == ["secret-service: probe"] * 2 + ["secret-service: write",
                     "secret-service: read", "secret-service: delete"], whats
    assert [new for _what, new in out["seen"]] == [[]] * 5  # nothing imported on the clock
    assert out["heavy"] == ["jeepney", "keyring", "secretstorage"]  # they were used


def test_the_fallback_read_imports_keyring_before_its_clock(
    secret_service_daemon: SecretServiceDaemon,
) -> None:
    """A read the fast path hands to keyring (here: an item that is not UTF-8) gets
    keyring imported between the two deadlines, not inside the second."""
    subprocess.run(
        ["secret-tool", "store", "--label=test", "service", "cclogin", "username", "profile:b"],
        input=b"\xff\xfe not text", env=secret_service_daemon.environ(), check=True, timeout=10,
    )
    out = _spied(secret_service_daemon, """
        from cclogin.errors import CcloginError
        try:
            store.get("profile:b")
        except CcloginError:
            pass
        """)
    assert [what for what, _new in out["seen"]] == ["secret-service: read"] * 2, out
    assert [new for _what, new in out["seen"]] == [[], []], out
    assert "keyring" in out["heavy"]


GIVEN_UP = """
import sys, threading, time
from pathlib import Path
from cclogin.errors import StoreTimeout
from cclogin.store.deadline import given_up, run_with_deadline

flag = Path(sys.argv[1])
release = threading.Event()

def call():
    release.wait({hold})  # a call in flight that answers late ({hold} s)
    flag.write_text(f"finished, given up: {{given_up()}}")

try:
    run_with_deadline(call, 0.05, "test: call")
except StoreTimeout:
    print("timed out")
    {after}
"""


def test_a_call_given_up_on_may_finish_before_the_process_exits(tmp_path: Path) -> None:
    """The caller stops waiting at the deadline, but the process does not cut the call
    at exit: it is let finish (within EXIT_GRACE), knowing it was given up on."""
    flag = tmp_path / "flag"
    script = GIVEN_UP.format(hold=0.3, after="pass")
    proc = subprocess.run([sys.executable, "-c", script, str(flag)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "timed out"), proc.stderr
    assert flag.read_text() == "finished, given up: True"


def test_a_call_that_never_answers_does_not_hold_the_exit(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    script = GIVEN_UP.format(hold=3600, after="pass")
    proc = subprocess.run([sys.executable, "-c", script, str(flag)], capture_output=True,
                          text=True, timeout=60, check=False)  # ends after the grace
    assert (proc.returncode, proc.stdout.strip()) == (0, "timed out"), proc.stderr
    assert not flag.exists()


def test_a_reader_given_up_on_sends_nothing_more(secret_service_daemon: SecretServiceDaemon,
                                                 tmp_path: Path) -> None:
    """After its caller gave up, the jeepney reader finishes the call in flight and
    sends no new one, not even its session's Close: it closes the connection."""
    script = textwrap.dedent("""
        import threading
        from cclogin.errors import StoreTimeout
        from cclogin.store import secret_service_reader as ssr
        from cclogin.store.deadline import run_with_deadline, settle

        gate = threading.Event()
        real = ssr.SecretServiceReader._call

        def slow_call(self, addr, method, *args, **kw):
            reply = real(self, addr, method, *args, **kw)
            if method == "OpenSession":
                gate.wait(5)  # the reply is in; the caller gives up meanwhile
            return reply

        ssr.SecretServiceReader._call = slow_call

        def read():
            with ssr.SecretServiceReader(5) as reader:
                return reader.read("profile:none")

        try:
            run_with_deadline(read, 0.2, "test: read")
        except StoreTimeout:
            gate.set()
            settle()
            print("timed out")
        """)
    with BusMonitor(secret_service_daemon, tmp_path / "monitor.log") as monitor:
        proc = subprocess.run([sys.executable, "-c", script], env=secret_service_daemon.environ(),
                              capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "timed out"), proc.stderr
    calls = [c for c in monitor.calls() if c not in ("Hello", "AddMatch")]
    assert calls == ["OpenSession"], calls  # no SearchItems, no GetSecret, no Close
