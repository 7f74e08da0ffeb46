"""`cclogin login --claude`: run Claude Code's own `claude setup-token`, keep its token.

cclogin has no OAuth client for claude.ai. The user signs in through the unmodified
`claude setup-token`, which talks to Anthropic itself; we only read the long-lived
token it prints. Its stdin and stderr are the user's terminal; its stdout is relayed
to our stderr line by line with the token replaced, so the user sees the same
instructions and prompts but the token is never echoed, logged or put in argv.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import TextIO

from .errors import CcloginError
from .secret import Secret

TOKEN_PREFIX = "sk-ant-"
_TOKEN_RE = re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch only
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
MASK = "[token received by cclogin, not shown]"
MAX_OUTPUT = 1 << 20


class ClaudeSetupError(CcloginError):
    default_hint = "run `claude setup-token` yourself to see what goes wrong"


class ClaudeNotFound(ClaudeSetupError):
    default_hint = (
        "install Claude Code (https://docs.claude.com/en/docs/claude-code) so that "
        "`claude` is on PATH, then run `cclogin login --claude` again"
    )


class ClaudeSetupCancelled(ClaudeSetupError):
    default_hint = "run `cclogin login --claude` again and finish the sign-in in the browser"


class ClaudeTokenNotFound(ClaudeSetupError):
    default_hint = (
        "your Claude Code may print the token differently; run `claude setup-token` "
        "and store its token with `cclogin login --with-oauth-token` (token on stdin)"
    )


def _child_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("CCLOGIN_PASSPHRASE")}
    # Claude Code's renderer wraps to the terminal width, 80 columns on a pipe;
    # a wide virtual terminal keeps the ~110-character token on one line.
    env["COLUMNS"] = "500"
    return env


# Where a token may begin: not inside a URL or a word (`state=sk-ant-...` is no token).
_BOUNDARY = r"(?<![A-Za-z0-9_\-=/?&.%+#])"
# A token, or the first piece of one that a renderer wrapped: from `sk-ant-` on.
_START_RE = re.compile(_BOUNDARY + r"sk-ant-[A-Za-z0-9_-]*")
# A line ending in the first 1-6 characters of `sk-ant-`: a wrap may split the prefix.
_SPLIT_PREFIX_RE = re.compile(_BOUNDARY + r"(s|sk|sk-|sk-a|sk-an|sk-ant)$")


def _bare(line: str) -> str:
    return _ANSI_RE.sub("", line).rstrip("\r\n")


def extract_token(text: str) -> Secret | None:
    """The last `sk-ant-...` token in the output, re-joining a line-wrapped one.

    A renderer may wrap anywhere, even inside `sk-ant-`: a piece at the end of a line
    is joined with the following lines while they are made only of token characters.
    """
    lines = _ANSI_RE.sub("", text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: str | None = None
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        pieces = [(m.group(0), m.end()) for m in _START_RE.finditer(line)]
        split = _SPLIT_PREFIX_RE.search(line)
        if split and not pieces:
            pieces = [(split.group(0), split.end())]
        for piece, end in pieces:
            token = piece
            if end == len(line):  # wrapped at the end of the line: the next lines go on
                j = i + 1
                while j < len(lines) and _TOKEN_CHARS.fullmatch(lines[j].strip() or "!"):
                    token += lines[j].strip()
                    j += 1
            if _TOKEN_RE.fullmatch(token):
                found = token
    return Secret(found) if found else None


class _Relay:
    """Copies the child's stdout to the user, holding back anything token-like.

    Wherever the terminal wraps the token, no line shows any of it: a line from
    `sk-ant-` on is masked, the lines that continue it are dropped, and a line that
    ends in the first characters of `sk-ant-` waits for the next one to tell.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._pending = ""
        self._in_token = False
        self._held: str | None = None  # a line ending in a piece of `sk-ant-`
        self._ctx = ""  # the last character already shown of the current line

    def feed(self, text: str) -> None:
        self._pending += text
        while "\n" in self._pending:
            line, _, self._pending = self._pending.partition("\n")
            self._emit_line(line + "\n")
        # A partial line (a prompt waiting for input) is shown at once unless it could
        # be the start of a token.
        shown = len(self._pending) - self._holdback(self._pending)
        if shown > 0 and not self._may_continue_token(self._pending):
            self._ctx = (self._ctx + _bare(self._pending[:shown]))[-1:]
            self._emit(self._pending[:shown])
            self._pending = self._pending[shown:]

    def close(self) -> None:
        if self._pending:
            self._emit_line(self._pending)
            self._pending = ""
        self._release_held()

    def _holdback(self, text: str) -> int:
        idx = text.find(TOKEN_PREFIX)
        if idx >= 0:
            return len(text) - idx
        for n in range(min(len(TOKEN_PREFIX) - 1, len(text)), 0, -1):
            if TOKEN_PREFIX.startswith(text[-n:]):
                return n
        return 0

    def _may_continue_token(self, partial: str) -> bool:
        """True while a partial line could still be the rest of a wrapped token."""
        bare = _bare(partial).strip()
        if self._held is not None:
            rest = self._rest_of_prefix(self._held)
            if bare.startswith(rest) or rest.startswith(bare):
                return True
            self._release_held()
        return self._in_token and (not bare or bool(_TOKEN_CHARS.fullmatch(bare)))

    @staticmethod
    def _rest_of_prefix(held: str) -> str:
        split = _SPLIT_PREFIX_RE.search(_bare(held).rstrip())
        return TOKEN_PREFIX[len(split.group(0)):] if split else TOKEN_PREFIX

    def _release_held(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._emit(held)

    def _emit_line(self, line: str) -> None:
        # The start of this line may be on screen already: it decides whether a
        # `sk-ant-` here stands at a word boundary.
        ctx, self._ctx = self._ctx, ""
        newline = line[len(line.rstrip("\r\n")):]
        bare = _bare(line)
        if self._held is not None:
            held, self._held = self._held, None
            cont = bare.lstrip()
            if cont.startswith(self._rest_of_prefix(held)):
                # The wrap split `sk-ant-` itself: mask from its first piece on.
                held_bare = _bare(held).rstrip()
                split = _SPLIT_PREFIX_RE.search(held_bare)
                cut = split.start() if split else len(held_bare)
                self._emit(held_bare[:cut] + MASK + "\n")
                token_part = _TOKEN_CHARS.match(cont)
                tail = cont[token_part.end():] if token_part else cont
                self._in_token = not tail.strip()
                if tail.strip():
                    self._emit(tail + newline)
                return
            self._emit(held)
        stripped = bare.strip()
        if self._in_token and stripped and _TOKEN_CHARS.fullmatch(stripped):
            return  # the wrapped rest of a token
        self._in_token = False
        full = ctx + bare
        starts = list(_START_RE.finditer(full, len(ctx)))
        if starts:
            masked, at = [], len(ctx)
            for m in starts:
                masked += [full[at:m.start()], MASK]
                at = m.end()
            masked.append(full[at:])
            # A token running to the end of the line may go on in the next lines.
            self._in_token = not full[at:].strip()
            self._emit("".join(masked) + newline)
            return
        if _SPLIT_PREFIX_RE.search(full.rstrip(), len(ctx)):
            self._held = line
            return
        self._emit(line)

    def _emit(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def run_setup_token(
    *,
    executable: str | None = None,
    environ: Mapping[str, str] | None = None,
    stderr: TextIO | None = None,
) -> Secret:
    """Run `claude setup-token` interactively and return the token it printed."""
    env = os.environ if environ is None else environ
    claude = executable or shutil.which("claude", path=env.get("PATH"))
    if claude is None:
        raise ClaudeNotFound("`claude` (Claude Code) was not found on PATH")
    out = stderr or sys.stderr
    relay = _Relay(out)
    captured: list[str] = []
    size = 0
    try:
        proc = subprocess.Popen(
            [claude, "setup-token"], stdin=None, stdout=subprocess.PIPE, stderr=None,
            env=_child_env(env),
        )
    except OSError as exc:
        raise ClaudeNotFound(f"could not run {claude}: {exc.strerror}") from None
    stdout = proc.stdout
    if stdout is None:  # pragma: no cover - stdout=PIPE guarantees it
        raise ClaudeSetupError("could not read `claude setup-token` output")
    fd = stdout.fileno()
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_OUTPUT:
                proc.kill()
                raise ClaudeSetupError("`claude setup-token` printed far more than expected")
            text = chunk.decode("utf-8", errors="replace")
            captured.append(text)
            relay.feed(text)
        code = proc.wait()
    except KeyboardInterrupt:
        # The child got the same Ctrl-C; let it finish, and report a cancel.
        proc.send_signal(signal.SIGINT)
        proc.wait()
        raise ClaudeSetupCancelled("`claude setup-token` was cancelled") from None
    finally:
        relay.close()
        stdout.close()
    if code != 0:
        if code in (130, -signal.SIGINT, -signal.SIGTERM):
            raise ClaudeSetupCancelled("`claude setup-token` was cancelled; nothing was stored")
        raise ClaudeSetupError(
            f"`claude setup-token` failed (exit status {code}); nothing was stored"
        )
    token = extract_token("".join(captured))
    captured.clear()
    if token is None:
        raise ClaudeTokenNotFound("`claude setup-token` finished but printed no token")
    return token
