"""`cclogin passphrase`: a new passphrase opens the store, the old one no longer does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KEY = "sk-ant-api03-test-pass-0001"


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cclogin", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _secret_file(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def test_change_passphrase_keeps_every_secret(tmp_path: Path) -> None:
    old = _secret_file(tmp_path / "old", "old-pass-phrase")
    new = _secret_file(tmp_path / "new", "new-pass-phrase")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCLOGIN_", "DBUS_"))}
    env.update(CCLOGIN_HOME=str(tmp_path / "home"), CCLOGIN_BACKEND="encrypted-file",
               CCLOGIN_PASSPHRASE_FILE=str(old), CCLOGIN_TEST_ONLY_WEAK_KDF="1")
    assert _run(["login", "--with-api-key"], env, KEY).returncode == 0
    store = tmp_path / "home" / "data" / "store.cclogin"
    before = store.read_bytes()

    done = _run(["passphrase", "--new-passphrase-file", str(new)], env)
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr

    assert _run(["token"], env).returncode == 1  # the old passphrase is refused now
    env["CCLOGIN_PASSPHRASE_FILE"] = str(new)
    token = _run(["token"], env)
    assert token.returncode == 0 and token.stdout == KEY + "\n"
    # Re-keyed: every byte of header and records is new, the sizes are the same.
    assert store.read_bytes() != before
    assert len(store.read_bytes()) == len(before)


def test_change_without_a_new_source_is_a_usage_error(tmp_path: Path) -> None:
    old = _secret_file(tmp_path / "old", "old-pass-phrase")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCLOGIN_", "DBUS_"))}
    env.update(CCLOGIN_HOME=str(tmp_path / "home"), CCLOGIN_PASSPHRASE_FILE=str(old),
               CCLOGIN_TEST_ONLY_WEAK_KDF="1")
    done = _run(["passphrase"], env)
    assert done.returncode == 2
    assert "--new-passphrase-file" in done.stderr
