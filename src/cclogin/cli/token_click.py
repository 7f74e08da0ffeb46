"""`cclogin token` through click (for `-v`, `--help` and unusual spellings)."""

from __future__ import annotations

import click

from .app import PROFILE_HELP, app_context


@click.command("token")
@click.option("-p", "--profile", metavar="NAME", help=PROFILE_HELP)
def command(profile: str | None) -> int:
    """Print the credential alone on stdout (for scripts and Claude Code's apiKeyHelper)."""
    import sys

    from ..accounts.token import resolve_secret

    resolved = resolve_secret(app_context(), profile)
    sys.stdout.write(resolved.secret.reveal() + "\n")
    sys.stdout.flush()
    return 0
