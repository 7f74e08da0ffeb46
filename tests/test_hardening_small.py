"""Issue 9.7, the small ones: no core dumps, no trailing newline in names, token characters."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cclogin.errors import InvalidInput, StoreCorrupt
from cclogin.model import profile_name
from cclogin.store import chunking
from cclogin.store.base import validate_key
from support.legacy_home import LegacyHome

# --- (a) crash dumps ------------------------------------------------------------------------

_PROBE = """
import json, resource, sys
from cclogin.cli.entry import PR_GET_DUMPABLE, _prctl, harden_process
before = [_prctl(PR_GET_DUMPABLE, 0), resource.getrlimit(resource.RLIMIT_CORE)[0]]
harden_process()
harden_process()  # a second call is a no-op
after = [_prctl(PR_GET_DUMPABLE, 0), resource.getrlimit(resource.RLIMIT_CORE)[0]]
print(json.dumps({"before": before, "after": after}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_harden_process_turns_off_core_dumps_and_dumpable() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=True
    )
    seen = json.loads(proc.stdout)
    assert seen["before"][0] == 1  # a normal process is dumpable: the test means something
    assert seen["after"] == [0, 0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_the_real_executable_runs_with_no_core_limit(legacy_home: LegacyHome) -> None:
    """A cclogin waiting for its key on stdin: /proc says core files are off for it."""
    proc = subprocess.Popen(
        [str(legacy_home.exe), "login", "--with-api-key", "--profile", "probe"],
        env=legacy_home.env(),
        stdin=subprocess.PIPE,  # kept open: it waits for the key
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        limits = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            limits = Path(f"/proc/{proc.pid}/limits").read_text()
            line = next(x for x in limits.splitlines() if x.startswith("Max core file size"))
            if line.split()[4] == "0":
                break
            time.sleep(0.02)
        assert line.split()[4] == "0", limits
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_harden_process_is_cheap() -> None:
    """It runs on every `cclogin token` (Claude Code's apiKeyHelper): no `ctypes` import."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "from cclogin.cli.entry import harden_process;harden_process()",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "ctypes" not in modules


# --- (b) names: fullmatch, not match with `$` ------------------------------------------------


@pytest.mark.parametrize("name", ["a\n", "work\n", "a\r\n", "\na"])
def test_profile_names_with_a_newline_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        profile_name(name)


@pytest.mark.parametrize("key", ["profile:a\n", "k\n"])
def test_store_keys_with_a_newline_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput):
        validate_key(key)


def test_chunk_header_and_body_with_a_newline_are_refused() -> None:
    header = "cl1c:2:" + "0" * 64
    assert isinstance(chunking.parse_entry(header), chunking.Layout)
    with pytest.raises(StoreCorrupt):
        chunking.parse_entry(header + "\n")
    with pytest.raises(StoreCorrupt):
        chunking.decode("QUJD\n")


def test_login_refuses_a_profile_name_with_a_trailing_newline(legacy_home: LegacyHome) -> None:
    result = legacy_home.run(
        "login", "--with-api-key", "--profile", "a\n", stdin="sk-ant-api03-test-0042\n"
    )

    assert result.returncode != 0
    assert "invalid profile name" in result.stderr
    assert legacy_home.profiles() == {}


# --- (c) token characters (RFC 6750 b64token) ------------------------------------------------

BAD = [
    'sk-ant-api03-"quoted-0042',
    "sk-ant-api03-test;rm-0042",
    "sk-ant-api03-te$t-0042xx",
    "sk-ant-api03-test=0042==",  # '=' only as trailing padding
    "sk-ant-api03-test,0042xx",
    "sk-ant-api03-test\\0042x",
]


@pytest.mark.parametrize("secret", BAD)
def test_login_refuses_what_is_not_token_characters(legacy_home: LegacyHome, secret: str) -> None:
    for how in ("--with-api-key", "--with-oauth-token"):
        result = legacy_home.run("login", how, "--profile", "p", stdin=secret + "\n")

        assert result.returncode != 0, how
        assert "characters no token has" in result.stderr
        assert secret not in result.stderr + result.stdout
        assert secret[13:] not in result.stderr + result.stdout  # not even a part
    assert legacy_home.profiles() == {}


@pytest.mark.parametrize("secret", ["sk-ant-api03-\x1b[2Jtest-0042", "sk-ant-api03-te st-0042"])
def test_login_refuses_control_characters_and_spaces(legacy_home: LegacyHome, secret: str) -> None:
    result = legacy_home.run("login", "--with-api-key", "--profile", "p", stdin=secret + "\n")

    assert result.returncode != 0
    assert "test-0042" not in result.stderr + result.stdout
    assert legacy_home.profiles() == {}


@pytest.mark.parametrize(
    "secret", ["sk-ant-api03-test-0042", "abc.DEF_ghi~jkl+mno/pqr==", "sk-ant-oat01-test-0042="]
)
def test_login_accepts_b64token_characters(legacy_home: LegacyHome, secret: str) -> None:
    result = legacy_home.run("login", "--with-api-key", "--profile", "p", stdin=secret + "\n")

    assert result.returncode == 0, result.stderr
    assert legacy_home.token("p") == secret
