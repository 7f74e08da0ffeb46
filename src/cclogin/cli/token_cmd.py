"""`cclogin token`: the secret alone and a newline on stdout; fit for apiKeyHelper."""

from __future__ import annotations

import sys

from .output import report_error


def run_token(profile: str | None, valid_for: float | None = None) -> int:
    try:
        from ..accounts.context import AppContext
        from ..accounts.policy_gate import check_command
        from ..accounts.token import REFRESH_MARGIN, resolve_secret
        from ..migrate import settle_leftovers

        ctx = AppContext.from_environment()
        settle_leftovers(ctx)  # a killed `migrate` is finished or undone first
        check_command(ctx, "token")  # the admin policy; one lstat when there is none
        resolved = resolve_secret(ctx, profile, REFRESH_MARGIN if valid_for is None else valid_for)
        # One write, so a reader never sees a partial value.
        sys.stdout.write(resolved.secret.reveal() + "\n")
        sys.stdout.flush()
        return 0
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        return report_error(exc)
