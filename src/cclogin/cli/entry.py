"""The `cclogin` executable.

`cclogin token` is called by other tools many times a minute (Claude Code's
apiKeyHelper), so its plain forms skip click (~35 ms to import) and go straight to
the use case; every other form, `--help` included, goes through the click app.
"""

from __future__ import annotations

import sys


def _fast_token_args(argv: list[str]) -> tuple[bool, str | None, float | None]:
    """(True, profile, valid_for) for `token` with only `--profile P` / `-p P` /
    `--profile=P` and `--valid-for SECONDS` (the form Claude Code's helper runs)."""
    if not argv or argv[0] != "token":
        return False, None, None
    profile: str | None = None
    valid_for: float | None = None
    rest = argv[1:]
    while rest:
        flag = rest[0]
        if flag.startswith("--profile=") and len(flag) > 10 and profile is None:
            profile, rest = flag[len("--profile=") :], rest[1:]
            continue
        if len(rest) < 2 or rest[1].startswith("-"):
            return False, None, None
        if flag in ("--profile", "-p") and profile is None:
            profile = rest[1]
        elif flag == "--valid-for" and valid_for is None and rest[1].isdigit() and len(rest[1]) < 7:
            valid_for = float(rest[1])
        else:
            return False, None, None
        rest = rest[2:]
    return True, profile, valid_for


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    fast, profile, valid_for = _fast_token_args(args)
    if fast:
        from .token_cmd import run_token

        sys.exit(run_token(profile, valid_for))
    from .app import run_app

    sys.exit(run_app(args))
