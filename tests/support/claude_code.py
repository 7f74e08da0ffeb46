"""The real Claude Code binary, pinned in tests/claude_code/package.json, run offline.

`./scripts/test` installs it (`npm ci --ignore-scripts`: the native binary needs no
Node). The hand-over tests fail, never skip, when it is missing, so a green run always
means the real client was exercised.

    def test_x(claude_code, messages_stub, world):
        done = claude_code.run(world.environ(), messages_stub)   # claude -p "say hi"
        assert messages_stub.last().api_key == KEY
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from .messages_stub import MessagesStub, running_stub

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "claude_code"
BINARY = PACKAGE_DIR / "node_modules" / "@anthropic-ai" / "claude-code-linux-x64" / "claude"

# What keeps the real client off the network and quiet; the API address comes from the stub.
OFFLINE = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
}
# Credential variables of the host; a test sets the ones it means.
HOST_CREDENTIALS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_SECURESTORAGE_CONFIG_DIR",
)


def pinned_version() -> str:
    doc = json.loads((PACKAGE_DIR / "package.json").read_text())
    return str(doc["dependencies"]["@anthropic-ai/claude-code"])


@dataclass
class ClaudeCode:
    binary: Path

    def environ(self, env: Mapping[str, str], stub: MessagesStub, *, base_url: bool = True) -> dict[str, str]:
        out = {k: v for k, v in env.items() if k not in HOST_CREDENTIALS or k in ("CLAUDE_CONFIG_DIR", "CLAUDE_SECURESTORAGE_CONFIG_DIR")}
        for name in HOST_CREDENTIALS:
            if name in env and name not in ("CLAUDE_CONFIG_DIR", "CLAUDE_SECURESTORAGE_CONFIG_DIR"):
                out[name] = env[name]
        out.update(OFFLINE)
        out["PATH"] = f"{self.binary.parent}:{env.get('PATH', '/usr/bin:/bin')}"
        if base_url:
            out["ANTHROPIC_BASE_URL"] = stub.url
        return out

    def argv(self, *args: str, prompt: str = "say hi") -> list[str]:
        return [str(self.binary), "-p", prompt, "--output-format", "json", *args]

    def run(
        self,
        env: Mapping[str, str],
        stub: MessagesStub,
        *args: str,
        prompt: str = "say hi",
        prefix: Sequence[str] = (),
        timeout: float = 120,
        base_url: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`[prefix...] claude -p PROMPT --output-format json ARGS...` against the stub."""
        cmd = [*prefix, *self.argv(*args, prompt=prompt)]
        return subprocess.run(
            cmd,
            env=self.environ(env, stub, base_url=base_url),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )


@pytest.fixture(scope="session")
def claude_code() -> ClaudeCode:
    if not os.access(BINARY, os.X_OK):
        pytest.fail(
            f"the real Claude Code {pinned_version()} is not installed at {BINARY}; "
            "run ./scripts/test (it runs `npm ci --ignore-scripts` in tests/claude_code)"
        )
    return ClaudeCode(BINARY)


@pytest.fixture
def messages_stub() -> Iterator[MessagesStub]:
    with running_stub() as stub:
        yield stub
