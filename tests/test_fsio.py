"""Atomic writes, private reads and cross-process locks."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cclogin.errors import CcloginError, UnsafeFile
from cclogin.fsio import DiskFull, atomic_write, file_lock, read_private

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and owners")


def test_atomic_write_is_private_and_complete(tmp_path: Path) -> None:
    target = tmp_path / "d" / "f.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]


def test_full_disk_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    atomic_write(target, b"old")

    def no_space(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(DiskFull) as info:
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert "no space" in info.value.message
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_read_private_refuses_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    atomic_write(real, b"x")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafeFile, match="symlink"):
        read_private(link)


def test_read_private_refuses_group_readable(tmp_path: Path) -> None:
    f = tmp_path / "f"
    atomic_write(f, b"x")
    f.chmod(0o640)
    with pytest.raises(UnsafeFile) as info:
        read_private(f)
    assert "chmod 600" in info.value.hint


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_read_private_refuses_another_owner(tmp_path: Path) -> None:
    f = tmp_path / "f"
    atomic_write(f, b"x")
    os.chown(f, 65534, 65534)
    with pytest.raises(UnsafeFile, match="another user"):
        read_private(f)


def test_read_private_missing_and_oversized(tmp_path: Path) -> None:
    assert read_private(tmp_path / "nope") is None
    f = tmp_path / "big"
    atomic_write(f, b"x" * 100)
    with pytest.raises(CcloginError, match="more than"):
        read_private(f, max_size=10)


def test_lock_excludes_another_process_and_survives_a_kill(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from cclogin.fsio import file_lock\n"
         f"with file_lock(Path({str(lock)!r})):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        probe = subprocess.run(
            [sys.executable, "-c",
             "import fcntl,os,sys\n"
             f"fd=os.open({str(lock)!r}, os.O_RDWR)\n"
             "try:\n fcntl.flock(fd, fcntl.LOCK_EX|fcntl.LOCK_NB)\nexcept BlockingIOError:\n sys.exit(7)"],
            check=False,
        )
        assert probe.returncode == 7  # held by the other process
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the lock with the killed holder; the file stays.
    with file_lock(lock):
        pass
    assert lock.exists()


def test_lock_refuses_a_symlinked_lock_file(tmp_path: Path) -> None:
    (tmp_path / "locks").mkdir(mode=0o700)
    (tmp_path / "locks" / "x.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeFile), file_lock(tmp_path / "locks" / "x.lock"):
        pass
    assert not (tmp_path / "elsewhere").exists()


def test_new_parent_folders_are_private_too(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c" / "f"
    atomic_write(target, b"x")
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_try_lock_does_not_wait_for_a_holder(tmp_path: Path) -> None:
    from cclogin.fsio import try_file_lock

    lock = tmp_path / "locks" / "y.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from pathlib import Path; from cclogin.fsio import file_lock\n"
         f"with file_lock(Path({str(lock)!r})):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with try_file_lock(lock) as mine:
            assert mine is False
    finally:
        holder.kill()
        holder.wait()
    with try_file_lock(lock) as mine:
        assert mine is True
