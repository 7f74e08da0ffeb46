"""`cclogin team put|rm PATH`: an admin keeps the team's shared key on Vault / OpenBao."""

from __future__ import annotations

import click

from ..accounts import team
from .app import app_context
from .login_cmd import _read_secret
from .output import note

_LOGIN_HELP = "Vault login to use (default: `vault`, or the only one)."


@click.group("team")
def command() -> None:
    """Put, rotate or remove a team's shared secret (needs write rights on the server)."""


@command.command("put")
@click.argument("path")
@click.option("--field", default=team.DEFAULT_FIELD, show_default=True, help="Field of the KV secret.")
@click.option("--mount", metavar="MOUNT", help="KV v2 mount (default: secret, or [vault] mount).")
@click.option("--vault-login", metavar="PROFILE", help=_LOGIN_HELP)
def put(path: str, field: str, mount: str | None, vault_login: str | None) -> int:
    """Put or rotate the shared key at PATH; the key from stdin or a hidden prompt."""
    ctx = app_context()
    from ..accounts.login import clean_secret

    value = clean_secret(_read_secret("shared API key", ctx.interactive), "shared API key", "put")
    version = team.put(ctx, path, value, field=field, login_name=vault_login, mount=mount)
    note(
        f"cclogin: stored the shared key at {path} (field {field}, version {version}); "
        "teammates' profiles read it at their next call"
    )
    return 0


@command.command("rm")
@click.argument("path")
@click.option("--mount", metavar="MOUNT", help="KV v2 mount.")
@click.option("--vault-login", metavar="PROFILE", help=_LOGIN_HELP)
@click.option("--yes", is_flag=True, help="Do not ask: every teammate loses this key.")
def rm(path: str, mount: str | None, vault_login: str | None, yes: bool) -> int:
    """Destroy the shared secret at PATH: every version and its history."""
    ctx = app_context()
    if not yes:
        if not ctx.interactive:
            from ..errors import UsageError

            raise UsageError(
                f"`team rm {path}` destroys the key for every teammate; pass --yes to confirm"
            )
        click.confirm(f"destroy {path} for every teammate?", abort=True, err=True)
    existed = team.remove(ctx, path, login_name=vault_login, mount=mount)
    note(f"cclogin: {'destroyed' if existed else 'nothing was at'} {path}")
    return 0
