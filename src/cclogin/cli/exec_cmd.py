"""`cclogin exec -- CMD ...`: run CMD with the credential in its environment only."""

from __future__ import annotations

from pathlib import Path

import click

from ..accounts.execute import prepare, run
from .app import PROFILE_HELP, app_context
from .run_cmd import ENV_FILE_HELP


@click.command(
    "exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("-p", "--profile", metavar="NAME", help=PROFILE_HELP)
@click.option(
    "--env",
    "env_name",
    metavar="NAME",
    help="Put the secret in this variable instead of the one that fits its kind.",
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help=ENV_FILE_HELP + " exec's own credential is then set as without it.",
)
@click.argument(
    "command_line", nargs=-1, type=click.UNPROCESSED, required=True, metavar="-- CMD [ARGS]..."
)
def command(
    profile: str | None,
    env_name: str | None,
    env_files: tuple[Path, ...],
    command_line: tuple[str, ...],
) -> int:
    """Run CMD with the profile's credential, in its environment only.

    Claude Code (`claude`) gets it the way it handles best: an API key or gateway token
    through an apiKeyHelper for that run, a Claude token as CLAUDE_CODE_OAUTH_TOKEN.
    Any other CMD gets ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_AUTH_TOKEN.
    """
    ctx = app_context()
    argv, env = prepare(ctx, profile, env_name, command_line, env_files)
    return run(argv, env)
