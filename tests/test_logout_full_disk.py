"""Issue 9.7: logout on a full disk says what is really left.

The keychain delete needs no disk; the metadata rewrite does. When only the metadata
could not be written, the secret is gone (proven by reading it back) and the message
must say so instead of "still stored".
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import make_keyring_world
from support.secret_service import SecretServiceDaemon

KEY = "sk-ant-api03-test-fulldisk-0001"


@contextlib.contextmanager
def full_tmpfs_over(folder: Path) -> Iterator[Path]:
    """`folder`'s files on a tiny tmpfs mounted over it, then filled to the last byte."""
    saved = folder.with_name(folder.name + ".saved")
    shutil.copytree(folder, saved)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(folder)],
        capture_output=True, check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        for item in saved.iterdir():
            shutil.copy2(item, folder / item.name)
        filler = folder / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as fh:
            fh.write(b"\0" * (64 << 10))
        yield filler
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def test_logout_on_a_full_disk_says_the_secret_is_gone(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = make_keyring_world(tmp_path, secret_service_daemon)
    assert world.login("p", KEY).rc == 0
    config = world.metadata_file.parent
    with full_tmpfs_over(config) as filler:
        res = world.cclogin("logout", "--profile", "p")
        assert res.rc != 0
        assert "its secret is gone" in res.stderr and "still stored" not in res.stderr, res
        assert world.traces(KEY) == []
        assert secret_service_daemon.items() == []
        filler.unlink()
        again = world.cclogin("logout", "--profile", "p")
        assert again.rc == 0, again
        assert world.cclogin("status").rc == 3  # nothing left to log out of
