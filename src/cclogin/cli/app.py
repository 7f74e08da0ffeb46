"""The click group: global options, command registration and error handling."""

from __future__ import annotations

import re

import click

from .. import __version__
from ..accounts.context import AppContext
from .output import debug, note, report_error, set_verbose

PROFILE_HELP = (
    "profile to use for this command only (default: CCLOGIN_PROFILE, then the active one)"
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Explain what happens (never prints secrets); tracebacks on errors.",
)
@click.option(
    "--backend",
    metavar="NAME",
    help="Store to use: secret-service, kwallet, macos-keychain, windows-credential-manager, keychain (any OS keychain) or encrypted-file.",
)
@click.version_option(__version__, prog_name="cclogin")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, backend: str | None) -> None:
    """Keep Claude Code and other CLI credentials in the OS keychain, not plaintext files."""
    set_verbose(verbose)
    app = AppContext.from_environment(backend_flag=backend)
    app.notify = note
    if verbose:
        app.debug = debug
    ctx.obj = app
    from ..migrate import settle_leftovers  # a killed `migrate` is finished or undone first

    settle_leftovers(app)
    from ..accounts.policy_gate import check_command  # the admin policy (docs/policy.md)

    check_command(app, ctx.invoked_subcommand)


def register() -> None:
    from . import (
        backends_cmd,
        doctor_cmd,
        exec_cmd,
        lock_cmd,
        login_cmd,
        logout_cmd,
        migrate_cmd,
        passphrase_cmd,
        report_cmd,
        run_cmd,
        scan_cmd,
        status_cmd,
        switch_cmd,
        team_cmd,
        token_click,
        unlock_cmd,
        vault_cmd,
    )

    for module in (
        login_cmd,
        logout_cmd,
        switch_cmd,
        status_cmd,
        token_click,
        exec_cmd,
        run_cmd,
        doctor_cmd,
        backends_cmd,
        passphrase_cmd,
        unlock_cmd,
        lock_cmd,
        migrate_cmd,
        scan_cmd,
        report_cmd,
        vault_cmd,
        team_cmd,
    ):
        cli.add_command(module.command)


def hoist_verbose(args: list[str]) -> list[str]:
    """`cclogin status -v` means `cclogin -v status`, as people type it.

    Not for `exec` or `run`, whose arguments after the command belong to the command, and
    never past `--`.
    """
    commands = [a for a in args if not a.startswith("-")]
    if commands[:1] in (["exec"], ["run"]):
        return args
    front: list[str] = []
    rest: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            rest.extend(args[i:])
            break
        (front if arg in ("-v", "--verbose") else rest).append(arg)
    return front + rest


# A key pasted where an argument goes must not be echoed back by click's messages
# ("Got unexpected extra argument (sk-ant-...)"): keys, and anything token-shaped.
_SECRET_SHAPED = re.compile(r"sk-ant-[A-Za-z0-9_-]*|[A-Za-z0-9_\-.~+/=]{32,}")


def hide_secrets(message: str) -> str:
    return _SECRET_SHAPED.sub("(hidden)", message)


def run_app(args: list[str]) -> int:
    register()
    if not args:
        args = ["--help"]  # like gh and git: a bare command shows what it can do
    try:
        result = cli.main(args=hoist_verbose(args), prog_name="cclogin", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        note(f"cclogin: error: {hide_secrets(exc.format_message())}")
        note(f"cclogin: hint: see `{ctx.command_path if ctx else 'cclogin'} --help`")
        return exc.exit_code
    except click.exceptions.Abort:
        note("cclogin: error: aborted")
        return 1
    except KeyboardInterrupt:
        note("cclogin: error: interrupted")
        return 130
    except Exception as exc:
        return report_error(exc)
    return result if isinstance(result, int) else 0


def app_context() -> AppContext:
    obj = click.get_current_context().find_object(AppContext)
    if obj is None:  # pragma: no cover - the group callback always sets it
        raise RuntimeError("no application context")
    return obj
