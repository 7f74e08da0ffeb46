"""`cclogin status`: profiles, the active one, and an exit code that means one thing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from ..accounts.status import StatusReport, status, time_left
from ..accounts.unlock import describe_state
from .app import PROFILE_HELP, app_context
from .output import answer, answer_json, note


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


ACCOUNT_WIDTH = 40  # longer labels (some gateways use URLs) are cut with an ellipsis


def _cells(row: dict[str, Any]) -> list[str]:
    flag = " (needs login)" if row["needs_login"] else (" (expired)" if row["expired"] else "")
    if not flag and row["kind"] == "claude_login" and row["expires_at"] is not None:
        # cclogin never refreshes these: say how long Claude Code has left.
        flag = f" ({time_left(row['expires_at'])} left)"
    account = row["account"] or "-"
    if len(account) > ACCOUNT_WIDTH:
        account = account[: ACCOUNT_WIDTH - 1] + "\u2026"
    return [
        row["name"], row["kind"], row["backend"], row["storage_class"], account,
        f"{when(row['expires_at'])}{flag}",
    ]


def _render(report: StatusReport) -> str:
    lines = [report.summary]
    if report.profiles:
        rows = [_cells(row) for row in report.profiles]
        head = ("PROFILE", "KIND", "BACKEND", "STORAGE", "ACCOUNT", "EXPIRES")
        # Columns as wide as their longest cell, so long names and labels stay aligned.
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]
        lines.append("")
        titles = " ".join(h.ljust(w) for h, w in zip(head[:-1], widths, strict=True))
        lines.append(f"  {titles} {head[-1]}")
        for row, cells in zip(report.profiles, rows, strict=True):
            mark = "*" if row["active"] else " "
            body = " ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True))
            lines.append(f"{mark} {body} {cells[-1]}")
    if report.unlock_cache is not None:
        lines += ["", describe_state(report.unlock_cache)]
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
    if report.problem:  # advice, not the answer: stderr, in both forms (--json has it too)
        note(f"cclogin: fix: {report.problem}")
    return report.exit_code
