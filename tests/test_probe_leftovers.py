"""Issue 9.7: a probe killed between its write and its delete leaves a test entry in the
keychain; the next probe deletes it (the name is indexed first and carries the pid)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.cli import make_keyring_world
from support.secret_service import SecretServiceDaemon

PLANT = """
import sys
from cclogin.paths import get_paths
from cclogin.store.keychain_index import KeychainIndex
from cclogin.store.select import open_backend
store = open_backend("secret-service", get_paths())
KeychainIndex(get_paths(), "secret-service").add(sys.argv[1])
store._slots().write(sys.argv[1], "probe-left")
"""


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_next_probe_sweeps_a_dead_probes_entry(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = make_keyring_world(tmp_path, secret_service_daemon)
    left = f"cclogin-probe#{dead_pid()}-abcdef012345"
    done = subprocess.run([sys.executable, "-c", PLANT, left], env=world.environ(),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert left in secret_service_daemon.items()

    # A login without a pinned backend probes the keychain first.
    res = world.cclogin("login", "--with-api-key", "--profile", "p", input="sk-ant-api03-test-0001\n",
                        drop=("CCLOGIN_BACKEND",))
    assert res.rc == 0, res
    assert secret_service_daemon.items() == ["profile:p"]  # the leftover is gone, nothing else
    index = (Path(world.env["CCLOGIN_HOME"])).rglob("*index*")
    assert all(left not in p.read_text() for p in index if p.is_file())
