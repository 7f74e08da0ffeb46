"""OsKeyringStore("secret-service") against a real gnome-keyring-daemon: fast reads,
and each failure a user can meet (locked, no bus, no daemon, frozen daemon)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cclogin.errors import StoreCorrupt, StoreLocked, StoreTimeout, StoreUnavailable
from cclogin.paths import get_paths
from cclogin.store import chunking
from cclogin.store.os_keyring import OsKeyringStore
from support.secret_service import SecretServiceDaemon

pytestmark = pytest.mark.secret_service

SECRET = b"sk-test-ss-0001"


def _store(timeout: float = 10) -> OsKeyringStore:
    return OsKeyringStore("secret-service", get_paths(), timeout=timeout)


def _run(
    daemon: SecretServiceDaemon, body: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent("""
        import sys
        from cclogin.errors import CcloginError
        from cclogin.paths import get_paths
        from cclogin.store.os_keyring import OsKeyringStore
        """) + textwrap.dedent(body)
    env = {**daemon.environ(), **extra_env}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=False,
                          text=True, timeout=60)


def test_a_get_in_a_fresh_process_reads_without_importing_keyring(
    secret_service: SecretServiceDaemon,
) -> None:
    _store().set("profile:a", SECRET)
    out = _run(secret_service, """
        value = OsKeyringStore("secret-service", get_paths(), 5).get("profile:a")
        heavy = sorted({m.split(".")[0] for m in sys.modules} &
                       {"keyring", "secretstorage", "cryptography", "jaraco"})
        print(value.decode(), heavy)
        """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [SECRET.decode(), "[]"]


def test_items_are_stored_the_way_other_tools_find_them(
    secret_service: SecretServiceDaemon,
) -> None:
    _store().set("profile:a", SECRET)
    found = subprocess.run(
        ["secret-tool", "lookup", "service", "cclogin", "username", "profile:a"],
        env=secret_service.environ(), capture_output=True, timeout=10, check=True)
    assert chunking.parse_entry(found.stdout.decode()) == SECRET
    # And what another tool writes in our format reads back through the fast path.
    secret_service.store_raw("profile:b", "cl1:" + chunking.encode(b"sk-test-raw"))
    assert _store().get("profile:b") == b"sk-test-raw"


def test_a_chunked_value_leaves_nothing_behind_after_delete(
    secret_service: SecretServiceDaemon,
) -> None:
    store = _store()
    value = bytes(range(256)) * 100  # 25.6 KB: more than one entry
    store.set("profile:big", value)
    assert len(secret_service.items()) > 2
    assert store.get("profile:big") == value
    assert store.delete("profile:big") is True
    assert secret_service.items() == []
    assert store.keys() == []


def test_a_foreign_entry_under_our_service_is_reported_corrupt(
    secret_service: SecretServiceDaemon,
) -> None:
    secret_service.store_raw("profile:x", "not-cclogin-format")
    with pytest.raises(StoreCorrupt):
        _store().get("profile:x")


def test_keyring_configured_for_plaintext_or_null_is_ignored(
    secret_service: SecretServiceDaemon, tmp_path: Path
) -> None:
    cfg = Path(secret_service.env["XDG_CONFIG_HOME"]) / "python_keyring" / "keyringrc.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"[backend]\ndefault-keyring=keyring.backends.null.Keyring\n"
                   f"keyring-path={tmp_path}\n")
    out = _run(secret_service, """
        store = OsKeyringStore("secret-service", get_paths(), 5)
        store.set("profile:a", b"sk-test-allow-list")
        print(store.get("profile:a").decode())
        """, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "sk-test-allow-list"
    assert secret_service.items() == ["profile:a"]  # it is in the real keychain
    home = Path(secret_service.env["HOME"])
    for path in [*home.rglob("*"), *Path(secret_service.env["CCLOGIN_HOME"]).rglob("*")]:
        if path.is_file() and "keyrings" not in path.parts:  # gnome-keyring's own encrypted file
            assert b"sk-test-allow-list" not in path.read_bytes(), path


# --- failures -------------------------------------------------------------------------


def test_locked_collection_is_store_locked_without_waiting_for_a_prompt(
    secret_service: SecretServiceDaemon,
) -> None:
    store = _store(timeout=20)  # a hang would surface as StoreTimeout, not StoreLocked
    store.set("profile:a", SECRET)
    secret_service.lock()
    with pytest.raises(StoreLocked):
        store.get("profile:a")
    with pytest.raises(StoreLocked):
        store.set("profile:a", b"sk-test-new")
    with pytest.raises(StoreLocked):
        store.probe()
    secret_service.unlock()
    assert store.get("profile:a") == SECRET  # nothing was lost
    assert store.keys() == ["profile:a"]


def test_no_session_bus_is_store_unavailable(
    secret_service: SecretServiceDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store()
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    with pytest.raises(StoreUnavailable):
        store.get("profile:a")
    with pytest.raises(StoreUnavailable):
        store.set("profile:a", SECRET)
    with pytest.raises(StoreUnavailable):
        store.probe()
    assert store.keys() == []  # the failed first write left no index entry
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/cclogin-bus")
    with pytest.raises(StoreUnavailable):
        store.get("profile:a")


def test_a_bus_without_a_secret_service_is_store_unavailable(
    secret_service: SecretServiceDaemon,
) -> None:
    secret_service.stop_keyring()
    store = _store()
    with pytest.raises(StoreUnavailable):
        store.get("profile:a")
    with pytest.raises(StoreUnavailable):
        store.probe()


def test_a_frozen_daemon_times_out_and_the_process_exits(
    secret_service: SecretServiceDaemon,
) -> None:
    _store().set("profile:a", SECRET)
    body = """
        try:
            OsKeyringStore("secret-service", get_paths(), 1.0).{call}
        except CcloginError as exc:
            print(type(exc).__name__)
        """
    with secret_service.frozen():
        for call in ('get("profile:a")', 'set("profile:a", b"sk-test-new")', "probe()"):
            out = _run(secret_service, body.format(call=call))  # 60 s bound, never measured
            assert (out.returncode, out.stdout.strip()) == (0, "StoreTimeout"), (call, out)
        with pytest.raises(StoreTimeout):
            _store(timeout=1.0).probe()
    assert _store().get("profile:a") in (SECRET, b"sk-test-new")


def test_no_default_collection_is_unavailable_and_none_is_created(
    secret_service: SecretServiceDaemon,
) -> None:
    # keyring's own fallback would create a collection, which prompts for a password
    # that nobody can type over SSH or headless; cclogin says "unavailable" instead.
    login = secret_service._default_collection_path()
    secret_service._call(login, "org.freedesktop.Secret.Collection", "Delete", "", ())
    assert secret_service._default_collection_path() == "/"
    (before,) = secret_service._call("/org/freedesktop/secrets",
                                     "org.freedesktop.DBus.Properties", "Get", "ss",
                                     ("org.freedesktop.Secret.Service", "Collections"))
    monitor = subprocess.Popen(
        ["dbus-monitor", "--address", secret_service.env["DBUS_SESSION_BUS_ADDRESS"],
         "type='method_call',member='CreateCollection'"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        time.sleep(0.3)  # let the monitor attach (setup, not a measurement)
        with pytest.raises(StoreUnavailable):
            _store(timeout=10).probe()
        with pytest.raises(StoreUnavailable):
            _store(timeout=10).set("profile:x", b"sk-test-nocoll")
        time.sleep(0.3)
    finally:
        monitor.terminate()
        seen, _ = monitor.communicate(timeout=10)
    assert "CreateCollection" not in seen  # not even asked for
    (after,) = secret_service._call("/org/freedesktop/secrets",
                                    "org.freedesktop.DBus.Properties", "Get", "ss",
                                    ("org.freedesktop.Secret.Service", "Collections"))
    assert after == before  # no collection was created behind the user's back
