"""`cclogin doctor`: check everything, and say how to fix each finding."""

from __future__ import annotations

import click

from ..accounts.doctor import doctor, findings_json
from .app import app_context
from .output import answer, answer_json

SYMBOL = {"ok": "ok  ", "info": "info", "warn": "WARN", "fail": "FAIL"}


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--fix",
    is_flag=True,
    help="Delete orphaned entries (no profile uses them) and drop stale keychain index "
    "lines, printing exactly what was removed.",
)
def command(as_json: bool, fix: bool) -> int:
    """Diagnose backends, files, orphaned entries, plaintext leftovers and proxies."""
    findings = doctor(app_context(), fix=fix)
    if as_json:
        answer_json(findings_json(findings))
    else:
        lines = []
        for f in findings:
            lines.append(f"[{SYMBOL[f.level]}] {f.check}: {f.message}")
            if f.fix and f.level in ("warn", "fail"):
                lines.append(f"        fix: {f.fix}")
        answer("\n".join(lines))
    return 1 if any(f.level == "fail" for f in findings) else 0
