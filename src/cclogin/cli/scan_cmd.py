"""`cclogin scan`: find plaintext Anthropic credentials, print where (never what)."""

from __future__ import annotations

from pathlib import Path

import click

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
def command(
    paths: tuple[Path, ...],
    as_json: bool,
    no_home: bool,
    max_size: int,
    no_store_check: bool,
    no_git: bool,
) -> int:
    """Find plaintext Anthropic keys and tokens in the home and under PATHs (default:
    the home). Prints where each is, its kind and a fingerprint, never the secret.
    Exits 8 when something was found, 0 when nothing was."""
    options = ScanOptions(
        roots=paths,
        home_places=not no_home,
        max_size=max_size,
        check_store=not no_store_check,
        check_git=not no_git,
    )
    result = scan(app_context(), options)
    if as_json:
        answer_json(to_json(result))
    else:
        answer(render(result, verbose=is_verbose()))
    hint = fix_hint(result)
    if hint:
        note(f"cclogin: fix: {hint}")
    return exit_code(result)
