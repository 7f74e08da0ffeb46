"""The Secret Service fixture itself: isolated from the machine, cleaned up, never
silently skipped in CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from support import secret_service as ss


@pytest.mark.secret_service
def test_the_daemon_is_private_and_stops_with_nothing_left(tmp_path: Path) -> None:
    daemon = ss.start_secret_service()
    try:
        env = daemon.environ()
        root = str(daemon.root)
        assert env["DBUS_SESSION_BUS_ADDRESS"].startswith(f"unix:path={root}/")
        assert env["HOME"].startswith(root) and env["XDG_RUNTIME_DIR"].startswith(root)
        assert "DISPLAY" not in env and "WAYLAND_DISPLAY" not in env
        assert daemon.items() == []
        daemon.store_raw("probe-item", "x")
        assert daemon.items() == ["probe-item"]
        daemon.lock()
        daemon.unlock()
        pid = daemon.keyring_pid
    finally:
        daemon.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not daemon.root.exists()


def test_missing_binaries_fail_in_ci_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI never skips"):
        ss.require_binaries()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        ss.require_binaries()
