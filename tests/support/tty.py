"""Run the real `cclogin` on a pseudo-terminal, answering its prompts as a person would."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Mapping, Sequence

from .cli import CCLOGIN


class Terminal:
    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen([CCLOGIN, *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=dict(env), start_new_session=True)
        os.close(slave)
        self.screen = ""

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never saw {text!r}; screen:\n{self.screen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"exited before {text!r}; screen:\n{self.screen}")
                self.screen += chunk.decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096).decode(errors="replace")
                except OSError:
                    break
        code = self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        os.close(self.master)
        return code
