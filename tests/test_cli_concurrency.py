"""Many `cclogin` processes at once: nothing lost, nothing partial."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import BACKENDS, CCLOGIN, World, open_world

LOGINS = 20
READERS = 50


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


def start(world: World, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CCLOGIN, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # This test is about losing nothing, not about timeouts (test_cli_hung_keychain is):
        # 20 interpreters importing keyring at once on 2 loaded cores can pass 5 s.
        env=world.environ({"CCLOGIN_KEYCHAIN_TIMEOUT": "60"}),
    )


def key_for(i: int) -> str:
    return f"sk-ant-api03-test-{i:04d}"


def test_concurrent_logins_of_different_profiles_lose_nothing(world: World) -> None:
    procs = [
        start(world, ["login", "--with-api-key", "--no-switch", "--profile", f"p{i:02d}"])
        for i in range(LOGINS)
    ]
    # Feed every stdin first, then collect: all 20 run at the same time.
    for i, proc in enumerate(procs):
        assert proc.stdin is not None
        proc.stdin.write((key_for(i) + "\n").encode())
        proc.stdin.close()
    results = [(proc.wait(timeout=120), proc) for proc in procs]
    for rc, proc in results:
        assert proc.stderr is not None and proc.stdout is not None
        err = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
        assert rc == 0, err

    names = [f"p{i:02d}" for i in range(LOGINS)]
    doc = json.loads(world.metadata_file.read_text())
    assert sorted(doc["profiles"]) == names
    status = json.loads(world.cclogin("status", "--json").stdout)
    assert sorted(row["name"] for row in status["profiles"]) == names
    assert world.stored_keys() == [f"profile:{n}" for n in names]
    for i, name in enumerate(names):
        assert world.cclogin("token", "--profile", name).stdout == key_for(i) + "\n"


def test_concurrent_token_calls_print_the_whole_value(world: World) -> None:
    key = "sk-ant-api03-test-0050"
    assert world.login("default", key).rc == 0
    procs = [start(world, ["token"]) for _ in range(READERS)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        outputs.append((proc.returncode, out, err))
    assert [o for o in outputs if o != (0, (key + "\n").encode(), b"")] == []
