"""A team of two shares one API key through OpenBao (issue 11, "Done when").

An admin (a token whose policy may write `team/*`) and a teammate (a token that may
only read it), each with a CCLOGIN_HOME of their own and their own local store, both
through the real `cclogin` executable and the real Claude Code against a stub of the
Messages API that records the key it was sent. Every Vault token reaches cclogin on
stdin; the fixtures' root token is only used by the bao CLI to make the two tokens.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.bao_tokens import child_token, read_policy, write_policy
from support.claude_code import ClaudeCode
from support.cli import BACKENDS, CCLOGIN, Result, World, open_world
from support.messages_stub import MessagesStub
from support.openbao import BaoKv, BaoServer, start_dev_server

# Fake keys, shaped like nothing real.
FIRST_KEY = "sk-ant-api03-FAKE-team-first-0001"
ROTATED_KEY = "sk-ant-api03-FAKE-team-rotated-0002"
TEAM_PATH = "team/anthropic"


def write_config(world: World, mount: str) -> None:
    """[vault] mount in the world's config.toml: the commands stay the README's."""
    config = world.home / "config"
    config.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = config / "config.toml"
    path.write_text(f'[vault]\nmount = "{mount}"\n')
    path.chmod(0o600)


@dataclass
class Team:
    server: BaoServer
    mount: str
    admin: World
    mate: World
    admin_token: str
    mate_token: str

    def shared_key(self) -> str | None:
        """The key on the server, read with the bao CLI (root), not with cclogin."""
        out = self.server.bao("kv", "get", f"-mount={self.mount}", "-field=api_key", TEAM_PATH,
                              check=False)
        return out.stdout.strip() if out.returncode == 0 else None


def put(world: World, key: str) -> Result:
    return world.cclogin("team", "put", TEAM_PATH, input=key + "\n")


def link(world: World, token: str, address: str) -> None:
    """A teammate's two commands: a Vault login, then the team profile."""
    login = world.cclogin("vault", "login", "--with-token", "--vault-addr", address,
                          input=token + "\n")
    assert login.rc == 0, login
    assert token not in login.output
    team = world.cclogin("login", "--profile", "team", "--vault", TEAM_PATH)
    assert team.rc == 0, team


def claude_via_team(cc: ClaudeCode, world: World, stub: MessagesStub) -> subprocess.CompletedProcess[str]:
    """`cclogin exec --profile team -- claude -p "say hi"` against the stub."""
    stub.reset()
    return cc.run(world.environ(), stub, prefix=[CCLOGIN, "exec", "--profile", "team", "--"])


@pytest.fixture(params=BACKENDS)
def team(request: pytest.FixtureRequest, bao_kv: BaoKv, tmp_path: Path) -> Iterator[Team]:
    server, mount = bao_kv.server, bao_kv.mount
    admin_token = child_token(server, "team-admin", write_policy(mount, "team/*"))
    mate_token = child_token(server, "team-reader", read_policy(mount, "team/*"))
    (tmp_path / "admin").mkdir()
    (tmp_path / "mate").mkdir()
    with open_world(request.param, tmp_path / "admin") as admin, \
            open_world(request.param, tmp_path / "mate") as mate:
        for world in (admin, mate):
            write_config(world, mount)
        # The admin names the server by VAULT_ADDR, the teammate by --vault-addr.
        admin.env["VAULT_ADDR"] = server.address
        yield Team(server, mount, admin, mate, admin_token, mate_token)


def test_a_team_of_two_shares_one_key_and_a_rotation_reaches_the_teammate(
    team: Team, claude_code: ClaudeCode, messages_stub: MessagesStub
) -> None:
    admin, mate = team.admin, team.mate
    # The admin: a Vault login, then the key (stdin) to the shared path.
    login = admin.cclogin("vault", "login", "--with-token", input=team.admin_token + "\n")
    assert login.rc == 0, login
    stored = put(admin, FIRST_KEY)
    assert stored.rc == 0, stored
    assert "version 1" in stored.stderr and FIRST_KEY not in stored.output
    assert team.shared_key() == FIRST_KEY

    # The teammate: a Vault login with the read-only token, then the team profile.
    link(mate, team.mate_token, team.server.address)
    got = mate.cclogin("token", "--profile", "team")
    assert (got.rc, got.stdout) == (0, FIRST_KEY + "\n"), got
    status = mate.cclogin("status", "--json")
    assert status.rc == 0, status
    assert FIRST_KEY not in status.output
    local = "keychain" if mate.backend == "secret-service" else "encrypted-file"
    assert {p["name"]: p["storage_class"] for p in json.loads(status.stdout)["profiles"]} \
        == {"team": "secret-server", "vault": local}

    # Both use it with the real Claude Code: the stub sees the shared key.
    assert admin.cclogin("login", "--profile", "team", "--vault", TEAM_PATH).rc == 0
    for world in (mate, admin):
        done = claude_via_team(claude_code, world, messages_stub)
        assert done.returncode == 0, done.stderr
        assert {r.api_key for r in messages_stub.messages()} == {FIRST_KEY}

    # The admin rotates; the teammate's next call gets the new key, doing nothing.
    rotated = put(admin, ROTATED_KEY)
    assert rotated.rc == 0 and "version 2" in rotated.stderr, rotated
    got = mate.cclogin("token", "--profile", "team")
    assert (got.rc, got.stdout) == (0, ROTATED_KEY + "\n"), got
    done = claude_via_team(claude_code, mate, messages_stub)
    assert done.returncode == 0, done.stderr
    assert {r.api_key for r in messages_stub.messages()} == {ROTATED_KEY}

    # The read-only teammate can neither rotate nor destroy it.
    denied = put(mate, "sk-ant-api03-FAKE-team-hijack-0003")
    assert denied.rc == 7, denied
    assert "permission denied" in denied.stderr
    assert "hint: your Vault token is valid but its policy does not allow this" in denied.stderr
    removed = mate.cclogin("team", "rm", TEAM_PATH, "--yes")
    assert removed.rc == 7 and "permission denied" in removed.stderr, removed
    assert team.shared_key() == ROTATED_KEY

    # The shared key is in no local store and no file of the teammate's (no cache:
    # every call reads the server); their Vault token only in their store, encrypted.
    for secret in (FIRST_KEY, ROTATED_KEY, team.admin_token):
        assert mate.traces(secret) == [], secret
    in_store = ("encrypted record", "keyring item")
    assert [hit for hit in mate.traces(team.mate_token) if not hit.startswith(in_store)] == []

    # The teammate logs out: link and Vault login go (and the token is revoked), the
    # shared secret stays for everyone else.
    out = mate.cclogin("logout", "--profile", "team")
    assert out.rc == 0, out
    assert "(the secret stays)" in out.output
    assert mate.cclogin("status").rc == 3
    assert mate.traces(team.mate_token) == []
    lookup = team.server.bao("token", "lookup", token=team.mate_token, check=False)
    assert lookup.returncode != 0, "the teammate's Vault token still works after logout"
    assert team.shared_key() == ROTATED_KEY
    got = admin.cclogin("token", "--profile", "team")
    assert (got.rc, got.stdout) == (0, ROTATED_KEY + "\n"), got

    # Linked again (a new read-only token), the admin destroys the key: the teammate
    # hears that the shared secret is gone, clearly, and Claude Code is never started.
    mate_again = child_token(team.server, "team-reader", read_policy(team.mount, "team/*"))
    link(mate, mate_again, team.server.address)
    destroyed = admin.cclogin("team", "rm", TEAM_PATH, "--yes")
    assert destroyed.rc == 0, destroyed
    assert team.shared_key() is None
    gone = mate.cclogin("token", "--profile", "team")
    assert gone.rc == 3, gone
    assert gone.stdout == ""
    assert "there is no shared secret at" in gone.stderr and TEAM_PATH in gone.stderr
    assert f"cclogin team put {TEAM_PATH}" in gone.stderr
    done = claude_via_team(claude_code, mate, messages_stub)
    assert done.returncode == 3, done.stderr
    assert "there is no shared secret at" in done.stderr
    assert messages_stub.requests == []
    relink = mate.cclogin("login", "--profile", "team2", "--vault", TEAM_PATH)
    assert relink.rc == 3 and "there is no shared secret at" in relink.stderr, relink


# --- the server away: no plaintext cache, a clear exit code ---------------------------


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[BaoServer]:
    server = start_dev_server(tmp_path / "private-bao")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def teammate(tmp_path: Path, private_server: BaoServer) -> Iterator[World]:
    """A teammate linked to a key on a dev server of this test's own."""
    admin_token = child_token(private_server, "team-admin", write_policy("secret", "team/*"))
    mate_token = child_token(private_server, "team-reader", read_policy("secret", "team/*"))
    (tmp_path / "admin").mkdir()
    (tmp_path / "mate").mkdir()
    with open_world("encrypted-file", tmp_path / "admin") as admin, \
            open_world("encrypted-file", tmp_path / "mate") as mate:
        admin.env["VAULT_ADDR"] = private_server.address
        assert admin.cclogin("vault", "login", "--with-token", input=admin_token + "\n").rc == 0
        assert put(admin, FIRST_KEY).rc == 0
        link(mate, mate_token, private_server.address)
        assert mate.cclogin("token", "--profile", "team").stdout == FIRST_KEY + "\n"
        mate.env["VAULT_CLIENT_TIMEOUT"] = "3"
        yield mate


def test_a_sealed_server_gives_exit_4_and_no_cached_key(
    teammate: World, private_server: BaoServer
) -> None:
    private_server.bao("operator", "seal")
    for args in (("token", "--profile", "team"),
                 ("exec", "--profile", "team", "--", "sh", "-c", "echo reached")):
        out = teammate.cclogin(*args)
        assert out.rc == 4, out
        assert out.stdout == ""
        assert "sealed" in out.stderr and "bao operator unseal" in out.stderr
    assert teammate.traces(FIRST_KEY) == []


def test_a_server_that_is_gone_gives_exit_6_and_no_cached_key(
    teammate: World, private_server: BaoServer
) -> None:
    private_server.stop()
    for args in (("token", "--profile", "team"),
                 ("exec", "--profile", "team", "--", "sh", "-c", "echo reached")):
        out = teammate.cclogin(*args)
        assert out.rc == 6, out
        assert out.stdout == ""
        assert f"cannot connect to the secret server at {private_server.address}" in out.stderr
    assert teammate.traces(FIRST_KEY) == []
