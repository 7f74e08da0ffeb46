"""`login --claude` runs Claude Code's own `claude setup-token` (a stand-in here)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cclogin.claude_setup import (
    MASK,
    ClaudeNotFound,
    ClaudeSetupCancelled,
    ClaudeSetupError,
    ClaudeTokenNotFound,
    extract_token,
    run_setup_token,
)
from cclogin.secret import Secret
from support.fake_claude import DEFAULT_TOKEN, install


@pytest.fixture
def claude_env(tmp_path: Path) -> dict[str, str]:
    install(tmp_path / "bin")
    env = dict(os.environ)
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["FAKE_CLAUDE_ARGV"] = str(tmp_path / "argv.txt")
    return env


def test_the_token_is_returned_and_never_shown(claude_env: dict[str, str], tmp_path: Path
                                               ) -> None:
    err = io.StringIO()
    claude_env["CCLOGIN_PASSPHRASE"] = "do-not-pass-me"
    token = run_setup_token(environ=claude_env, stderr=err)
    assert token == Secret(DEFAULT_TOKEN)
    shown = err.getvalue()
    assert DEFAULT_TOKEN not in shown and DEFAULT_TOKEN[:20] not in shown
    assert MASK in shown and "Use the url below to sign in" in shown  # chatter relayed
    argv = (tmp_path / "argv.txt").read_text()
    assert "['setup-token']" in argv and "passphrase_env=False" in argv


def test_a_token_wrapped_by_a_narrow_renderer_is_rejoined(claude_env: dict[str, str]) -> None:
    claude_env["FAKE_CLAUDE_MODE"] = "wrapped"
    err = io.StringIO()
    assert run_setup_token(environ=claude_env, stderr=err) == Secret(DEFAULT_TOKEN)
    assert DEFAULT_TOKEN[-20:] not in err.getvalue()


@pytest.mark.parametrize(("mode", "error", "words"), [
    ("cancel", ClaudeSetupCancelled, "cancelled"),
    ("fail", ClaudeSetupError, "exit status 1"),
    ("no-token", ClaudeTokenNotFound, "printed no token"),
])
def test_failures_are_clear(claude_env: dict[str, str], mode: str,
                            error: type[Exception], words: str) -> None:
    claude_env["FAKE_CLAUDE_MODE"] = mode
    with pytest.raises(error, match=words):
        run_setup_token(environ=claude_env, stderr=io.StringIO())


def test_claude_not_on_path(tmp_path: Path) -> None:
    with pytest.raises(ClaudeNotFound, match="not found on PATH") as info:
        run_setup_token(environ={"PATH": str(tmp_path)}, stderr=io.StringIO())
    assert "Claude Code" in info.value.hint


def test_the_user_answers_claude_prompts_on_our_stdin(claude_env: dict[str, str]) -> None:
    # A real process with a real stdin: the prompt reaches the user before any newline,
    # the answer reaches `claude`, and the token is returned but never printed.
    claude_env["FAKE_CLAUDE_MODE"] = "prompt"
    code = ("import hashlib, sys\nfrom cclogin.claude_setup import run_setup_token\n"
            "t = run_setup_token()\n"
            "print(hashlib.sha256(t.reveal().encode()).hexdigest())\n")
    proc = subprocess.run([sys.executable, "-c", code], input="the-code-from-browser\n",
                          capture_output=True, text=True, env=claude_env, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == hashlib.sha256(DEFAULT_TOKEN.encode()).hexdigest()
    assert "Paste code here if prompted >" in proc.stderr
    assert DEFAULT_TOKEN not in proc.stderr + proc.stdout


def test_extract_token_takes_the_token_line_not_urls() -> None:
    text = ("visit https://claude.ai/x?state=sk-ant-no\n\x1b[32m" + DEFAULT_TOKEN
            + "\x1b[0m\n\nStore this token securely.\n")
    assert extract_token(text) == Secret(DEFAULT_TOKEN)
    assert extract_token("no token here\n") is None
