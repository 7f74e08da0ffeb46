"""Reading one file, once, in bounded blocks, and finding the credentials in it.

A file is read in blocks of at most 1 MiB that end at a line break (a line longer
than 4 MiB is cut, with 4 KiB read twice so no key is lost at the cut), so memory
stays bounded whatever the size; the patterns run on bytes, only on a block that
holds one of `patterns.NEEDLES`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import patterns
from .findings import Finding, Location, Shape, digest_of, fingerprint_of
from .histories import FISH_VARIABLES, HistoryFormat, entry_span, fish_variable_values, unmetafy

CHUNK = 1 << 20
BINARY_PROBE = 8192
LONG_LINE = 4 << 20
OVERLAP = 4096
_FISH_NEEDLES = (b"sk\\x2dant", b"ANTHROPIC_", b"CLAUDE_CODE_OAUTH_TOKEN")
_MEMBER_BEFORE = re.compile(rb'"([A-Za-z0-9_]{1,64})"[ \t]*:[ \t]*"\Z')
# In Claude Code's own files, any string member holding `sk-ant-...` is a credential.
_CLAUDE_MEMBER = re.compile(rb'"(?P<name>[A-Za-z0-9_]{1,64})"[ \t]*:[ \t]*"(?P<value>sk-ant-[^"\\\r\n]{1,1024})"')


@dataclass(frozen=True)
class FileKind:
    shape: Shape
    location: Location
    history_format: HistoryFormat | None = None
    note: str = ""


@dataclass(frozen=True)
class Hit:
    start: int  # in the block
    end: int
    secret: bytes
    kind: patterns.Kind
    exact: bool
    variable: str | None
    quote: str


def read_blocks(fd: int, size: int, limit: int) -> Iterator[tuple[int, bytes, int]]:
    """(offset, block, consumed) for a file: hits at or past `consumed` belong to the
    next block. At most `limit` bytes are read; a short read is the end of a regular
    file (POSIX), so a small file costs one read."""
    offset, total, carry = 0, 0, b""
    while True:
        want = min(CHUNK, max(size - total + 1, 4096), limit - total)
        chunk = os.read(fd, want) if want > 0 else b""
        total += len(chunk)
        data = carry + chunk if carry else chunk
        if len(chunk) < want or not chunk:
            if data:
                yield offset, data, len(data)
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) < LONG_LINE:
                carry = data
                continue
            cut = len(data) - OVERLAP  # a huge line: scan it all, go on from the cut
            yield offset, data, cut
        else:
            yield offset, data[:cut], cut
        offset += cut
        carry = data[cut:]


def hits_in(block: bytes, shape: Shape, lenient: bool) -> list[Hit]:
    """Every credential in a block; `lenient` (Claude Code's own files) also takes a
    JSON member `"...": "sk-ant-..."` of any length."""
    if shape == "fish_variables":
        return _fish_universal(block)
    if not patterns.may_hold(block):
        return []
    hits: list[Hit] = []
    taken: list[tuple[int, int]] = []
    if any(n in block for n in patterns.NEEDLES[1:]):  # a variable or member name
        for regex in (patterns.ASSIGN, patterns.SET_WORD):
            for match in regex.finditer(block):
                hit = _assignment(match)
                if hit is not None and not _overlaps(hit, taken):
                    hits.append(hit)
                    taken.append((hit.start, hit.end))
    if lenient:
        for match in _CLAUDE_MEMBER.finditer(block):
            value = match.group("value")
            cls = patterns.classify_value(value, quoted=True)
            s, e = match.span("value")
            if cls is not None and not any(ts <= s < te for ts, te in taken):
                hits.append(Hit(s, e, value, cls[0], cls[1], match.group("name").decode(), '"'))
                taken.append((s, e))
    if b"sk-ant-" in block:
        for match in patterns.BARE.finditer(block):
            s, e = match.span()
            if any(ts <= s < te for ts, te in taken):
                continue
            tag, body = match.group("tag"), match.group("body")
            member = _MEMBER_BEFORE.search(block, max(0, s - 80), s)
            hits.append(
                Hit(
                    s, e, match.group(), patterns.kind_of_tag(tag),
                    patterns.exact_shape(tag, body),
                    member.group(1).decode() if member else None,
                    _quote_around(block, s, e),
                )
            )
    return sorted(hits, key=lambda h: h.start)


def _assignment(match: re.Match[bytes]) -> Hit | None:
    for group, quote in (("dq", '"'), ("sq", "'"), ("bare", "")):
        value = match.group(group)
        if value is not None:
            cls = patterns.classify_value(value, quoted=bool(quote))
            if cls is None:
                return None
            s, e = match.span(group)
            return Hit(s, e, value, cls[0], cls[1], match.group("name").decode(), quote)
    return None


def _overlaps(hit: Hit, taken: list[tuple[int, int]]) -> bool:
    return any(hit.start < te and ts < hit.end for ts, te in taken)


def _quote_around(block: bytes, s: int, e: int) -> str:
    before = block[s - 1 : s] if s > 0 else b""
    return before.decode() if before in (b'"', b"'") and block[e : e + 1] == before else ""


def _fish_universal(block: bytes) -> list[Hit]:
    if not any(n in block for n in _FISH_NEEDLES):
        return []
    hits = []
    for name, s, e, value in fish_variable_values(block):
        variable = name.decode()
        if variable in patterns.VARIABLES:
            cls = patterns.classify_value(value, quoted=True)
            if cls is not None:
                hits.append(Hit(s, e, value, cls[0], cls[1], variable, ""))
            continue
        bare = patterns.BARE.search(value)
        if bare is not None:
            tag, body = bare.group("tag"), bare.group("body")
            kind, exact = patterns.kind_of_tag(tag), patterns.exact_shape(tag, body)
            hits.append(Hit(s, e, bare.group(), kind, exact, variable, ""))
    return hits


BINARY = None  # what findings_in returns for a file with a NUL in its first 8 KiB


def findings_in(
    fd: int, size: int, limit: int, path: str, kind_of: Callable[[bytes], FileKind]
) -> tuple[list[Finding], int] | None:
    """The findings in an open file and how many bytes were read; BINARY (None) for a
    binary file. `kind_of(first block)` is asked only when a block may hold a hit."""
    found: list[Finding] = []
    line_no, read = 1, 0
    kind: FileKind | None = None
    head = b""
    fish = path.endswith(FISH_VARIABLES) and os.path.basename(path) == FISH_VARIABLES
    for offset, block, consumed in read_blocks(fd, size, limit):
        if offset == 0:
            if b"\0" in block[:BINARY_PROBE]:
                return BINARY
            head = block[:BINARY_PROBE]
        read = offset + len(block)
        if fish or patterns.may_hold(block):
            kind = kind or kind_of(head)
            counted = 0
            for hit in hits_in(block, kind.shape, kind.location == "claude-code"):
                if hit.start >= consumed:
                    break
                line_no += block.count(b"\n", counted, hit.start)
                counted = hit.start
                found.append(_finding(fd, Path(path), kind, block, offset, line_no, hit))
            line_no += block.count(b"\n", counted, consumed)
        else:
            line_no += block.count(b"\n", 0, consumed)
    return found, read


def _finding(
    fd: int, path: Path, kind: FileKind, block: bytes, offset: int, line: int, hit: Hit
) -> Finding:
    line_start = block.rfind(b"\n", 0, hit.start) + 1
    newline = block.find(b"\n", hit.end)
    line_end = newline if newline >= 0 else len(block)
    shown_end = line_end - 1 if block[line_end - 1 : line_end] == b"\r" else line_end
    fmt = kind.history_format
    if fmt is not None:
        entry = entry_span(fd, fmt, offset + line_start, offset + line_end)
    else:
        entry = (offset + line_start, offset + line_end + (1 if newline >= 0 else 0))
    secret = unmetafy(hit.secret) if fmt is not None and fmt.startswith("zsh") else hit.secret
    return Finding(
        path=path,
        line=line,
        column=hit.start - line_start + 1,
        span=(offset + hit.start, offset + hit.end),
        line_span=(offset + line_start, offset + shown_end),
        entry_span=entry,
        kind=hit.kind,
        exact_shape=hit.exact,
        variable=hit.variable,
        quote=hit.quote,
        shape=kind.shape,
        location=kind.location,
        digest=digest_of(secret),
        fingerprint=fingerprint_of(secret),
        history_format=fmt,
        note=kind.note,
    )


def digests_in(data: bytes) -> set[bytes]:
    """The SHA-256 of every credential in some bytes (a file's old version in git)."""
    found: set[bytes] = set()
    for hit in hits_in(data, "text", lenient=True):
        found.add(digest_of(hit.secret))
    return found
