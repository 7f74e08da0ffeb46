"""The `cclogin` executable.

`cclogin token` is called by other tools many times a minute (Claude Code's
apiKeyHelper), so its plain forms skip click (~35 ms to import): the lean path
(`hotpath/`: no cclogin module beyond it, a D-Bus client of its own, no thread)
answers the common case and leaves the process with `os._exit` once the answer is
written; whatever it cannot answer goes to the use case (`token_cmd.run_token`)
unchanged. Every other form, `--help` included, goes through the click app.
"""

import os
import sys

PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
_hardened: list[bool] = []  # once per process


def harden_process() -> None:
    """No core dump and, on Linux, not dumpable: a crash (or a same-uid process asking
    for a dump or for /proc/PID/mem) must not get a data key, passphrase or token.

    Cheap by design, as `token` runs it too: `resource` (~0.5 ms), and prctl through
    `_ctypes` itself (~1 ms; `import ctypes` costs 5-10 ms here). Best effort: a
    Python without either keeps running unhardened rather than failing closed.
    """
    if _hardened:
        return
    _hardened.append(True)
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (ImportError, OSError, ValueError):  # pragma: no cover - Windows, odd limits
        pass
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_DUMPABLE, 0)


def _prctl(option: int, arg: int) -> int | None:
    """prctl(2) with two arguments; None when it cannot be called."""
    try:
        import _ctypes

        class _Int(_ctypes._SimpleCData):  # type: ignore[type-arg]
            _type_ = "i"

        class _ULong(_ctypes._SimpleCData):  # type: ignore[type-arg]
            _type_ = "L"

        class _Func(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL
            _restype_ = _Int

        libc = _ctypes.dlopen(None)  # type: ignore[arg-type]  # the running process
        fn = _Func(_ctypes.dlsym(libc, "prctl"))
        fn.argtypes = (_Int, _ULong, _ULong, _ULong, _ULong)
        return int(fn(option, arg, 0, 0, 0))
    except Exception:  # pragma: no cover - no _ctypes, no libc symbol: stay best effort
        return None


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
    harden_process()
    args = sys.argv[1:] if argv is None else argv
    fast, profile, valid_for = _fast_token_args(args)
    if fast:
        _lean_token(profile, valid_for, leave=argv is None)  # returns only to fall back
        from .token_cmd import run_token

        sys.exit(run_token(profile, valid_for))
    from .app import run_app

    sys.exit(run_app(args))


def _lean_token(profile: str | None, valid_for: float | None, *, leave: bool) -> None:
    """Answer `token` on the lean path and end the process, or return to fall back.

    `leave`: end with `os._exit` (the real process: no interpreter shutdown, ~6 ms, once
    the answer is written); a caller that passed its own argv gets SystemExit instead."""
    from ..hotpath.token import KeychainTimeout, lean_token

    try:
        secret = lean_token(profile, valid_for)
    except KeychainTimeout as exc:
        from ..errors import StoreTimeout
        from .output import report_error

        code = report_error(StoreTimeout(exc.message))
        exc.linger()
        sys.exit(code)
    except Exception:
        return
    if secret is None or not secret.isascii():
        return  # not ours to answer; or not ASCII: sys.stdout's encoding decides there
    data = (secret + "\n").encode()
    try:
        written = os.write(1, data)  # one write: a reader never sees a partial value
    except OSError:
        return  # nothing was written: the full path meets the same stdout and reports it
    while written < len(data):  # a pipe takes up to 64 KB at once; a slow tty may not
        try:
            written += os.write(1, data[written:])
        except InterruptedError:
            continue
        except OSError:
            os._exit(1)  # part of the value is out: never add a second copy after it
    if leave:
        os._exit(0)
    sys.exit(0)
