"""`cclogin logout`: revoke, wipe every copy, prove nothing is left."""

from __future__ import annotations

import click

from ..accounts.logout import logout
from ..accounts.policy_gate import check_revoked
from ..errors import UsageError
from .app import PROFILE_HELP, app_context
from .output import note


@click.command("logout")
@click.option("-p", "--profile", metavar="NAME", help=PROFILE_HELP)
@click.option("--all", "everything", is_flag=True, help="Log out of every profile.")
@click.option("--no-revoke", is_flag=True, help="Do not revoke provider tokens at the server.")
def command(profile: str | None, everything: bool, no_revoke: bool) -> int:
    """Remove a profile's secret from every place cclogin knows, then verify it is gone."""
    if profile and everything:
        raise UsageError("--profile and --all cannot be combined")
    report = logout(app_context(), profile, everything=everything, revoke=not no_revoke)
    for line in report.removed:
        note(f"cclogin: removed {line}")
    for name in report.revoked:
        note(f"cclogin: revoked the tokens of {name!r} at its provider")
    for name in report.not_revoked:
        why = report.not_revoked_why.get(name)
        note(
            f"cclogin: warning: the tokens of {name!r} were not revoked: {why}; "
            "they were wiped locally"
            if why else
            f"cclogin: warning: could not revoke the tokens of {name!r} at its provider; "
            "they were wiped locally and expire on their own"
        )
    if not report.logged_out and everything:
        note("cclogin: nothing to log out of")
    else:
        note("cclogin: verified: no copy of the logged-out secrets is left in any store")
    check_revoked(report.not_revoked, report.not_revoked_why)  # logout.require_revoke
    return 0
