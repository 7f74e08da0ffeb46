"""`cclogin status`: profiles, the active one, and an exit code that means one thing."""

from __future__ import annotations

import datetime as dt

import click

from ..accounts.status import StatusReport, status, time_left
from .app import PROFILE_HELP, app_context
from .output import answer, answer_json


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _render(report: StatusReport) -> str:
    lines = [report.summary]
    if report.problem:
        lines.append(f"  fix: {report.problem}")
    if report.profiles:
        lines.append("")
        lines.append(
            f"  {'PROFILE':<16} {'KIND':<13} {'BACKEND':<27} {'STORAGE':<15} "
            f"{'ACCOUNT':<24} EXPIRES"
        )
        for row in report.profiles:
            mark = "*" if row["active"] else " "
            flag = (
                " (needs login)" if row["needs_login"] else (" (expired)" if row["expired"] else "")
            )
            if not flag and row["kind"] == "claude_login" and row["expires_at"] is not None:
                # cclogin never refreshes these: say how long Claude Code has left.
                flag = f" ({time_left(row['expires_at'])} left)"
            lines.append(
                f"{mark} {row['name']:<16} {row['kind']:<13} {row['backend']:<27} "
                f"{row['storage_class']:<15} {row['account'] or '-':<24} "
                f"{when(row['expires_at'])}{flag}"
            )
    return "\n".join(lines)


@click.command("status")
@click.option("-p", "--profile", metavar="NAME", help=PROFILE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(profile: str | None, as_json: bool) -> int:
    """Show profiles and whether cclogin can hand out a credential (exit 0) or not."""
    report = status(app_context(), profile)
    if as_json:
        answer_json(report.to_json())
    else:
        answer(_render(report))
    return report.exit_code
