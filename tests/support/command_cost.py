"""What one command costs with many profiles: D-Bus calls and connections, file rewrites.

    with BusCount(daemon, tmp_path / "bus.log") as bus, Rewrites(folder) as files:
        world.cclogin("logout", "--all")
    bus.calls()          # every method call sent while the block ran, by member
    bus.connections()    # Hello calls: one per D-Bus connection opened
    files.count("metadata.json")   # times the file was replaced or rewritten in place

BusCount runs `dbus-monitor --profile` on the fixture's private bus. Its window is fenced
by two marker calls (a Peer.Ping to a unique object path, which the monitor prints), so
no call of the command falls outside it and nothing depends on sleeps; the markers'
own connections are left out of the counts.

Rewrites watches one folder with Linux inotify (through ctypes: no package): a file
written the cclogin way (temp file, `os.replace`) arrives as IN_MOVED_TO under its
name, one written in place as IN_CLOSE_WRITE; each is one rewrite.

`make_profiles(env, backend, count)` creates `count` API-key profiles in one process,
through cclogin's own store and metadata code (one metadata write), much faster than
`count` logins: what the tests and benchmarks then log out.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from .secret_service import SecretServiceDaemon


class Call(NamedTuple):
    sender: str
    destination: str
    interface: str
    member: str


class BusCount:
    def __init__(self, daemon: SecretServiceDaemon, log: Path) -> None:
        self._address = daemon.env["DBUS_SESSION_BUS_ADDRESS"]
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self._marks: list[str] = []

    def __enter__(self) -> BusCount:
        with self._log.open("wb") as out:
            self._proc = subprocess.Popen(
                ["dbus-monitor", "--address", self._address, "--profile"],
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

        path = f"/cclogin/mark/m{uuid.uuid4().hex}"
        self._marks.append(path)
        ping = DBusAddress(path, "org.freedesktop.DBus", "org.freedesktop.DBus.Peer")
        conn = open_dbus_connection(self._address)
        try:
            for _attempt in range(600):  # until the monitor has printed it (~60 s at most)
                conn.send_and_get_reply(new_method_call(ping, "Ping"), timeout=5)
                if path in self._log.read_text(errors="replace"):
                    return
                time.sleep(0.1)
        finally:
            conn.close()
        raise AssertionError("dbus-monitor never printed the marker call")

    def _lines(self) -> list[list[str]]:
        rows = [line.split("\t") for line in self._log.read_text(errors="replace").splitlines()]
        firsts = [i for i, r in enumerate(rows) if len(r) > 5 and r[5] == self._marks[0]]
        lasts = [i for i, r in enumerate(rows) if len(r) > 5 and r[5] == self._marks[-1]]
        first, last = firsts[-1], lasts[0]
        # The markers' connections (their Hello, Ping, ...) are not the command's.
        markers = {r[3] for r in rows if len(r) > 5 and r[5] in self._marks}
        return [r for r in rows[first + 1 : last]
                if r[0] == "mc" and len(r) >= 8 and r[3] not in markers]

    def calls(self) -> list[Call]:
        """Every method call on the bus inside the window (the daemon's own included)."""
        return [Call(r[3], r[4], r[6], r[7]) for r in self._lines()]

    def members(self) -> collections.Counter[str]:
        return collections.Counter(c.member for c in self.calls())

    def connections(self) -> int:
        """D-Bus connections opened inside the window (each sends Hello first)."""
        return sum(c.member == "Hello" and c.destination == "org.freedesktop.DBus"
                   for c in self.calls())


# --- inotify ---------------------------------------------------------------------------

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
_EVENT = struct.Struct("iIII")


class Rewrites:
    """Rewrites of the files in one folder while the block runs, by file name."""

    def __init__(self, *folders: Path) -> None:
        self._folders = folders
        self._fd = -1
        self._counts: collections.Counter[str] = collections.Counter()

    def __enter__(self) -> Rewrites:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for folder in self._folders:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            wd = libc.inotify_add_watch(self._fd, os.fsencode(folder),
                                        IN_CLOSE_WRITE | IN_MOVED_TO)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._drain()
        finally:
            os.close(self._fd)

    def _drain(self) -> None:
        while select.select([self._fd], [], [], 0.05)[0]:
            with contextlib.suppress(BlockingIOError):
                data = os.read(self._fd, 1 << 16)
                offset = 0
                while offset < len(data):
                    _wd, _mask, _cookie, size = _EVENT.unpack_from(data, offset)
                    offset += _EVENT.size
                    name = data[offset : offset + size].rstrip(b"\0").decode()
                    offset += size
                    self._counts[name] += 1

    def count(self, name: str) -> int:
        return self._counts[name]

    def counts(self) -> dict[str, int]:
        return dict(self._counts)


# --- many profiles at once --------------------------------------------------------------

_MAKE = r"""
import os, sys, time
from cclogin.accounts.profiles import read_metadata, write_metadata
from cclogin.model import ApiKey, Profile, dump_credential, profile_name, secret_key
from cclogin.paths import get_paths
from cclogin.secret import Secret
from cclogin.store.select import open_backend

backend, count, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = get_paths()
store = open_backend(backend, paths, os.environ)
meta = read_metadata(paths)
for i in range(first, first + count):
    name = profile_name(f"p{i:04d}")
    key = f"sk-ant-api03-test-many-profiles-{i:06d}-" + "x" * 40  # as api_key(i)
    store.set(secret_key(name), dump_credential(ApiKey(Secret(key))))
    meta.put(Profile(name, "api_key", store.name, store.storage_class, time.time()))
meta.active = meta.active or "p%04d" % first
write_metadata(paths, meta)
"""


def api_key(i: int) -> str:
    """The key of profile p{i:04d}."""
    return f"sk-ant-api03-test-many-profiles-{i:06d}-" + "x" * 40


def make_profiles(
    env: Mapping[str, str], backend: str, count: int, *, first: int = 0,
    src: Path | None = None,
) -> list[str]:
    """Profiles p{first:04d}... in `backend` (with `src` on PYTHONPATH if given); their
    names."""
    run_env = dict(env)
    if src is not None:
        run_env["PYTHONPATH"] = str(src)
    subprocess.run([sys.executable, "-c", _MAKE, backend, str(count), str(first)],
                   env=run_env, check=True, capture_output=True, text=True, timeout=300)
    return [f"p{i:04d}" for i in range(first, first + count)]
