"""A Vault login's token is renewed before use, once across processes; an expired or
revoked one asks for a new Vault login (exit 5), and nothing stored changes.

Against the real `bao server -dev`; renewals are counted on the server's side, by a
file audit device enabled for the test (requests made with the test token's accessor).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bao_auth import (
    audit_log,
    child_token,
    lookup,
    read_policy,
    shorten,
    start_auditable_dev_server,
    stored_blob,
    vault_login,
)
from support.cli import CCLOGIN, World, open_world
from support.openbao import BaoKv, BaoServer

SHARED_KEY = "sk-ant-api03-team-shared-renew-0001"
CALLERS = 30


@pytest.fixture(scope="module")
def bao_audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    """A dev server of this module's own, where audit devices may be enabled."""
    server = start_auditable_dev_server(tmp_path_factory.mktemp("bao-audited"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bao_kv(bao_audited: BaoServer) -> Iterator[BaoKv]:
    mount = "kv-" + secrets.token_hex(6)
    bao_audited.bao("secrets", "enable", f"-path={mount}", "-version=2", "kv")
    try:
        yield BaoKv(bao_audited, mount)
    finally:
        bao_audited.bao("secrets", "disable", mount)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("encrypted-file", tmp_path) as w:
        yield w


def team_setup(world: World, kv: BaoKv, *, ttl: str = "1h") -> str:
    """A shared key on the server, a teammate's token that may read it, a Vault login
    with that token and a team profile `team` reading through it. Returns the token."""
    server = kv.server
    server.bao("kv", "put", f"-mount={kv.mount}", "team/anthropic", "api_key=-", input=SHARED_KEY)
    tok = child_token(server, read_policy(kv.mount, "team/*"), ttl=ttl)
    vault_login(world, server, tok.token)
    linked = world.cclogin("login", "--profile", "team", "--vault", "team/anthropic",
                           "--vault-mount", kv.mount)
    assert linked.rc == 0, linked
    world._extra["accessor"] = tok.accessor
    return tok.token


def about_to_expire(world: World, server: BaoServer, token: str, seconds: int) -> None:
    """The token has `seconds` left at the server, and cclogin's record says so (a new
    `vault login` of the same token: what `lookup-self` reports is what it stores)."""
    shorten(server, token, seconds)
    vault_login(world, server, token, "--force")
    meta = json.loads(world.metadata_file.read_text())
    left = meta["profiles"]["vault"]["expires_at"] - time.time()
    assert 0 < left <= seconds + 1


def test_thirty_concurrent_token_calls_renew_once(world: World, bao_kv: BaoKv,
                                                  tmp_path: Path) -> None:
    server = bao_kv.server
    token = team_setup(world, bao_kv)
    about_to_expire(world, server, token, 40)
    with audit_log(server, tmp_path) as audit:
        procs = [
            subprocess.Popen([CCLOGIN, "token", "--profile", "team"], env=world.environ(),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(CALLERS)
        ]
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
        renewals = audit.count("auth/token/renew-self", accessor=world._extra["accessor"])
        reads = audit.count(f"{bao_kv.mount}/data/team/anthropic",
                            accessor=world._extra["accessor"])
    for rc, out, err in results:
        assert rc == 0, err
        assert out == SHARED_KEY + "\n"
        assert token not in out + err
    print(f"{CALLERS} concurrent `cclogin token --profile team`: {renewals} renew-self, "
          f"{reads} reads of the shared key")
    assert renewals == 1
    assert reads == CALLERS
    # The renewal asked for the token's whole lifetime again, and the record says so.
    info = lookup(server, token)
    assert info is not None and info["ttl"] > 3000
    meta = json.loads(world.metadata_file.read_text())
    assert meta["profiles"]["vault"]["expires_at"] - time.time() > 3000
    # Not due any more: the next call renews nothing.
    with audit_log(server, tmp_path) as audit:
        assert world.cclogin("token", "--profile", "team").stdout == SHARED_KEY + "\n"
        assert audit.count("auth/token/renew-self", accessor=world._extra["accessor"]) == 0


def test_token_of_the_vault_login_itself_is_renewed_too(world: World, bao_kv: BaoKv,
                                                        tmp_path: Path) -> None:
    """`cclogin token --profile vault` (and so `exec`) hands out a renewed token."""
    server = bao_kv.server
    token = team_setup(world, bao_kv)
    about_to_expire(world, server, token, 30)
    with audit_log(server, tmp_path) as audit:
        done = world.cclogin("-v", "token", "--profile", "vault")
        assert done.rc == 0, done
        assert done.stdout == token + "\n"
        assert audit.count("auth/token/renew-self", accessor=world._extra["accessor"]) == 1
    assert "renewed the Vault token of 'vault' for 3600 s" in done.stderr
    assert token not in done.stderr  # -v explains, and never shows the token
    info = lookup(server, token)
    assert info is not None and info["ttl"] > 3000


def test_expired_token_asks_for_a_vault_login_and_changes_nothing(world: World,
                                                                  bao_kv: BaoKv) -> None:
    server = bao_kv.server
    token = team_setup(world, bao_kv)
    about_to_expire(world, server, token, 3)
    expires = json.loads(world.metadata_file.read_text())["profiles"]["vault"]["expires_at"]
    time.sleep(max(0.0, expires - time.time()) + 1)  # past its expiry, here and at the server
    before, meta_before = stored_blob(world), world.metadata_file.read_bytes()
    for profile in ("team", "vault"):
        done = world.cclogin("token", "--profile", profile)
        assert done.rc == 5, done
        assert done.stdout == ""
        assert "expired" in done.stderr
        assert "log in to Vault again" in done.stderr
        assert "cclogin vault login --profile vault" in done.stderr
        assert token not in done.output
    assert stored_blob(world) == before  # nothing blanked, nothing renewed
    assert world.metadata_file.read_bytes() == meta_before


def test_revoked_token_asks_for_a_vault_login_and_changes_nothing(world: World,
                                                                  bao_kv: BaoKv) -> None:
    server = bao_kv.server
    token = team_setup(world, bao_kv)
    server.bao("token", "revoke", "-self", token=token)
    assert lookup(server, token) is None
    before, meta_before = stored_blob(world), world.metadata_file.read_bytes()
    done = world.cclogin("token", "--profile", "team")
    assert done.rc == 5, done
    assert done.stdout == ""
    assert "no longer accepts your Vault token" in done.stderr
    assert "log in to Vault again" in done.stderr
    assert token not in done.output
    assert stored_blob(world) == before
    assert world.metadata_file.read_bytes() == meta_before


def test_revoked_token_due_for_renewal(world: World, bao_kv: BaoKv) -> None:
    """The renewal's refusal says the same, with the command that logs in again."""
    server = bao_kv.server
    token = team_setup(world, bao_kv)
    about_to_expire(world, server, token, 40)
    server.bao("token", "revoke", "-self", token=token)
    before, meta_before = stored_blob(world), world.metadata_file.read_bytes()
    done = world.cclogin("token", "--profile", "team")
    assert done.rc == 5, done
    assert "no longer accepts your Vault token" in done.stderr
    assert "cclogin vault login --profile vault" in done.stderr
    assert stored_blob(world) == before
    assert world.metadata_file.read_bytes() == meta_before
