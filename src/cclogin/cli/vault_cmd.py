"""`cclogin vault ...`: the user's own Vault / OpenBao login."""

from __future__ import annotations

import click

from ..accounts.vault_login import DEFAULT_LOGIN, save_token, settings_for
from ..errors import UsageError
from .app import app_context
from .login_cmd import _confirm_replace, _read_secret
from .output import note


@click.group("vault")
def command() -> None:
    """Log in to a team's HashiCorp Vault / OpenBao server (the token stays in the keychain)."""


@command.command("login")
@click.option(
    "-p", "--profile", "name", metavar="NAME", default=DEFAULT_LOGIN, show_default=True,
    help="Profile that keeps the Vault token.",
)
@click.option("--vault-addr", "address", metavar="URL[,URL...]", help="Server (default: BAO_ADDR / VAULT_ADDR, then config).")
@click.option("--namespace", metavar="NS", help="Vault namespace (default: VAULT_NAMESPACE).")
@click.option("--with-token", is_flag=True, help="Read an existing Vault token from stdin (or a hidden prompt).")
@click.option("--force", is_flag=True, help="Replace an existing profile without asking.")
def login(name: str, address: str | None, namespace: str | None, with_token: bool, force: bool) -> int:
    """Store a Vault token for the team server, checked with the server first."""
    ctx = app_context()
    if not with_token:
        raise UsageError("choose how to log in: --with-token (token on stdin)")
    from ..accounts.login import clean_secret

    settings = settings_for(ctx, address=address, namespace=namespace)
    token = clean_secret(_read_secret("Vault token", ctx.interactive), "Vault token", "--with-token")
    profile = save_token(
        ctx, name, settings, token, method="token", force=force,
        confirm_replace=_confirm_replace(ctx.interactive),
    )
    note(
        f"cclogin: logged in to {settings.address} as profile {profile.name!r} "
        f"(token stored in {profile.backend}; no ~/.vault-token)"
    )
    return 0
