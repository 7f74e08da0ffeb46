"""How the CLI speaks: errors as `cclogin: error:` / `cclogin: hint:` on stderr."""

from __future__ import annotations

import sys
from typing import Any

from ..errors import EXIT_FAILURE, CcloginError

_verbose = False


def set_verbose(value: bool) -> None:
    global _verbose  # noqa: PLW0603 - one process, one verbosity
    _verbose = value


def is_verbose() -> bool:
    return _verbose


def note(line: str) -> None:
    """Anything that is not the answer goes to stderr (stdout is for scripts)."""
    print(line, file=sys.stderr, flush=True)


def debug(line: str) -> None:
    if _verbose:
        note(f"cclogin: debug: {line}")


def answer(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def answer_json(doc: Any) -> None:
    import json

    answer(json.dumps(doc, indent=2, sort_keys=True))


def report_error(exc: BaseException) -> int:
    """Print an error the documented way and return the exit code."""
    if _verbose:
        import traceback  # only on the error path: `cclogin token` starts ~2 ms faster

        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, CcloginError):
        note(f"cclogin: error: {exc.message}")
        note(f"cclogin: hint: {exc.hint}")
        return exc.exit_code
    # An unexpected exception's text may carry anything: print only its type.
    note(f"cclogin: error: internal error ({type(exc).__name__})")
    note(
        "cclogin: hint: run again with --verbose and report the traceback "
        "(it never contains secrets)"
    )
    return EXIT_FAILURE
