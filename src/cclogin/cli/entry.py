"""The `cclogin` executable.

`cclogin token` is called by other tools many times a minute (Claude Code's
apiKeyHelper), so its plain forms skip click (~35 ms to import) and go straight to
the use case; every other form, `--help` included, goes through the click app.
"""

from __future__ import annotations

import sys


def _fast_token_args(argv: list[str]) -> tuple[bool, str | None]:
    """(True, profile) for `token`, `token --profile P`, `token --profile=P`, `token -p P`."""
    if not argv or argv[0] != "token":
        return False, None
    rest = argv[1:]
    if not rest:
        return True, None
    if len(rest) == 2 and rest[0] in ("--profile", "-p") and not rest[1].startswith("-"):
        return True, rest[1]
    if len(rest) == 1 and rest[0].startswith("--profile=") and len(rest[0]) > 10:
        return True, rest[0][len("--profile=") :]
    return False, None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    fast, profile = _fast_token_args(args)
    if fast:
        from .token_cmd import run_token

        sys.exit(run_token(profile))
    from .app import run_app

    sys.exit(run_app(args))
