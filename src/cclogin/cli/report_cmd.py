"""`cclogin report`: compliance with the admin policy, for osquery, Jamf, Intune or cron."""

from __future__ import annotations

import click

from ..accounts.report import build_report
from .app import app_context
from .output import answer, answer_json


@click.command("report")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (docs/report.schema.json).")
@click.option(
    "--no-scan", is_flag=True, help="Skip the `cclogin scan` of the home (plaintext.scan is null)."
)
def command(as_json: bool, no_scan: bool) -> int:
    """Report the policy in force, profiles, plaintext credentials and violations.

    Reads no secret and probes no keychain. Exit 0: compliant; 10: not compliant
    (violations listed); 9: the policy file cannot be honoured (still reported).
    """
    ctx = app_context()
    found = None
    if not no_scan:  # what `cclogin scan --no-store-check` finds in the home
        from ..scan import ScanOptions, scan

        found = scan(ctx, ScanOptions(check_store=False))
    doc, code = build_report(ctx, found)
    if as_json:
        answer_json(doc)
        return code
    policy = doc["policy"]
    lines = [
        f"policy: {policy['status'].replace('_', ' ')}"
        + (f" {policy['path']} (sha256 {policy['sha256']})" if policy["sha256"] else "")
        + (f": {policy['error']}" if policy["error"] else ""),
        f"profiles: {len(doc['profiles'])}",
    ]
    lines += [
        f"  {p['name']}: {p['kind']} in {p['backend']} ({p['storage_class']})" for p in doc["profiles"]
    ]
    found = doc["plaintext"]["claude_code"]
    lines.append(f"plaintext Claude Code credentials: {len(found)}")
    lines += [f"  {item['path']}: {', '.join(item['labels'])}" for item in found]
    summary = doc["plaintext"]["scan"]
    if summary is not None:
        lines.append(
            f"plaintext Anthropic credentials anywhere in the home (`cclogin scan`): "
            f"{summary['findings']} in {summary['files_with_findings']} files"
            + (f", {summary['committed']} committed to git" if summary["committed"] else "")
        )
    lines.append(f"violations: {len(doc['violations'])}")
    lines += [
        f"  {v['rule']}" + (f" (line {v['line']})" if v["line"] else "") + f": {v['message']}"
        for v in doc["violations"]
    ]
    lines.append("compliant" if doc["compliant"] else "NOT compliant")
    answer("\n".join(lines))
    return code
