"""Run a command and measure its peak resident memory, as the kernel counts it.

The kernel's peak (`ru_maxrss` from wait4) of a child also counts the memory of the
process it was forked from, until it exec'd. Forked straight from pytest (or from a
benchmark that holds a 100 MB file), every child would seem as big as its parent. So
the command is started by a small launcher (`python -I -S`, ~10 MB, far below
cclogin's own baseline), which waits for it and reports its peak.

    result, peak = run_measured(["cclogin", "migrate"], env=env)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_LAUNCHER = """
import os, sys
out, argv = sys.argv[1], sys.argv[2:]
pid = os.posix_spawnp(argv[0], argv, os.environ)
_pid, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss * 1024))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_measured(
    args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 300
) -> tuple[subprocess.CompletedProcess[str], int]:
    """(the finished command, its peak RSS in bytes)."""
    fd, name = tempfile.mkstemp(prefix="peak-rss-")
    os.close(fd)
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, name, *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        peak = int(Path(name).read_text() or 0)
    finally:
        os.unlink(name)
    return result, peak
