"""The `.env` format cclogin reads, and the `cclogin://PROFILE` reference a value may be.

One parser for every reader: `run --env-file` and `exec --env-file` load what it
returns, and `migrate --from FILE.env` edits the spans it reports, so what migrate
rewrites is exactly what run loads. Pure: text in, entries out, no I/O.

    # a comment                        full-line comments and blank lines are skipped
    export NAME=value                  `export ` is allowed and ignored
    NAME=value with spaces # note      unquoted: up to ` #` (whitespace, then #), trimmed
    NAME='literal $ \\ "'              single quotes: nothing is special inside
    NAME="a\\nb \\" \\\\"                double quotes: \\n \\r \\t \\" \\\\ are escapes
    NAME="spans                        a quoted value may span lines
    lines"

NAME is `[A-Za-z_][A-Za-z0-9_]*`; spaces around `=` are allowed. Lines end in LF or
CRLF (a CRLF inside a quoted value reads as LF); a UTF-8 BOM at the start is skipped.
There is no `$VAR` expansion: values are what they say. A name given twice: the last
line wins, as in shells. Any other line is a `Problem` with its line number, and a
problem never quotes any part of a value (a value may be a secret).

A value that is exactly `cclogin://PROFILE` (after unquoting, nothing around it) is a
reference: `reference()` below.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import InvalidInput
from .model import ProfileName, profile_name

SCHEME = "cclogin://"
BOM = "\ufeff"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"export[ \t]+")
_COMMENT = re.compile(r"[ \t]+#")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_EXPECTED = "expected NAME=VALUE (a comment starts with #)"


class Entry(NamedTuple):
    """One `NAME=VALUE`. Offsets index the text given to `parse` (a BOM included)."""

    name: str
    value: str
    line: int  # 1-based: the line the entry starts on
    start: int  # that line's first character
    end: int  # just past the entry's last line, its line end included
    value_start: int  # the value as written (inside the quotes, when quoted)
    value_end: int
    quote: str  # "'", '"' or "" for an unquoted value


class Problem(NamedTuple):
    line: int
    message: str  # never any part of a value
    name: str | None = None  # the variable, when the line got as far as its name


class Parsed(NamedTuple):
    entries: list[Entry]
    problems: list[Problem]

    def mapping(self) -> dict[str, Entry]:
        """Name -> entry; for a name given twice, the last one (as a shell would)."""
        return {e.name: e for e in self.entries}


class EnvFileInvalid(InvalidInput):
    default_hint = (
        "fix that line: NAME=VALUE, `export NAME=VALUE`, quotes '...' or \"...\", or a # comment"
    )


class BadReference(InvalidInput):
    default_hint = (
        "write the value as cclogin://PROFILE with nothing around it, PROFILE a profile "
        "that `cclogin status` lists"
    )


def reference(value: str) -> ProfileName | None:
    """PROFILE for a value that is exactly `cclogin://PROFILE`; None for any other value.

    Only the exact, lowercase scheme at the very start makes a reference: `CCLOGIN://x`,
    `cclogin:/x`, ` cclogin://x` or `https://h/cclogin://x` are ordinary values. A value
    that does start with `cclogin://` but names no valid profile (`cclogin://`,
    `cclogin://a b`, `cclogin://team?x=1`) is BadReference, never a literal: a typo must
    not reach a program as its key, and the space stays free for a future query.
    """
    if not value.startswith(SCHEME):
        return None
    try:
        return profile_name(value[len(SCHEME) :])
    except InvalidInput:
        raise BadReference(
            "a value starting with cclogin:// must be cclogin://PROFILE and nothing more "
            "(PROFILE: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)"
        ) from None


def parse(text: str) -> Parsed:
    """Every entry and every problem of a `.env` text, in order; it never raises.

    After a problem, parsing goes on at the next line, so one bad line does not hide
    the entries after it (migrate still finds a key below a line it cannot read).
    """
    entries: list[Entry] = []
    problems: list[Problem] = []
    pos = len(BOM) if text.startswith(BOM) else 0
    line = 1
    while pos < len(text):
        eol = _line_end(text, pos)
        after = _next_line(text, eol)
        outcome = _entry(text, pos, eol, line)
        if isinstance(outcome, Entry):
            entries.append(outcome)
            line += text.count("\n", pos, outcome.end)
            pos = outcome.end
        else:
            if outcome is not None:
                problems.append(outcome)
            line += 1
            pos = after
    return Parsed(entries, problems)


def check(text: str, source: str) -> Parsed:
    """`parse`, with the first problem raised as `SOURCE:LINE: message`."""
    parsed = parse(text)
    if parsed.problems:
        first = parsed.problems[0]
        raise EnvFileInvalid(f"{source}:{first.line}: {first.message}")
    return parsed


def _line_end(text: str, pos: int) -> int:
    """The index of the LF ending the line at pos, or len(text)."""
    found = text.find("\n", pos)
    return len(text) if found < 0 else found


def _next_line(text: str, eol: int) -> int:
    return min(eol + 1, len(text))


def _content_end(text: str, start: int, eol: int) -> int:
    """The line's end without its CR of a CRLF."""
    return eol - 1 if eol > start and text[eol - 1] == "\r" else eol


def _skip_blanks(text: str, i: int, end: int) -> int:
    while i < end and text[i] in " \t":
        i += 1
    return i


def _entry(text: str, start: int, eol: int, line: int) -> Entry | Problem | None:
    """The entry starting on the line at `start`; None for a blank or comment line."""
    stop = _content_end(text, start, eol)
    i = _skip_blanks(text, start, stop)
    if i == stop or text[i] == "#":
        return None
    export = _EXPORT.match(text, i, stop)
    if export is not None:
        i = export.end()
    match = _NAME.match(text, i, stop)
    if match is None:
        return Problem(line, _EXPECTED)
    name = match.group()
    i = _skip_blanks(text, match.end(), stop)
    if i == stop or text[i] != "=":
        return Problem(line, _EXPECTED, name)
    j = _skip_blanks(text, i + 1, stop)
    spaced = j > i + 1
    if j < stop and text[j] in "'\"":
        return _quoted(text, start, j, line, name)
    # Unquoted: up to ` #` (or `#` right after the blanks that follow `=`), trimmed.
    if spaced and j < stop and text[j] == "#":
        value_end = j
    else:
        comment = _COMMENT.search(text, j, stop)
        value_end = comment.start() if comment else stop
        while value_end > j and text[value_end - 1] in " \t":
            value_end -= 1
    value = text[j:value_end]
    if "\0" in value:
        return Problem(
            line, f"the value of {name} holds a NUL character, which no environment can carry", name
        )
    return Entry(name, value, line, start, _next_line(text, eol), j, value_end, "")


def _quoted(text: str, start: int, open_at: int, line: int, name: str) -> Entry | Problem:
    quote = text[open_at]
    chars: list[str] = []
    k = open_at + 1
    while True:
        if k >= len(text):
            return Problem(line, f"the value of {name} has no closing {quote}", name)
        c = text[k]
        if c == quote:
            break
        if c == "\r" and text.startswith("\r\n", k):
            k += 1  # the file's CRLF inside a value reads as LF
            continue
        if quote == '"' and c == "\\" and k + 1 < len(text) and text[k + 1] in _ESCAPES:
            chars.append(_ESCAPES[text[k + 1]])
            k += 2
            continue
        chars.append(c)
        k += 1
    close = k
    eol = _line_end(text, close)
    rest = _skip_blanks(text, close + 1, _content_end(text, close, eol))
    if rest < _content_end(text, close, eol) and text[rest] != "#":
        where = line + text.count("\n", open_at, close)
        ends = "" if where == line else f" (it ends on line {where})"
        return Problem(
            line, f"unexpected text after the closing {quote} of {name}'s value{ends}", name
        )
    value = "".join(chars)
    if "\0" in value:
        return Problem(
            line, f"the value of {name} holds a NUL character, which no environment can carry", name
        )
    return Entry(name, value, line, start, _next_line(text, eol), open_at + 1, close, quote)
