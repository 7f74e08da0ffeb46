"""A throwaway home folder with legacy plaintext credential files, and the real `cclogin`.

    def test_x(legacy_home):
        legacy_home.install("subscription-login.credentials.json")
        result = legacy_home.run("migrate")
        assert legacy_home.token("claude") == "sk-ant-oat01-test-0002"

Everything runs the installed `cclogin` executable as a subprocess, with the encrypted
file backend, a 0600 passphrase file and the test-only weak key derivation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "migrations" / "0001-claude-code-plaintext" / "vectors"
CCLOGIN = Path(sys.executable).parent / "cclogin"
# Every fake secret the vectors hold carries this marker; none may survive in plaintext.
SECRET_MARKERS = (b"-test-00", b"mcp-test-token")


def vector_names() -> list[str]:
    return sorted(p.name.removesuffix(".expect.json") for p in VECTORS.glob("*.expect.json"))


def expectation(name: str) -> dict[str, Any]:
    return dict(json.loads((VECTORS / f"{name}.expect.json").read_text()))


@dataclass
class LegacyHome:
    root: Path
    exe: Path = CCLOGIN
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def cclogin_home(self) -> Path:
        return self.root / "cclogin"

    def env(self, **more: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CCLOGIN_", "CLAUDE_", "ANTHROPIC_", "XDG_"))
        }
        base.update(
            HOME=str(self.home),
            CCLOGIN_HOME=str(self.cclogin_home),
            CCLOGIN_BACKEND="encrypted-file",
            CCLOGIN_PASSPHRASE_FILE=str(self.root / "passphrase"),
            CCLOGIN_TEST_ONLY_WEAK_KDF="1",
            CCLOGIN_CLAUDE_LOCK_WAIT="2",
        )
        base.update(self.extra_env)
        base.update(more)
        return base

    def run(
        self, *args: str, check: bool = False, stdin: str = "", **env: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.exe), *args],
            check=False,
            env=self.env(**env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"cclogin {' '.join(args)} failed:\n{result.stderr}")
        return result

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.exe), *args],
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
        )

    def token(self, profile: str) -> str:
        result = self.run("token", "--profile", profile)
        assert result.returncode == 0, result.stderr
        return result.stdout.rstrip("\n")

    def install(self, vector: str, as_path: str | None = None, mode: int | None = None) -> Path:
        """Put a vector where its expectation says (or at `as_path`, relative to HOME)."""
        expect = expectation(vector)
        target = self.home / (as_path or expect["install_as"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((VECTORS / vector).read_bytes())
        os.chmod(target, mode if mode is not None else int(expect.get("mode", "600"), 8))
        return target

    def plaintext_left(self) -> list[str]:
        """Files under HOME or CCLOGIN_HOME that still hold a test secret in the clear."""
        hits = []
        for base in (self.home, self.cclogin_home):
            for path in base.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    data = path.read_bytes()
                    if any(m in data for m in SECRET_MARKERS):
                        hits.append(str(path.relative_to(self.root)))
        return sorted(hits)

    def profiles(self) -> dict[str, dict[str, Any]]:
        result = self.run("status", "--json")
        return {p["name"]: p for p in json.loads(result.stdout)["profiles"]}

    def leftovers(self) -> list[str]:
        """Journals, backups and Claude Code lock dirs a finished run must not leave."""
        found = []
        for folder in (
            self.cclogin_home / "state" / "journal",
            self.cclogin_home / "data" / "backups",
        ):
            if folder.is_dir():
                found += [str(p) for p in folder.iterdir()]
        for lock in (self.home / ".claude" / ".oauth_refresh.lock", self.home / ".claude.lock"):
            if lock.exists():
                found.append(str(lock))
        return found


@pytest.fixture
def legacy_home(tmp_path: Path) -> LegacyHome:
    if not CCLOGIN.exists():
        pytest.skip(f"the cclogin executable is not installed next to {sys.executable}")
    home = LegacyHome(tmp_path)
    (home.home / ".claude").mkdir(parents=True)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    passphrase.chmod(0o600)
    return home
