"""`cclogin switch [NAME]`: make a profile the active one."""

from __future__ import annotations

import click

from ..accounts.switch import list_profiles, switch
from ..errors import NotLoggedIn, UsageError
from .app import app_context
from .output import note


@click.command("switch")
@click.argument("name", required=False)
def command(name: str | None) -> int:
    """Make NAME the active profile (without NAME on a terminal: choose from a list)."""
    ctx = app_context()
    if name is None:
        profiles, active = list_profiles(ctx)
        if not profiles:
            raise NotLoggedIn("no profiles to switch between")
        if not ctx.interactive:
            raise UsageError(
                "which profile?", "known profiles: " + ", ".join(p.name for p in profiles)
            )
        for i, p in enumerate(profiles, 1):
            mark = "*" if p.name == active else " "
            note(f" {mark} {i}) {p.name} ({p.kind}, {p.backend})")
        choice = click.prompt("switch to", type=click.IntRange(1, len(profiles)), err=True)
        name = profiles[choice - 1].name
    profile = switch(ctx, name)
    note(f"cclogin: active profile is now {profile.name!r}")
    return 0
