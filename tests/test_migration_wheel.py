"""Migration works from an installed wheel: the step code ships inside the package."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from support.legacy_home import REPO, LegacyHome

pytestmark = pytest.mark.slow


def test_wheel_migrates_a_vector(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("cclogin-*.whl")
    env_dir = tmp_path / "venv"
    # System site packages hold the dependencies already (no network needed for them).
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [sys.executable, "-c", "import click,sysconfig;print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Reuse this venv's installed dependencies, but not its editable cclogin.
    (Path(purelib) / "deps.pth").write_text(site + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    where = subprocess.run(
        [str(py), "-c", "import cclogin.migrate.engine as e; print(e.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(env_dir) in where  # the wheel's copy, not the source tree's

    home = LegacyHome(tmp_path / "h", exe=env_dir / "bin" / "cclogin")
    (home.home / ".claude").mkdir(parents=True)
    (home.root / "passphrase").write_text("correct horse battery staple\n")
    (home.root / "passphrase").chmod(0o600)
    home.install("subscription-login.credentials.json")

    result = home.run("migrate")

    assert result.returncode == 0, result.stderr
    assert home.token("claude") == "sk-ant-oat01-test-0002"
    assert home.plaintext_left() == []
