"""`cclogin token` through click (for `-v`, `--help` and unusual spellings)."""

from __future__ import annotations

import click

from .app import PROFILE_HELP, app_context


@click.command("token")
@click.option("-p", "--profile", metavar="NAME", help=PROFILE_HELP)
@click.option(
    "--valid-for",
    type=click.IntRange(0, 86400),
    default=None,
    metavar="SECONDS",
    help="Refresh a provider token first if it would expire within SECONDS "
    "(Claude Code caches its apiKeyHelper's answer for 5 minutes).",
)
def command(profile: str | None, valid_for: int | None) -> int:
    """Print the credential alone on stdout (for scripts and Claude Code's apiKeyHelper)."""
    import sys

    from ..accounts.token import REFRESH_MARGIN, resolve_secret

    margin = REFRESH_MARGIN if valid_for is None else float(valid_for)
    resolved = resolve_secret(app_context(), profile, margin)
    sys.stdout.write(resolved.secret.reveal() + "\n")
    sys.stdout.flush()
    return 0
