"""Policies and child tokens on the OpenBao test servers, made with the real bao CLI.

The fixtures' root tokens are never handed to cclogin nor revoked: each test makes the
tokens it needs (an admin who may write a team path, a teammate who may only read it),
and passes them to cclogin on stdin.

    admin = child_token(bao_kv.server, "team-admin", write_policy(mount, "team/*"))
"""

from __future__ import annotations

import json
import secrets
import subprocess
from typing import Protocol


class _Bao(Protocol):
    def bao(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]: ...


def write_policy(mount: str, pattern: str) -> str:
    """Put, rotate, read and destroy secrets matching `pattern` on a KV v2 mount."""
    return (
        f'path "{mount}/data/{pattern}" {{ capabilities = ["create", "read", "update"] }}\n'
        f'path "{mount}/metadata/{pattern}" {{ capabilities = ["read", "list", "delete"] }}\n'
        f'path "{mount}/metadata/" {{ capabilities = ["list"] }}\n'
    )


def read_policy(mount: str, pattern: str) -> str:
    """Read only: the data of secrets matching `pattern`, nothing else on the mount."""
    return f'path "{mount}/data/{pattern}" {{ capabilities = ["read"] }}\n'


def store_policy(mount: str, prefix: str) -> str:
    """What `--backend vault` needs under its prefix: read, write, list, destroy."""
    return (
        f'path "{mount}/data/{prefix}/*" {{ capabilities = ["create", "read", "update"] }}\n'
        f'path "{mount}/metadata/{prefix}/*" {{ capabilities = ["read", "list", "delete"] }}\n'
        f'path "{mount}/metadata/{prefix}" {{ capabilities = ["read", "list"] }}\n'
        f'path "{mount}/metadata/{prefix}/" {{ capabilities = ["list"] }}\n'
    )


def child_token(server: _Bao, name: str, policy: str, *, ttl: str = "2h") -> str:
    """A new policy (named `name` plus a random suffix) and a token holding only it
    (and `default`: lookup-self, renew-self, revoke-self)."""
    policy_name = f"{name}-{secrets.token_hex(4)}"
    server.bao("policy", "write", policy_name, "-", input=policy)
    out = server.bao("token", "create", f"-policy={policy_name}", f"-ttl={ttl}", "-format=json")
    token: str = json.loads(out.stdout)["auth"]["client_token"]
    return token
