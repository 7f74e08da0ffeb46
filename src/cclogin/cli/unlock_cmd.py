"""`cclogin unlock [--for DURATION]`: type the encrypted store's passphrase once for a while."""

from __future__ import annotations

import time

import click

from ..accounts.unlock import unlock
from .app import app_context
from .output import note


@click.command("unlock")
@click.option(
    "--for",
    "duration",
    metavar="DURATION",
    help="How long the cache lasts: 90s, 15m, 8h, 1h30m, 2d (default 8h, or the admin "
    "policy's limit if lower).",
)
def command(duration: str | None) -> int:
    """Keep the encrypted store's data key in the Linux kernel keyring for a while.

    The passphrase is asked once (or taken from CCLOGIN_PASSPHRASE_FILE /
    CCLOGIN_PASSPHRASE_COMMAND); until the cache expires, `cclogin token` and Claude
    Code's apiKeyHelper started from this session open the store without it. The
    children of `cclogin exec` and `cclogin run` cannot read the cache. `cclogin lock`
    ends it early.
    """
    done = unlock(app_context(), duration)
    until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(done.expires_at))
    note(
        f"cclogin: unlocked {done.store} until {until} (the data key is {done.where}): "
        "`cclogin token` and what else this session starts open it without the "
        "passphrase; `cclogin lock` locks it again"
    )
    return 0
