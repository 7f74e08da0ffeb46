"""`cclogin scan`: find plaintext Anthropic credentials, print where (never what)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import EXIT_PLAINTEXT_FOUND
from ..scan import DEFAULT_MAX_SIZE, ScanOptions, scan
from ..scan.report import exit_code, fix_hint, render, to_json
from .app import app_context
from .output import answer, answer_json, is_verbose, note


@click.command("scan")
@click.argument(
    "paths", nargs=-1, type=click.Path(exists=True, path_type=Path), metavar="[PATH]..."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (docs/scan.md).")
@click.option(
    "--no-home",
    is_flag=True,
    help="Scan only the PATHs, not the home's known places (Claude Code's files, shell rc "
    "files and histories, ~/.config).",
)
@click.option(
    "--max-size",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_SIZE,
    show_default=True,
    metavar="BYTES",
    help="Skip (and report) files larger than this.",
)
@click.option(
    "--no-store-check", is_flag=True, help="Do not read the store to tell which keys it holds."
)
@click.option("--no-git", is_flag=True, help="Do not ask git whether files are committed.")
@click.option(
    "--fix",
    is_flag=True,
    help="Move each credential found into the store, then scrub it from its file "
    "(crash-safe; `--undo` puts the files back).",
)
@click.option("--dry-run", is_flag=True, help="With --fix: only say what would change.")
@click.option(
    "--undo", is_flag=True, help="Put back every file `--fix` changed, exactly as it was."
)
def command(
    paths: tuple[Path, ...],
    as_json: bool,
    no_home: bool,
    max_size: int,
    no_store_check: bool,
    no_git: bool,
    fix: bool,
    dry_run: bool,
    undo: bool,
) -> int:
    """Find plaintext Anthropic keys and tokens in the home and under PATHs (default:
    the home). Prints where each is, its kind and a fingerprint, never the secret.
    Exits 8 when something was found, 0 when nothing was. With --fix, moves them into
    the store and out of their files."""
    options = ScanOptions(
        roots=paths,
        home_places=not no_home,
        max_size=max_size,
        check_store=not no_store_check,
        check_git=not no_git,
    )
    if fix or undo or dry_run:
        return _fix_or_undo(options, fix, dry_run, undo, as_json)
    result = scan(app_context(), options)
    if as_json:
        answer_json(to_json(result))
    else:
        answer(render(result, verbose=is_verbose()))
    hint = fix_hint(result)
    if hint:
        note(f"cclogin: fix: {hint}")
    return exit_code(result)


def _fix_or_undo(options: ScanOptions, fix: bool, dry_run: bool, undo: bool, as_json: bool) -> int:
    import dataclasses
    import os

    from ..errors import EXIT_FAILURE, UsageError
    from ..scan.fix import FixOptions
    from ..scan.fix import fix as run_fix

    if as_json:
        raise UsageError("--json goes with a plain scan, not with --fix or --undo")
    if dry_run and not fix:
        raise UsageError("--dry-run goes with --fix", "run `cclogin scan --fix --dry-run`")
    if undo and (fix or options.roots):
        raise UsageError(
            "--undo takes no PATH and no --fix", "run `cclogin scan --undo` on its own"
        )

    def say(line: str) -> None:
        note(f"cclogin: {line}")

    ctx = app_context()
    if undo:
        from ..migrate.journal import migrate_lock
        from ..migrate.recover import recover_all
        from ..migrate.spanfix import undo_all
        from ..paths import user_home

        with migrate_lock(ctx.paths):
            for line in recover_all(ctx):
                say(line)
            home = Path(os.path.realpath(user_home(dict(ctx.environ))))
            failures = undo_all(ctx, say, home)
        return EXIT_FAILURE if failures else 0
    # The store is always checked: a key it already holds keeps its profile.
    report = run_fix(ctx, FixOptions(dataclasses.replace(options, check_store=True), dry_run), say)
    if dry_run:
        say("dry run: nothing was changed")
        return EXIT_PLAINTEXT_FOUND if report.findings else 0
    if report.findings:
        failed = (
            f"; {report.failures} file(s) left as they were, see above" if report.failures else ""
        )
        say(f"done: {report.files} file(s) fixed{failed}")
    return EXIT_FAILURE if report.failures else 0
