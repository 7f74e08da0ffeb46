"""Where the encrypted store's passphrase comes from.

Precedence: CCLOGIN_PASSPHRASE_COMMAND, CCLOGIN_PASSPHRASE_FILE, CCLOGIN_PASSPHRASE
(with a warning: environment variables leak to every child process), then a prompt
on the terminal. An empty variable counts as unset. A source's `description` names
where the passphrase comes from, never the passphrase.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from ..errors import CcloginError, InvalidInput, PassphraseUnavailable
from ..fsio import read_private
from ..secret import Secret

# Every variable that unlocks the store starts so; children never get them (`exec`,
# the BROWSER command).
VARIABLE_PREFIX = "CCLOGIN_PASSPHRASE"
COMMAND_ENV = "CCLOGIN_PASSPHRASE_COMMAND"
FILE_ENV = "CCLOGIN_PASSPHRASE_FILE"
VALUE_ENV = "CCLOGIN_PASSPHRASE"
COMMAND_TIMEOUT = 20.0  # `pass` without a prompt answers in well under a second
INTERACTIVE_COMMAND_TIMEOUT = 120.0  # long enough to type a gpg pinentry passphrase
_MAX_LEN = 64 * 1024


@runtime_checkable
class PassphraseSource(Protocol):
    description: str  # for messages: "CCLOGIN_PASSPHRASE_FILE=/path", never the secret

    def get(self, *, confirm: bool) -> Secret: ...


def _strip_newline(value: str) -> str:
    """One trailing newline, as `echo` and editors add; other whitespace is kept."""
    if value.endswith("\r\n"):
        return value[:-2]
    if value.endswith("\n"):
        return value[:-1]
    return value


class _TooLong(Exception):
    """The command printed more than _MAX_LEN bytes."""


def _run_bounded(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """(exit status, stdout) of `argv`: at most _MAX_LEN bytes, within `timeout` seconds.

    Done when the command itself exits: a background child it left holding stdout
    (an agent it started, `gpg-agent`, a `sleep &`) does not keep cclogin waiting for
    an end of file that never comes. What the command printed before it exited is in
    the pipe already and is read. The command is killed on a timeout or an overflow.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,  # never eat a secret piped to cclogin
        stdout=subprocess.PIPE,
        stderr=None,  # the command's own diagnostics reach the user
        env=env,
    )
    stream = proc.stdout
    if stream is None:  # pragma: no cover - stdout=PIPE always gives one
        raise OSError("no pipe to the command")
    try:
        collect = _collect_posix if os.name == "posix" else _collect_threaded
        output = collect(proc, stream, time.monotonic() + timeout, timeout)
        return proc.wait(), output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stream.close()


def _collect_posix(
    proc: subprocess.Popen[bytes], stream: IO[bytes], deadline: float, timeout: float
) -> bytes:
    import selectors

    fd = stream.fileno()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            exited = proc.poll() is not None
            left = deadline - time.monotonic()
            if left <= 0 and not exited:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            # Short waits while it runs, to notice its exit; none once it has exited.
            if not sel.select(0 if exited else min(0.05, left)):
                if exited:
                    return b"".join(chunks)  # all it printed; a grandchild may hold the pipe
                continue
            try:
                chunk = os.read(fd, _MAX_LEN + 1 - size)
            except BlockingIOError:
                continue
            if not chunk:  # end of file: everyone closed stdout; wait for the exit itself
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise subprocess.TimeoutExpired(proc.args, timeout) from None
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_LEN:
                raise _TooLong


def _collect_threaded(
    proc: subprocess.Popen[bytes], stream: IO[bytes], deadline: float, timeout: float
) -> bytes:
    """Windows: no select() on pipes; a reader thread, and a short grace after the exit."""
    import threading
    chunks: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        size = 0
        with contextlib.suppress(OSError, ValueError):
            while size <= _MAX_LEN:
                chunk = os.read(stream.fileno(), _MAX_LEN + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        done.set()

    threading.Thread(target=read, name="cclogin-passphrase-command", daemon=True).start()
    while proc.poll() is None and not done.is_set():
        if time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        done.wait(0.05)
    if sum(map(len, chunks)) > _MAX_LEN:
        raise _TooLong
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise subprocess.TimeoutExpired(proc.args, timeout) from None
    done.wait(0.5)  # what it printed before exiting is in the pipe: let the reader take it
    output = b"".join(chunks)
    if len(output) > _MAX_LEN:
        raise _TooLong
    return output


class CommandSource:
    """Runs a command (no shell) and takes its stdout, e.g. `pass show cclogin`."""

    def __init__(self, command: str, *, timeout: float = COMMAND_TIMEOUT) -> None:
        self.command = command
        self.timeout = timeout
        self.description = f"{COMMAND_ENV}={command}"

    def get(self, *, confirm: bool) -> Secret:
        try:
            argv = shlex.split(self.command)
        except ValueError:
            raise self._error("cannot be parsed (unbalanced quotes?)") from None
        if not argv:
            raise self._error("is empty")
        # The child does not need our passphrase variable (aws-vault leaked its own).
        env = {k: v for k, v in os.environ.items() if k != VALUE_ENV}
        try:
            returncode, output = _run_bounded(argv, env, self.timeout)
        except FileNotFoundError:
            raise self._error("was not found") from None
        except PermissionError:
            raise self._error("is not executable") from None
        except subprocess.TimeoutExpired:
            raise self._error(f"did not finish within {self.timeout:g} s") from None
        except _TooLong:
            raise self._error("printed more than a passphrase") from None
        except OSError as exc:
            raise self._error(f"could not run ({exc.strerror})") from None
        if returncode != 0:
            raise self._error(f"exited with status {returncode}")
        try:
            value = _strip_newline(output.decode("utf-8"))
        except UnicodeDecodeError:
            raise self._error("printed something that is not UTF-8 text") from None
        if not value:
            raise self._error("printed an empty passphrase")
        return Secret(value)

    def _error(self, what: str) -> PassphraseUnavailable:
        # Names the command, never its output.
        return PassphraseUnavailable(f"the passphrase command `{self.command}` {what}")


class FileSource:
    """A file only we can read (mode 0600, not a symlink)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"{FILE_ENV}={path}"

    def get(self, *, confirm: bool) -> Secret:
        try:
            data = read_private(self.path, max_size=_MAX_LEN)
        except PassphraseUnavailable:
            raise
        except CcloginError as exc:  # UnsafeFile and friends keep their own hint
            raise PassphraseUnavailable(
                f"passphrase file refused: {exc.message}", exc.hint
            ) from None
        if data is None:
            raise PassphraseUnavailable(f"the passphrase file {self.path} does not exist")
        try:
            value = _strip_newline(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise PassphraseUnavailable(
                f"the passphrase file {self.path} is not UTF-8 text"
            ) from None
        if not value:
            raise PassphraseUnavailable(f"the passphrase file {self.path} is empty")
        return Secret(value)


class EnvSource:
    """CCLOGIN_PASSPHRASE: works, but every child process of the shell can read it."""

    description = VALUE_ENV

    def __init__(self, value: str) -> None:
        self._value = Secret(value)

    def get(self, *, confirm: bool) -> Secret:
        from ..policy import check_env_passphrase

        check_env_passphrase(VALUE_ENV)  # the admin policy's passphrase.allow_environment
        sys.stderr.write(
            f"cclogin: warning: {VALUE_ENV} is visible to every process this shell "
            f"starts; prefer {FILE_ENV} (mode 600) or {COMMAND_ENV}\n"
        )
        return self._value


class PromptSource:
    """A hidden prompt on the terminal; a new passphrase is asked twice.

    Every prompt says what it is for. A mismatched confirmation (or an empty answer)
    is re-asked, at most `attempts` times; the store re-asks a wrong passphrase as
    often (`EncryptedFileStore._unlock`, like sudo). The prompts go to the terminal
    (getpass: /dev/tty, else stderr), the messages about them to stderr, never
    stdout. Nothing typed is kept here: the store keeps the keys it derived, so one
    process asks once.
    """

    description = "a passphrase prompt on the terminal"
    attempts = 3

    def __init__(
        self,
        reader: Callable[[str], str] | None = None,
        *,
        store_path: Path | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self._reader = reader or getpass.getpass
        self._say = say or _to_stderr
        self.store_path = store_path  # named in the prompts; the store sets it

    def get(self, *, confirm: bool) -> Secret:
        # confirm=True means a new passphrase is being chosen (a new store, or a change).
        if confirm:
            return self._choose()
        for attempt in range(1, self.attempts + 1):
            value = self._ask(f"Passphrase for the encrypted store{self._where()}: ")
            if value:
                return Secret(value)
            if attempt < self.attempts:
                self._say("cclogin: an empty passphrase is not allowed; try again")
        raise InvalidInput("an empty passphrase is not allowed", "type the store's passphrase")

    def wrong(self) -> None:
        """The store could not be opened with what was typed: say so before re-asking."""
        self._say("cclogin: wrong passphrase; try again")

    def _choose(self) -> Secret:
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            first = self._ask(
                f"New passphrase for the encrypted store{self._where()} "
                "(it protects every credential cclogin keeps here): "
            )
            if not first:
                if not last:
                    self._say("cclogin: an empty passphrase is not allowed; try again")
                continue
            if self._ask("Repeat the new passphrase: ") == first:
                return Secret(first)
            if not last:
                self._say("cclogin: the passphrases did not match; try again")
        raise InvalidInput(
            f"the new passphrase was not typed the same way twice ({self.attempts} tries); "
            "nothing was stored",
            "run the command again and type the same passphrase twice",
        )

    def _where(self) -> str:
        return f" {self.store_path}" if self.store_path is not None else ""

    def _ask(self, prompt: str) -> str:
        try:
            return self._reader(prompt)
        except EOFError:
            raise PassphraseUnavailable("no passphrase was typed (end of input)") from None


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def passphrase_source(environ: Mapping[str, str], interactive: bool) -> PassphraseSource | None:
    """The configured source, or None when there is none (the store then fails closed)."""
    command = environ.get(COMMAND_ENV)
    if command:
        timeout = INTERACTIVE_COMMAND_TIMEOUT if interactive else COMMAND_TIMEOUT
        return CommandSource(command, timeout=timeout)
    file = environ.get(FILE_ENV)
    if file:
        return FileSource(Path(file).expanduser())
    value = environ.get(VALUE_ENV)
    if value:
        return EnvSource(value)
    if interactive:
        return PromptSource()
    return None
