"""Vault logins for cclogin's tests, made on the OpenBao dev server with the real bao CLI.

The dev server's root token is shared by the whole session: it is never handed to
cclogin, revoked or logged out. Each test makes the tokens it may revoke (child tokens
with their own policy), and gives them to cclogin on stdin.

    tok = child_token(bao_dev, read_policy(mount, "team/*"), ttl="1h")
    with audit_log(bao_dev, tmp_path) as audit:
        ...
    audit.count("auth/token/renew-self", accessor=tok.accessor)
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.cli import World
from support.openbao import (
    START_TIMEOUT,
    BaoServer,
    bao_binary,
    clean_env,
    free_port,
    http_json,
    log_tail,
    wait_for,
)


@dataclass(frozen=True)
class Token:
    token: str = field(repr=False)
    accessor: str
    policy: str


def read_policy(mount: str, pattern: str) -> str:
    return f'path "{mount}/data/{pattern}" {{ capabilities = ["read"] }}\n'


def child_token(server: BaoServer, policy: str = "", *, ttl: str = "1h", name: str = "cclogin",
                extra: tuple[str, ...] = ()) -> Token:
    """A policy of its own (plus `default`: lookup-self, renew-self, revoke-self) and a
    renewable token holding it."""
    policy_name = f"{name}-{secrets.token_hex(4)}"
    server.bao("policy", "write", policy_name, "-", input=policy or "# nothing more\n")
    out = server.bao("token", "create", f"-policy={policy_name}", f"-ttl={ttl}", *extra,
                     "-format=json").stdout
    auth = json.loads(out)["auth"]
    return Token(auth["client_token"], auth["accessor"], policy_name)


def lookup(server: BaoServer, token: str) -> dict[str, Any] | None:
    """lookup-self as the token itself (BAO_TOKEN, never argv); None when it no longer works."""
    done = server.bao("token", "lookup", "-format=json", token=token, check=False)
    if done.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(done.stdout)["data"]
    return data


def shorten(server: BaoServer, token: str, seconds: int) -> None:
    """Leave the token `seconds` to live at the server (a renewal with a short increment):
    its creation TTL stays what it was, as for a token that has simply aged."""
    server.bao("token", "renew", f"-increment={seconds}s", "-format=json", token=token)


@dataclass
class AuditLog:
    path: Path

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def count(self, request_path: str, *, accessor: str | None = None) -> int:
        """Requests the server received for `request_path` (made with `accessor`)."""
        n = 0
        for entry in self.entries():
            if entry.get("type") != "request":
                continue
            if (entry.get("request") or {}).get("path") != request_path:
                continue
            if accessor is not None and (entry.get("auth") or {}).get("accessor") != accessor:
                continue
            n += 1
        return n


AUDITABLE = "unsafe_allow_api_audit_creation = true\n"


def start_auditable_dev_server(workdir: Path) -> BaoServer:
    """`bao server -dev` that lets a test enable an audit device through the API.

    OpenBao 2.x refuses `bao audit enable` ("use declarative, config-based audit device
    management instead") unless the server's config says
    `unsafe_allow_api_audit_creation`; the shared `bao_dev` fixture has no config file.
    Otherwise it is started as support.openbao starts its dev server.
    """
    import subprocess

    home = workdir / "home"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = workdir / "auditable.hcl"
    config.write_text(AUDITABLE)
    port = free_port(span=2)
    token = "dev-root-" + secrets.token_urlsafe(18)
    log = workdir / "server.log"
    env = clean_env(home)
    env["BAO_DEV_ROOT_TOKEN_ID"] = token  # by environment: argv is world-readable
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(bao_binary()), "server", "-dev", "-dev-no-store-token",
             f"-dev-listen-address=127.0.0.1:{port}", f"-config={config}"],
            env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    server = BaoServer(f"http://127.0.0.1:{port}", token, None, home, log, proc)

    def up() -> bool | None:
        if proc.poll() is not None:
            raise AssertionError(f"bao server -dev exited at start. {log_tail(log)}")
        status, _ = http_json(f"{server.address}/v1/auth/token/lookup-self", token=token)
        return status == 200 or None

    try:
        wait_for("the auditable dev server answering", up, timeout=START_TIMEOUT,
                 details=lambda: log_tail(log))
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def audit_log(server: BaoServer, folder: Path) -> Iterator[AuditLog]:
    """A file audit device on the server for the block (accessors in the clear, so a
    test can tell its token's requests from others'); disabled afterwards."""
    path = folder / f"audit-{secrets.token_hex(4)}.log"
    device = f"cclogin-test-{secrets.token_hex(4)}"
    server.bao("audit", "enable", f"-path={device}", "file", f"file_path={path}",
               "hmac_accessor=false")
    try:
        yield AuditLog(path)
    finally:
        server.bao("audit", "disable", device)


def vault_login(world: World, server: BaoServer, token: str, *flags: str,
                profile: str = "vault") -> None:
    """`cclogin vault login --with-token` with the token on stdin; asserts it worked."""
    done = world.cclogin("vault", "login", "--profile", profile, "--vault-addr", server.address,
                         "--with-token", *flags, input=token + "\n")
    assert done.rc == 0, done


def stored_blob(world: World, profile: str = "vault") -> bytes | None:
    """The raw stored credential of `profile` in an encrypted-file world."""
    from cclogin.store.encrypted_file import EncryptedFileStore
    from cclogin.store.kdf import TEST_DEFAULT
    from cclogin.store.passphrase import FileSource

    source = FileSource(Path(world.env["CCLOGIN_PASSPHRASE_FILE"]))
    store = EncryptedFileStore(world.store_file, source, _test_only_kdf=TEST_DEFAULT)
    return store.get(f"profile:{profile}")
