"""A real Secret Service for tests: a private D-Bus session bus + gnome-keyring-daemon.

Nothing here touches the machine's own keyring: the bus listens on a socket in a
fresh temporary folder, the daemon gets its own HOME and XDG_* folders and no
DISPLAY, and both are stopped by PID in teardown.

    def test_x(secret_service):          # env already applied (monkeypatch)
        ...
        assert secret_service.items() == []

Missing binaries skip these tests, except in CI (`CI` set), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PASSWORD = b"test-keyring-pw"  # the throwaway keyring's unlock password
BINARIES = ("dbus-daemon", "gnome-keyring-daemon")
SECRETS = "org.freedesktop.secrets"
DEFAULT_COLLECTION = "/org/freedesktop/secrets/aliases/default"
# Variables that would lead a test to the real desktop session; always removed.
HOST_SESSION_VARS = (
    "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "GNOME_KEYRING_CONTROL",
    "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME", "KEYRING_PROPERTY_PREFERRED_COLLECTION", "PYTHON_KEYRING_BACKEND",
    "CCLOGIN_BACKEND",
)

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def require_binaries() -> None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if not missing:
        return
    message = f"Secret Service tests need {', '.join(missing)} on PATH"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI never skips these)")
    pytest.skip(message)


@dataclass
class SecretServiceDaemon:
    root: Path
    env: dict[str, str]  # overlay: DBUS_SESSION_BUS_ADDRESS, HOME, XDG_*, CCLOGIN_HOME
    start_seconds: float = 0.0
    _bus: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _keyring: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def keyring_pid(self) -> int:
        assert self._keyring is not None
        return self._keyring.pid

    def environ(self) -> dict[str, str]:
        """A full environment for subprocesses: the host's, minus its session, plus ours."""
        env = {k: v for k, v in os.environ.items() if k not in HOST_SESSION_VARS}
        env.update(self.env)
        return env

    # --- driving the daemon ---------------------------------------------------------

    def _connect(self) -> Any:
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(self.env["DBUS_SESSION_BUS_ADDRESS"])

    def _call(self, path: str, iface: str, method: str, sig: str, body: tuple[Any, ...]) -> Any:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg

        conn = self._connect()
        try:
            msg = new_method_call(DBusAddress(path, SECRETS, iface), method, sig or None, body)
            return unwrap_msg(conn.send_and_get_reply(msg, timeout=5))
        finally:
            conn.close()

    def lock(self) -> None:
        """Lock the default collection (gnome-keyring does this without a prompt)."""
        self._call("/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "Lock",
                   "ao", ([self._default_collection_path()],))
        assert self.is_locked()

    def is_locked(self) -> bool:
        (variant,) = self._call(DEFAULT_COLLECTION, "org.freedesktop.DBus.Properties", "Get",
                                "ss", ("org.freedesktop.Secret.Collection", "Locked"))
        return bool(variant[1])

    def unlock(self) -> None:
        """Unlock with the password and no prompt (gnome-keyring's internal interface)."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg

        collection = self._default_collection_path()
        conn = self._connect()  # the session belongs to this connection
        try:
            service = DBusAddress("/org/freedesktop/secrets", SECRETS,
                                  "org.freedesktop.Secret.Service")
            msg = new_method_call(service, "OpenSession", "sv", ("plain", ("s", "")))
            _out, session = unwrap_msg(conn.send_and_get_reply(msg, timeout=5))
            internal = DBusAddress(
                "/org/freedesktop/secrets", SECRETS,
                "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface")
            msg = new_method_call(internal, "UnlockWithMasterPassword", "o(oayays)",
                                  (collection, (session, b"", PASSWORD, "text/plain")))
            unwrap_msg(conn.send_and_get_reply(msg, timeout=5))
        finally:
            conn.close()
        assert not self.is_locked()

    def _default_collection_path(self) -> str:
        (path,) = self._call("/org/freedesktop/secrets", "org.freedesktop.Secret.Service",
                             "ReadAlias", "s", ("default",))
        return str(path)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the keyring daemon for the block; SIGCONT however the block ends."""
        os.kill(self.keyring_pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.keyring_pid, signal.SIGCONT)

    def items(self, service: str = "cclogin") -> list[str]:
        """Usernames of every item (locked or not) with this service attribute."""
        unlocked, locked = self._call(
            "/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "SearchItems",
            "a{ss}", ({"service": service},))
        names = []
        for path in [*unlocked, *locked]:
            (variant,) = self._call(path, "org.freedesktop.DBus.Properties", "Get", "ss",
                                    ("org.freedesktop.Secret.Item", "Attributes"))
            names.append(variant[1].get("username", ""))
        return sorted(names)

    def store_raw(self, username: str, text: str, service: str = "cclogin") -> None:
        """Write an item the way another tool would (secret-tool, secret on stdin)."""
        subprocess.run(
            ["secret-tool", "store", "--label=test", "service", service, "username", username],
            input=text.encode(), env=self.environ(), check=True, timeout=10,
            capture_output=True,
        )

    # --- lifecycle ------------------------------------------------------------------

    def stop_keyring(self) -> None:
        """Stop only the keyring daemon: the bus stays, with no Secret Service on it."""
        proc = self._keyring
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)

    def stop(self) -> None:
        for proc in (self._keyring, self._bus):
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # a frozen daemon cannot die of SIGTERM
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for proc in (self._keyring, self._bus):
            if proc is not None and proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_for_name(address: str, deadline: float) -> None:
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    bus = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
    conn = open_dbus_connection(address)
    try:
        while time.monotonic() < deadline:
            msg = new_method_call(bus, "NameHasOwner", "s", (SECRETS,))
            (owned,) = unwrap_msg(conn.send_and_get_reply(msg, timeout=5))
            if owned:
                return
            time.sleep(0.005)
    finally:
        conn.close()
    raise RuntimeError("gnome-keyring-daemon did not claim org.freedesktop.secrets in time")


def start_secret_service(timeout: float = 15.0) -> SecretServiceDaemon:
    require_binaries()
    started = time.monotonic()
    # Unix socket paths are limited to ~107 bytes: keep the root short, in /tmp.
    root = Path(tempfile.mkdtemp(prefix="cclss-", dir="/tmp"))
    home, run = root / "home", root / "run"
    for folder in (home, run, home / ".local/share", home / ".config", home / ".cache"):
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    (root / "bus.conf").write_text(_BUS_CONFIG.format(socket=root / "bus"))
    env = {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(run),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "CCLOGIN_HOME": str(root / "cclogin"),
    }
    daemon = SecretServiceDaemon(root, env)
    base = {k: v for k, v in os.environ.items() if k not in HOST_SESSION_VARS}
    try:
        daemon._bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={root / 'bus.conf'}", "--nofork",
             "--print-address=1"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**base, **env},
        )
        assert daemon._bus.stdout is not None
        address = daemon._bus.stdout.readline().decode().strip()
        if not address:
            raise RuntimeError("dbus-daemon printed no address")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        daemon._keyring = subprocess.Popen(
            ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--foreground"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**base, **env},
        )
        assert daemon._keyring.stdin is not None
        daemon._keyring.stdin.write(PASSWORD)
        daemon._keyring.stdin.close()
        _wait_for_name(address, started + timeout)
        # The login keyring is made a moment after the name is claimed; until the
        # "default" alias points at it, a client would try to create a collection.
        while daemon._default_collection_path() == "/":
            if time.monotonic() > started + timeout:
                raise RuntimeError("gnome-keyring-daemon made no default collection in time")
            time.sleep(0.005)
    except BaseException:
        daemon.stop()
        raise
    daemon.start_seconds = time.monotonic() - started
    return daemon


@pytest.fixture
def secret_service_daemon() -> Iterator[SecretServiceDaemon]:
    """A fresh private Secret Service; the test process's env is left alone."""
    daemon = start_secret_service()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def secret_service(
    secret_service_daemon: SecretServiceDaemon, monkeypatch: pytest.MonkeyPatch
) -> SecretServiceDaemon:
    """The same, with this process's environment pointed at it (for in-process tests)."""
    for name in HOST_SESSION_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in secret_service_daemon.env.items():
        monkeypatch.setenv(name, value)
    return secret_service_daemon
