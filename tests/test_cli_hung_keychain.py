"""A hung keychain never hangs cclogin: every command gives up at the timeout.

The real gnome-keyring-daemon is frozen with SIGSTOP (as a wedged D-Bus service would
be) while the real `cclogin` executable runs; it must answer with the documented
"timed out" error and exit code, and the stored secret must be intact afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import World, open_world

pytestmark = pytest.mark.secret_service

KEY = "sk-ant-api03-test-hung-0001"
FAST = {"CCLOGIN_KEYCHAIN_TIMEOUT": "1"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("secret-service", tmp_path) as w:
        yield w


@pytest.mark.parametrize(
    "args",
    [("token",), ("status",), ("exec", "--", "true"), ("logout",),
     ("login", "--with-api-key", "--profile", "second")],
)
def test_a_frozen_daemon_times_out_cleanly(world: World, args: tuple[str, ...]) -> None:
    assert world.login("default", KEY).rc == 0
    assert world.daemon is not None
    with world.daemon.frozen():
        # run() has its own 60 s limit: a hang fails the test instead of the suite.
        res = world.cclogin(*args, input="sk-ant-api03-test-hung-0002\n", extra=FAST)
    assert res.rc == 4, res
    assert "did not answer" in res.output  # status reports on stdout, errors on stderr
    assert "Traceback" not in res.output
    if args[0] in ("token", "exec", "login"):
        assert "cclogin: hint:" in res.stderr and "CCLOGIN_KEYCHAIN_TIMEOUT" in res.stderr
    # Thawed, nothing was lost or half-done.
    token = world.cclogin("token")
    assert token.rc == 0 and token.stdout == KEY + "\n"
