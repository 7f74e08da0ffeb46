"""Shell history files: which format a file is in, and where a hit's entry begins and ends.

Formats (a fixer removes a whole entry, so the entry is what matters):
  * bash: one command per line; with HISTTIMEFORMAT, a `#1700000000` line before it
    belongs to the entry.
  * zsh: one command per line, a multi-line command's lines joined by a backslash at
    the end of each line but the last; EXTENDED_HISTORY (`setopt extended_history`)
    starts each entry with `: <start>:<elapsed>;`. zsh writes its history
    *metafied*: a NUL and the bytes 0x83 to 0xa2 are written as 0x83 (Meta) and the
    byte xor 0x20. Neither half of such a pair is ASCII (a NUL becomes 0x83 0x20),
    so an ASCII key or variable name is never split or faked by it, and byte spans
    in the raw file are what a fixer needs; `unmetafy` gives the text back.
  * fish: a YAML-like list, `- cmd: <command>` then indented `when:` and `paths:`
    lines; a command's newlines and backslashes are escaped (`\\n`, `\\\\`).

Universal variables (`set -U`, `set -Ux`) are not history: fish keeps them in
`fish_variables` as `SETUVAR [--export] NAME:<value>` with every byte but
`[A-Za-z0-9_]` written `\\xHH` (`fish_variable_values`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Literal

HistoryFormat = Literal["bash", "zsh", "zsh-extended", "fish"]

BASH_NAMES = (".bash_history", ".sh_history", ".history")
ZSH_NAMES = (".zsh_history", ".zhistory", ".histfile")
FISH_NAMES = ("fish_history",)
FISH_VARIABLES = "fish_variables"

_ZSH_EXTENDED = re.compile(rb"^: [0-9]+:[0-9]+;", re.MULTILINE)
_BASH_STAMP = re.compile(rb"#[0-9]+\r?")
_FISH_ENTRY = b"- cmd:"
_WINDOW = 64 * 1024  # how far around a hit an entry is looked for
META = 0x83


def format_of(name: str, head: bytes) -> HistoryFormat | None:
    """The history format of a file, from its name and first block, or None.

    A file named by HISTFILE may have any name: its content decides (fish starts with
    `- cmd:`, zsh's extended format with `: <digits>:<digits>;`, otherwise lines)."""
    if name in FISH_NAMES or head.startswith(_FISH_ENTRY):
        return "fish"
    extended = _ZSH_EXTENDED.search(head[:4096]) is not None
    if name in ZSH_NAMES or extended:
        return "zsh-extended" if extended else "zsh"
    if name in BASH_NAMES:
        return "bash"
    return None


def unmetafy(data: bytes) -> bytes:
    """zsh's metafied bytes back to the bytes that were typed."""
    if META not in data:
        return data
    out = bytearray()
    it = iter(data)
    for byte in it:
        if byte == META:
            out.append(next(it, 0x20) ^ 0x20)
        else:
            out.append(byte)
    return bytes(out)


def entry_span(fd: int, fmt: HistoryFormat, line_start: int, line_end: int) -> tuple[int, int]:
    """[start, end) of the history entry holding the line [line_start, line_end) (its
    line break excluded), the entry's last line break included: the bytes to cut to
    forget the command. Looked for within 64 KiB around the line."""
    at = max(0, line_start - _WINDOW)
    window = os.pread(fd, line_end - at + _WINDOW, at)
    start, end = line_start - at, line_end - at
    if fmt == "fish":
        if not window.startswith(_FISH_ENTRY, start):
            found = window.rfind(b"\n" + _FISH_ENTRY, 0, start)
            if found >= 0:
                start = found + 1
            elif at == 0 and window.startswith(_FISH_ENTRY):
                start = 0
        nxt = window.find(b"\n" + _FISH_ENTRY, end)
        return at + start, at + (nxt + 1 if nxt >= 0 else len(window))
    if fmt.startswith("zsh"):
        # A multi-line command: every line but its last ends with a backslash.
        while start > 0:
            prev = window.rfind(b"\n", 0, start - 1) + 1
            if not window[prev : start - 1].rstrip(b"\r").endswith(b"\\"):
                break
            start = prev
        while window[:end].rstrip(b"\r").endswith(b"\\") and end < len(window):
            nxt = window.find(b"\n", end + 1)
            end = nxt if nxt >= 0 else len(window)
    elif start > 0:
        prev = window.rfind(b"\n", 0, start - 1) + 1
        if _BASH_STAMP.fullmatch(window[prev : start - 1]):
            start = prev  # the HISTTIMEFORMAT stamp line belongs to the command
    if end < len(window) and window[end : end + 1] == b"\n":
        end += 1
    return at + start, at + end


def fish_variable_values(block: bytes) -> Iterator[tuple[bytes, int, int, bytes]]:
    """(name, start, end, decoded value) of each `SETUVAR` line in a block of
    `fish_variables`; [start, end) is the escaped value as written in the file."""
    for match in _SETUVAR.finditer(block):
        raw = match.group("value")
        yield match.group("name"), match.start("value"), match.end("value"), _unescape(raw)


_SETUVAR = re.compile(
    rb"^SETUVAR(?:[ \t]+--export)?[ \t]+(?P<name>[A-Za-z0-9_]+):(?P<value>[^\r\n]*)",
    re.MULTILINE,
)
_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def _unescape(raw: bytes) -> bytes:
    return _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
