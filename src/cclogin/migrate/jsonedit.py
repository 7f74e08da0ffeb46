"""Remove or re-insert one member of a JSON object, leaving every other byte.

Claude Code's files hold settings and other tools' keys beside the secret; re-dumping
the document would reformat all of it. These edits work on the bytes instead.

A member is named by its key and `within`, the keys of the objects enclosing it, from
the top: `("env",)` for `env.ANTHROPIC_API_KEY` in Claude Code's `settings.json`. Where
a key occurs twice, the last occurrence counts (as it does for `json.loads`).

Files of any size (a `~/.claude.json` grows with project history to tens of MB) are
read once and `parse`d once into an `Index`: the byte spans of the top-level members
and the decoded values of the few keys asked for. Nothing else is built:

  * the bytes are viewed as Latin-1, one character per byte, so every offset is a
    byte offset and no wide string is made (one emoji would make a UTF-8 decode of the
    whole file four bytes a character). Every JSON token is ASCII, so the scanner reads
    the structure exactly as in the UTF-8 text; UTF-8 itself is checked in blocks, and
    the values asked for are decoded from their own bytes as UTF-8;
  * the values not asked for are only checked: the C scanner walks them and each
    object is dropped (to its length) the moment it closes, so a member of 100 MB
    costs the size of its largest array of scalars, not a tree of the document.

Edits are byte spans `(start, end, new)`; the caller splices them (`splice.Spliced`).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

BOM = b"\xef\xbb\xbf"  # tolerated before the document (RFC 8259 section 8.1), kept as it is
_WS = re.compile(r"[ \t\n\r]*")
_UTF8_BLOCK = 1 << 18
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


_FULL = json.JSONDecoder(parse_constant=_refuse_constant)
# Checks a value without keeping it: `len`, a C function, replaces each object by its
# member count as it closes (no Python frame per object, its members freed at once).
_CHECK = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=len)


@dataclass(frozen=True)
class Member:
    key: str
    start: int  # byte offset of the key's opening quote
    value_start: int
    end: int  # byte offset just past the value


@dataclass(frozen=True)
class Index:
    """Where things are in one JSON text (byte offsets); it holds none of the text."""

    members: tuple[Member, ...] | None  # the top-level object's; None: no object
    span: tuple[int, int]  # the document's value: [`{`, just past `}`) for an object
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)  # keys asked for


def parse(data: bytes, want: Collection[str] = ()) -> Index:
    """Check `data` is one RFC 8259 JSON text (UTF-8, an optional BOM) and index it.

    `want`: top-level keys whose values are decoded (`Index.values`, last occurrence).
    ValueError (UnicodeDecodeError for bad UTF-8) when it is no valid JSON text."""
    _check_utf8(data)
    text = data.decode("latin-1")
    try:
        pos = _skip(text, len(BOM) if data.startswith(BOM) else 0)
        values: dict[str, Any] = {}
        if text.startswith("{", pos):
            found, end = _object(text, data, pos, want, values)
            members: tuple[Member, ...] | None = tuple(found)
        else:
            end, members = _check_value(text, pos), None
        if _skip(text, end) != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except RecursionError:
        raise ValueError("the JSON text is nested too deeply") from None
    return Index(members, (pos, end), values)


def _check_utf8(data: bytes) -> None:
    if data.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for at in range(0, len(view), _UTF8_BLOCK):
        decoder.decode(view[at : at + _UTF8_BLOCK])
    decoder.decode(b"", final=True)


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _check_value(text: str, pos: int) -> int:
    """Past the value at `pos`, checked, not kept. An array's elements one at a time, so
    a long array of strings at the top level is not held whole either."""
    if not text.startswith("[", pos):
        return int(_CHECK.raw_decode(text, pos)[1])
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        return pos + 1
    while True:
        pos = _skip(text, _CHECK.raw_decode(text, pos)[1])
        if text.startswith("]", pos):
            return pos + 1
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _skip(text, pos + 1)


def _object(
    text: str, data: bytes, pos: int, want: Collection[str], values: dict[str, Any]
) -> tuple[list[Member], int]:
    """The members of the object whose `{` is at `pos`, and the offset past its `}`."""
    pos = _skip(text, pos + 1)
    found: list[Member] = []
    if text.startswith("}", pos):
        return found, pos + 1
    while True:
        if not text.startswith('"', pos):
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", text, pos
            )
        start = pos
        key, pos = _scanstring(text, pos + 1)
        if not key.isascii():  # the Latin-1 view of a UTF-8 key: decode it properly
            key = _scanstring(data[start:pos].decode("utf-8"), 1)[0]
        pos = _skip(text, pos)
        if not text.startswith(":", pos):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
        value_start = pos = _skip(text, pos + 1)
        if key in want:
            value, pos = _FULL.raw_decode(text, pos)
            raw = data[value_start:pos]
            values[key] = value if raw.isascii() else _FULL.decode(raw.decode("utf-8"))
        else:
            pos = _check_value(text, pos)
        found.append(Member(str(key), start, value_start, pos))
        pos = _skip(text, pos)
        if text.startswith("}", pos):
            return found, pos + 1
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _skip(text, pos + 1)


def _nested(data: bytes, member: Member) -> list[Member] | None:
    """The members of `member`'s value if it is an object (it was checked by `parse`)."""
    if data[member.value_start : member.value_start + 1] != b"{":
        return None
    text = data[member.value_start : member.end].decode("latin-1")
    found, _end = _object(text, data[member.value_start : member.end], 0, (), {})
    at = member.value_start
    return [Member(m.key, m.start + at, m.value_start + at, m.end + at) for m in found]


def _last(found: list[Member] | tuple[Member, ...], key: str) -> Member | None:
    return next((m for m in reversed(found) if m.key == key), None)


def members(data: bytes, index: Index, within: tuple[str, ...] = ()) -> list[Member] | None:
    """The members of the object at `within`, or None if there is none."""
    found = list(index.members) if index.members is not None else None
    for key in within:
        parent = _last(found, key) if found is not None else None
        if parent is None:
            return None
        found = _nested(data, parent)
    return found


def object_span(data: bytes, index: Index, within: tuple[str, ...]) -> tuple[int, int] | None:
    """[`{`, just past `}`) of the object at `within` (the whole document for `()`)."""
    if index.members is None:
        return None
    if not within:
        return index.span
    parent = _last(members(data, index, within[:-1]) or [], within[-1])
    if parent is None or data[parent.value_start : parent.value_start + 1] != b"{":
        return None
    return parent.value_start, parent.end


def removal_span(found: list[Member], member: Member) -> tuple[int, int]:
    """[start, end) to cut so that `member` of the object with `found` is gone and the
    rest stays valid: the member and its trailing comma, or the comma before the last."""
    index = found.index(member)
    if index + 1 < len(found):
        return member.start, found[index + 1].start
    if index > 0:
        return found[index - 1].end, member.end
    return member.start, member.end


def member_bytes(data: bytes, index: Index, key: str, within: tuple[str, ...] = ()) -> bytes | None:
    """`"key": value` exactly as written (for re-insertion into a changed file)."""
    member = _last(members(data, index, within) or [], key)
    return None if member is None else data[member.start : member.end]


def value_bytes(data: bytes, index: Index, key: str, within: tuple[str, ...] = ()) -> bytes | None:
    """The value of `key` exactly as written (a Claude login is kept byte for byte)."""
    member = _last(members(data, index, within) or [], key)
    return None if member is None else data[member.value_start : member.end]


def insert_span(
    data: bytes, index: Index, inserted: list[bytes], within: tuple[str, ...] = ()
) -> tuple[int, bytes] | None:
    """(offset, new): inserting `new` at `offset` puts the `inserted` members, in order,
    first into the object at `within`. A missing enclosing object is created (as the
    first member of its own parent); None if something on the way is not an object."""
    body = b",".join(inserted)
    depth = len(within)
    while members(data, index, within[:depth]) is None:
        if depth == 0 or _last(members(data, index, within[: depth - 1]) or [], within[depth - 1]):
            return None  # no JSON object, or there but not an object
        depth -= 1
    for key in reversed(within[depth:]):
        body = json.dumps(key).encode() + b": {" + body + b"}"
    span = object_span(data, index, within[:depth])
    if span is None:
        return None
    separator = b"," if members(data, index, within[:depth]) else b""
    return span[0] + 1, body + separator


def upsert_span(data: bytes, index: Index, key: str, value: bytes) -> tuple[int, int, bytes] | None:
    """(start, end, new): replacing data[start:end] by `new` makes top-level `key` hold
    `value` (JSON text, used as given), every other byte kept; None if it is no object.

    A key that is there has its value replaced (the last occurrence: the one parsers
    keep). A new member goes after the last one, spaced like the members already there
    (their indentation, line ending and `": "`), or first into an empty object.
    """
    found = index.members
    if found is None:
        return None
    member = _last(found, key)
    if member is not None:
        return member.value_start, member.end, value
    name = json.dumps(key, ensure_ascii=False).encode()
    brace = index.span[0]
    if not found:
        return brace + 1, brace + 1, name + b": " + value
    first, last = found[0], found[-1]
    key_end = (
        first.start + _scanstring(data[first.start : first.value_start].decode("latin-1"), 1)[1]
    )
    colon = data[key_end : first.value_start]
    if len(found) > 1:
        lead = data[found[-2].end : last.start].split(b",", 1)[1]
    else:
        lead = data[brace + 1 : first.start]
    return last.end, last.end, b"," + lead + name + colon + value
