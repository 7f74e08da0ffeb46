"""Logging out of a Vault login revokes its token at the server first (revoke-self),
then wipes it here; `--no-revoke` skips the revocation; a server that cannot be reached
is reported like a provider's revocation that failed, and the wipe still happens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bao_auth import child_token, lookup, read_policy, vault_login
from support.cli import World, open_world
from support.openbao import BaoKv, BaoServer, start_dev_server

SHARED_KEY = "sk-ant-api03-team-shared-logout-0001"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("encrypted-file", tmp_path) as w:
        yield w


def test_logout_revokes_the_vault_token(world: World, bao_dev: BaoServer) -> None:
    tok = child_token(bao_dev)
    vault_login(world, bao_dev, tok.token)
    done = world.cclogin("-v", "logout", "--profile", "vault")
    assert done.rc == 0, done
    assert "revoked the tokens of 'vault'" in done.stderr
    assert lookup(bao_dev, tok.token) is None  # the server no longer knows it
    assert world.traces(tok.token) == []
    assert tok.token not in done.output


def test_logout_no_revoke_keeps_it_valid_at_the_server(world: World, bao_dev: BaoServer) -> None:
    tok = child_token(bao_dev)
    vault_login(world, bao_dev, tok.token)
    done = world.cclogin("logout", "--profile", "vault", "--no-revoke")
    assert done.rc == 0, done
    assert "revoked" not in done.stderr
    assert lookup(bao_dev, tok.token) is not None
    assert world.traces(tok.token) == []
    bao_dev.bao("token", "revoke", "-self", token=tok.token)


def test_logout_of_a_team_profile_revokes_its_vault_login(world: World, bao_kv: BaoKv) -> None:
    server = bao_kv.server
    server.bao("kv", "put", f"-mount={bao_kv.mount}", "team/anthropic", "api_key=-",
               input=SHARED_KEY)
    tok = child_token(server, read_policy(bao_kv.mount, "team/*"))
    vault_login(world, server, tok.token)
    assert world.cclogin("login", "--profile", "team", "--vault", "team/anthropic",
                         "--vault-mount", bao_kv.mount).rc == 0
    done = world.cclogin("logout", "--profile", "team")
    assert done.rc == 0, done
    assert "(the secret stays)" in done.stderr
    assert lookup(server, tok.token) is None
    assert world.traces(tok.token) == []
    # The shared secret is the team's: it stays.
    kept = server.bao("kv", "get", f"-mount={bao_kv.mount}", "-field=api_key", "team/anthropic")
    assert kept.stdout.strip() == SHARED_KEY


def test_logout_with_the_server_gone_still_wipes(world: World, tmp_path: Path) -> None:
    server = start_dev_server(tmp_path / "short-lived")
    try:
        tok = child_token(server)
        vault_login(world, server, tok.token)
    finally:
        server.stop()
    done = world.cclogin("logout", "--profile", "vault", extra={"VAULT_CLIENT_TIMEOUT": "3"})
    assert done.rc == 0, done
    assert "the tokens of 'vault' were not revoked" in done.stderr
    assert "unreachable" in done.stderr
    assert "the Vault token stays valid until" in done.stderr
    assert "they were wiped locally" in done.stderr
    assert world.traces(tok.token) == []
    assert tok.token not in done.output


def test_logout_of_a_token_the_server_no_longer_accepts(world: World, bao_dev: BaoServer) -> None:
    tok = child_token(bao_dev)
    vault_login(world, bao_dev, tok.token)
    bao_dev.bao("token", "revoke", "-self", token=tok.token)
    done = world.cclogin("logout", "--profile", "vault")
    assert done.rc == 0, done
    assert "not revoked" not in done.stderr  # nothing to warn about: it opens nothing
    assert world.traces(tok.token) == []
