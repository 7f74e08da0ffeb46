"""`cclogin run [--env-file FILE ...] -- CMD ...`: CMD with its references resolved."""

from __future__ import annotations

from pathlib import Path

import click

from ..accounts.envrefs import run_environment
from ..accounts.execute import run
from .app import app_context

ENV_FILE_HELP = (
    "Load NAME=VALUE lines from FILE (repeatable; a later file wins, files win over "
    "the environment); values that are exactly cclogin://PROFILE are resolved."
)


@click.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help=ENV_FILE_HELP,
)
@click.argument(
    "command_line", nargs=-1, type=click.UNPROCESSED, required=True, metavar="-- CMD [ARGS]..."
)
def command(env_files: tuple[Path, ...], command_line: tuple[str, ...]) -> int:
    """Run CMD with every cclogin://PROFILE reference resolved, in its environment only.

    References are values that are exactly cclogin://PROFILE, in the env files and in
    the environment cclogin was started with; each becomes the secret that `cclogin
    token --profile PROFILE` prints. One that cannot be resolved runs nothing.
    """
    ctx = app_context()
    return run(list(command_line), run_environment(ctx, env_files, command_line))
