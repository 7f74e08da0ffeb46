"""`cclogin migrate`: move plaintext credential files into the keychain, crash-safe."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import EXIT_FAILURE, CcloginError
from .app import app_context
from .output import note


@click.command("migrate")
@click.option("--dry-run", is_flag=True, help="Show what would move where; change nothing.")
@click.option(
    "--keep-backup",
    is_flag=True,
    help="Keep a 0600 copy of each migrated file in cclogin's backup folder.",
)
@click.option(
    "--from",
    "from_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Also migrate this file (JSON or .env with ANTHROPIC_API_KEY=...). Repeatable.",
)
@click.option(
    "--leave-reference",
    is_flag=True,
    help="In a .env file, put cclogin://PROFILE where the key was (for `cclogin run "
    "--env-file`) instead of a comment.",
)
@click.option("--undo", is_flag=True, help="Write migrated files back as they were.")
@click.option("-p", "--profile", metavar="NAME", help="With --undo: only this profile.")
@click.option(
    "--force", is_flag=True, help="Replace a profile (or apiKeyHelper) holding something else."
)
@click.option(
    "--even-if-claude-running",
    is_flag=True,
    help="Migrate even while a Claude Code session uses these files (it is logged out).",
)
@click.option(
    "--set-api-key-helper/--no-set-api-key-helper",
    default=None,
    help="Point Claude Code's apiKeyHelper at `cclogin token` for a migrated API key (asked on a terminal).",
)
def command(
    dry_run: bool,
    keep_backup: bool,
    from_paths: tuple[Path, ...],
    leave_reference: bool,
    undo: bool,
    profile: str | None,
    force: bool,
    even_if_claude_running: bool,
    set_api_key_helper: bool | None,
) -> int:
    """Move plaintext credentials (Claude Code's files, .env lines) into the keychain."""
    ctx = app_context()
    if undo:
        from ..migrate.undo import undo as run_undo

        for line in run_undo(ctx, profile, force):
            note(f"cclogin: {line}")
        return 0
    from ..migrate.engine import Options, migrate

    def confirm(question: str) -> bool:
        return click.confirm(question, default=False, err=True)

    opts = Options(list(from_paths), dry_run, keep_backup, force)
    opts.even_if_claude_running = even_if_claude_running
    opts.leave_reference = leave_reference
    opts.confirm = confirm if ctx.interactive else None
    opts.progress = lambda line: note(f"cclogin: {line}")  # each file's outcome as it happens
    report = migrate(ctx, opts)
    if dry_run:
        if report.found_any:
            note("cclogin: dry run: nothing was changed")
        return EXIT_FAILURE if report.failures else 0
    if report.found_any:
        note(f"cclogin: {report.summary()}")
    helper_ok = _after(ctx, report, set_api_key_helper, force)
    return EXIT_FAILURE if report.failures or not helper_ok else 0


def _after(ctx: object, report: object, set_helper: bool | None, force: bool) -> bool:
    """Tell the user how Claude Code finds each migrated credential now.

    Sets apiKeyHelper only where it overrides no Claude login and can work without a
    terminal (migrate/helper.py); False when an explicit --set-api-key-helper was refused.
    """
    from ..accounts.context import AppContext
    from ..migrate.engine import Report
    from ..migrate.helper import helper_command, refusal, set_api_key_helper

    assert isinstance(ctx, AppContext) and isinstance(report, Report)  # noqa: S101
    api_keys = [p for p in report.migrated if p.kind == "api_key" and p.name == "claude-api-key"]
    others = [p for p in report.migrated if p not in api_keys]
    if set_helper and not api_keys:  # a rerun: the key was migrated by an earlier run
        from ..accounts.profiles import read_metadata

        earlier = read_metadata(ctx.paths).profiles.get("claude-api-key")
        if earlier is not None and earlier.kind == "api_key" and earlier.source:
            api_keys.append(earlier)
    ok = True
    for p in api_keys:
        refused = refusal(ctx, p.name) if set_helper is not False else None
        wanted = set_helper
        if refused is None and wanted is None and ctx.interactive:
            wanted = click.confirm(
                f"Set Claude Code's apiKeyHelper to `{helper_command(p.name, ctx.environ)}`?",
                default=False,
                err=True,
            )
        if wanted and refused is not None:
            note(f"cclogin: error: {refused.message}")
            note(f"cclogin: hint: {refused.hint}")
            ok = False
        elif wanted:
            try:
                note(f"cclogin: {set_api_key_helper(ctx, p.name, force)}")
            except CcloginError as exc:
                note(f"cclogin: error: {exc.message}")
                note(f"cclogin: hint: {exc.hint}")
                ok = False
        elif refused is not None:
            note(
                f"cclogin: Claude Code no longer finds this key in its files; run it with "
                f"`cclogin exec --profile {p.name} -- claude` (--set-api-key-helper is not "
                f"offered: {refused.message.removeprefix('apiKeyHelper not set: ')})"
            )
        else:
            note(
                f"cclogin: Claude Code no longer finds this key in its files; run it with "
                f"`cclogin exec --profile {p.name} -- claude`, or rerun with --set-api-key-helper"
            )
    for p in others:
        note(
            f"cclogin: to use profile {p.name!r} with Claude Code: `cclogin exec --profile {p.name} -- claude`"
        )
        if p.kind == "claude_login":
            _subscription_notice(ctx, p)
    return ok


LONG_LIVED_PROFILE = "claude-token"


def _subscription_notice(ctx: object, p: object) -> None:
    """A migrated subscription login lives hours: say when it ends, and offer the way out."""
    from ..accounts.context import AppContext
    from ..accounts.status import time_left
    from ..model import Profile
    from .status_cmd import when

    assert isinstance(ctx, AppContext) and isinstance(p, Profile)  # noqa: S101
    if p.expires_at is None:
        note(
            f"cclogin: the Claude login in {p.name!r} carries no expiry; Claude Code's access "
            "tokens usually last about 8 hours"
        )
    else:
        note(
            f"cclogin: the Claude login in {p.name!r} expires in {time_left(p.expires_at)} "
            f"({when(p.expires_at)}); only Claude Code may refresh it, so after that "
            "`cclogin exec` exits 5 and asks for a new login"
        )
    note(
        "cclogin: `cclogin login --claude` runs Claude Code's own sign-in and stores a "
        "token that lasts a year: the login to keep in the keychain"
    )
    if not ctx.interactive:
        return
    if click.confirm(
        f"Run `cclogin login --claude --profile {LONG_LIVED_PROFILE}` now?", default=False, err=True
    ):
        from ..accounts.oauth_login import login_with_claude

        try:
            made = login_with_claude(
                ctx, LONG_LIVED_PROFILE, force=False, switch=True, confirm_replace=None
            )
        except CcloginError as exc:
            note(f"cclogin: error: {exc.message}")
            note(f"cclogin: hint: {exc.hint}")
            return
        note(f"cclogin: logged in: profile {made.name!r} is active")
