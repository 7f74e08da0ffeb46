"""How the CLI speaks: errors as `cclogin: error:` / `cclogin: hint:` on stderr."""

from __future__ import annotations

import math
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


def _finite(doc: Any) -> Any:
    """NaN and Infinity have no JSON form (RFC 8259): they are printed as null."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [_finite(v) for v in doc]
    return doc


def answer_json(doc: Any) -> None:
    """Every --json output: strict JSON that any parser reads (allow_nan=False)."""
    import json

    answer(json.dumps(_finite(doc), indent=2, sort_keys=True, allow_nan=False))


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
