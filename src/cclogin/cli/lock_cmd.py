"""`cclogin lock`: drop the unlock cache of this session."""

from __future__ import annotations

import click

from ..accounts.unlock import lock
from .app import app_context
from .output import note


@click.command("lock")
def command() -> int:
    """Drop the encrypted store's unlock cache from the kernel keyring now."""
    if lock(app_context()):
        note(
            "cclogin: locked: the data key left the kernel keyring; the next command asks "
            "for the passphrase again"
        )
    else:
        note(
            "cclogin: no unlock cache in this session; nothing to lock (a cache made in "
            "another login session expires on its own, or run `cclogin lock` there)"
        )
    return 0
