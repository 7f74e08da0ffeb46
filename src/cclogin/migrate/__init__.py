"""Moving legacy plaintext credential files into a store, crash-safe.

`settle_leftovers` is the cheap check every command that can meet a half-done
migration runs first (`migrate`, `status`, `token`, ...): one listdir when nothing is
pending, and the journal is resumed or rolled back when something is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..accounts.context import AppContext


def settle_leftovers(ctx: AppContext) -> None:
    from .pending import has_leftovers

    if has_leftovers(ctx.paths):
        from .recover import recover_if_pending

        recover_if_pending(ctx)
