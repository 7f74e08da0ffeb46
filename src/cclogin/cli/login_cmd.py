"""`cclogin login`: store an API key, a Claude Code token, or a provider login."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from ..accounts import login as login_uc
from ..errors import InvalidInput, UsageError
from ..model import Profile
from .app import app_context
from .output import note

MAX_STDIN = 64 * 1024


def _read_secret(what: str, interactive: bool) -> str:
    """From a hidden prompt on a terminal, else all of stdin. Never from argv."""
    if interactive and sys.stdin.isatty():
        return str(click.prompt(what, hide_input=True, err=True, default="", show_default=False))
    data = sys.stdin.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise InvalidInput(f"more than {MAX_STDIN} bytes on stdin; that is not one {what}")
    return data


def _confirm_replace(interactive: bool) -> Callable[[Profile], bool]:
    def ask(existing: Profile) -> bool:
        if not interactive:
            return False
        return click.confirm(
            f"profile {existing.name!r} exists ({existing.kind}); replace it?",
            default=False,
            err=True,
        )

    return ask


@click.command("login", context_settings={"ignore_unknown_options": True})
@click.option(
    "-p",
    "--profile",
    "name",
    metavar="NAME",
    default="default",
    show_default=True,
    help="Profile to store the credential in.",
)
@click.option(
    "--with-api-key", is_flag=True, help="Read an API key from stdin (or a hidden prompt)."
)
@click.option(
    "--with-oauth-token", is_flag=True, help="Read a `claude setup-token` token from stdin."
)
@click.option(
    "--claude", is_flag=True, help="Run Claude Code's own `claude setup-token` and store its token."
)
@click.option("--provider", metavar="NAME", help="An OAuth provider from the config file.")
@click.option("--issuer", metavar="URL", help="An OAuth/OpenID issuer to discover.")
@click.option("--client-id", metavar="ID", help="The OAuth client id (with --issuer).")
@click.option("--scope", metavar="SCOPES", help="Override the requested scopes.")
@click.option("--base-url", metavar="URL", help="API base URL to pass as ANTHROPIC_BASE_URL.")
@click.option("--device", is_flag=True, help="Use the device-code flow (RFC 8628).")
@click.option(
    "--paste", is_flag=True, help="Print the URL and paste the code back (browser elsewhere)."
)
@click.option(
    "--vault",
    "vault_path",
    metavar="PATH",
    help="A team profile: link to the shared key at PATH on Vault/OpenBao (KV v2).",
)
@click.option(
    "--vault-field", metavar="FIELD", default="api_key", show_default=True, help="With --vault."
)
@click.option("--vault-mount", metavar="MOUNT", help="With --vault: the KV v2 mount.")
@click.option(
    "--vault-login", metavar="PROFILE", help="With --vault: which Vault login reads it."
)
@click.option("--force", is_flag=True, help="Replace an existing profile without asking.")
@click.option("--no-switch", is_flag=True, help="Do not make this profile the active one.")
@click.argument("stray", nargs=-1, type=click.UNPROCESSED, metavar="")
def command(
    name: str,
    with_api_key: bool,
    with_oauth_token: bool,
    claude: bool,
    provider: str | None,
    issuer: str | None,
    client_id: str | None,
    scope: str | None,
    base_url: str | None,
    device: bool,
    paste: bool,
    vault_path: str | None,
    vault_field: str,
    vault_mount: str | None,
    vault_login: str | None,
    force: bool,
    no_switch: bool,
    stray: tuple[str, ...],
) -> int:
    """Log in and keep the credential in the keychain. Secrets are never read from argv."""
    if stray:
        # Never echo them: a stray argument here is most likely a pasted key.
        raise UsageError(
            f"login takes no arguments ({len(stray)} given); secrets are never accepted "
            "on the command line, where other users and shell history can see them",
            "pipe the key on stdin: `cclogin login --with-api-key < keyfile`",
        )
    ctx = app_context()
    modes = [with_api_key, with_oauth_token, claude, bool(provider or issuer), bool(vault_path)]
    if sum(modes) != 1:
        raise UsageError(
            "choose exactly one of --with-api-key, --with-oauth-token, "
            "--claude, --provider, --issuer or --vault"
        )
    switch = not no_switch
    confirm = _confirm_replace(ctx.interactive)
    if vault_path:
        from ..accounts.team import link

        profile = link(
            ctx,
            name,
            vault_path,
            field=vault_field,
            login_name=vault_login,
            mount=vault_mount,
            force=force,
            switch=switch,
            base_url=base_url,
        )
    elif with_api_key:
        profile = login_uc.login_api_key(
            ctx,
            name,
            _read_secret("API key", ctx.interactive),
            force=force,
            switch=switch,
            confirm_replace=confirm,
        )
    elif with_oauth_token:
        profile = login_uc.login_claude_token(
            ctx,
            name,
            _read_secret("Claude Code token", ctx.interactive),
            force=force,
            switch=switch,
            confirm_replace=confirm,
        )
    elif claude:
        from ..accounts.oauth_login import login_with_claude

        profile = login_with_claude(ctx, name, force=force, switch=switch, confirm_replace=confirm)
    else:
        from ..accounts.oauth_login import login_with_provider

        mode = "device" if device else "paste" if paste else "browser"
        profile = login_with_provider(
            ctx,
            name,
            provider=provider,
            issuer=issuer,
            client_id=client_id,
            scope=scope,
            base_url=base_url,
            mode=mode,
            force=force,
            switch=switch,
            confirm_replace=confirm,
        )
    note(
        f"cclogin: logged in as profile {profile.name!r} ({profile.kind}, stored in "
        f"{profile.backend}, {profile.storage_class})"
    )
    return 0
