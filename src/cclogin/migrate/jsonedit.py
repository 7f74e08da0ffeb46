"""Remove or re-insert one member of a JSON object, leaving every other byte.

Claude Code's files hold settings and other tools' keys beside the secret; re-dumping
the document would reformat all of it. These edits work on the text instead.

A member is named by its key and `within`, the keys of the objects enclosing it, from
the top: `("env",)` for `env.ANTHROPIC_API_KEY` in Claude Code's `settings.json`. Where
a key occurs twice, the last occurrence counts (as it does for `json.loads`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_WS = re.compile(r"[ \t\n\r]*")
BOM = "\ufeff"  # tolerated before the document (RFC 8259 section 8.1) and kept as it is


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _start(text: str) -> int:
    """Where the document starts: past a leading BOM, which every edit leaves in place."""
    return len(BOM) if text.startswith(BOM) else 0


@dataclass(frozen=True)
class Member:
    key: str
    start: int  # index of the key's opening quote
    value_start: int
    end: int  # index just past the value


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _object_members(text: str, pos: int) -> list[Member] | None:
    """The members of the object whose `{` is at or after whitespace from `pos`."""
    pos = _skip(text, pos)
    if text[pos : pos + 1] != "{":
        return None
    pos = _skip(text, pos + 1)
    found: list[Member] = []
    if text[pos] == "}":
        return found
    while True:
        start = pos
        key, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
        pos = _skip(text, _skip(text, pos) + 1)  # past ':'
        value_start = pos
        _value, pos = _DECODER.raw_decode(text, pos)
        found.append(Member(str(key), start, value_start, pos))
        pos = _skip(text, pos)
        if text[pos] == "}":
            return found
        pos = _skip(text, pos + 1)  # past ','


def members(text: str, within: tuple[str, ...] = ()) -> list[Member] | None:
    """The members of the object at `within` in a JSON text, or None if there is none."""
    try:
        _DECODER.decode(text[_start(text) :])  # validates the whole text first
    except ValueError:
        return None
    found = _object_members(text, _start(text))
    for key in within:
        if found is None:
            return None
        parent = next((m for m in reversed(found) if m.key == key), None)
        if parent is None:
            return None
        found = _object_members(text, parent.value_start)
    return found


def object_span(text: str, within: tuple[str, ...]) -> tuple[int, int] | None:
    """[`{`, just past `}`) of the object at `within` (the whole document for `()`)."""
    if members(text, within) is None:
        return None
    if not within:
        start = _skip(text, _start(text))
        _value, end = _DECODER.raw_decode(text, start)
        return start, end
    parent = next(m for m in reversed(members(text, within[:-1]) or []) if m.key == within[-1])
    return parent.value_start, parent.end


def removal_span(text: str, key: str, within: tuple[str, ...] = ()) -> tuple[int, int] | None:
    """[start, end) to cut so that `key` (its last occurrence) is gone and the rest stays valid."""
    found = members(text, within)
    if found is None:
        return None
    index = max((i for i, m in enumerate(found) if m.key == key), default=None)
    if index is None:
        return None
    member = found[index]
    if index + 1 < len(found):
        return member.start, found[index + 1].start  # the member and its trailing comma
    if index > 0:
        return found[index - 1].end, member.end  # the comma before the last member
    return member.start, member.end


def member_text(text: str, key: str, within: tuple[str, ...] = ()) -> str | None:
    """`"key": value` exactly as written (for re-insertion into a changed file)."""
    for member in reversed(members(text, within) or []):
        if member.key == key:
            return text[member.start : member.end]
    return None


def value_text(text: str, key: str, within: tuple[str, ...] = ()) -> str | None:
    """The value of `key` exactly as written (a Claude login is kept byte for byte)."""
    for member in reversed(members(text, within) or []):
        if member.key == key:
            return text[member.value_start : member.end]
    return None


def insert_member(text: str, member: str, within: tuple[str, ...] = ()) -> str | None:
    """Put a member back as the first one of the object at `within`.

    A missing enclosing object is created (as the first member of its own parent);
    None if `text` is no JSON object or something on the way is not an object.
    """
    found = members(text, within)
    if found is None:
        if not within or members(text, within[:-1]) is None:
            return None
        if any(m.key == within[-1] for m in members(text, within[:-1]) or []):
            return None  # there, but not an object
        return insert_member(text, json.dumps(within[-1]) + ": {" + member + "}", within[:-1])
    span = object_span(text, within)
    if span is None:
        return None
    brace = span[0]
    separator = "," if found else ""
    return text[: brace + 1] + member + separator + text[brace + 1 :]


def upsert_span(text: str, key: str, value: str) -> tuple[int, int, str] | None:
    """(start, end, new): replacing text[start:end] by `new` makes top-level `key` hold
    `value` (JSON text, used as given), every other byte kept; None if `text` is no object.

    A key that is there has its value replaced (the last occurrence: the one parsers
    keep). A new member goes after the last one, spaced like the members already there
    (their indentation, line ending and `": "`), or first into an empty object.
    """
    found = members(text)
    if found is None:
        return None
    for member in reversed(found):
        if member.key == key:
            return member.value_start, member.end, value
    name = json.dumps(key, ensure_ascii=False)
    if not found:
        brace = text.index("{")
        return brace + 1, brace + 1, f"{name}: {value}"
    first, last = found[0], found[-1]
    _key, key_end = json.decoder.scanstring(text, first.start + 1)  # type: ignore[attr-defined]
    colon = text[key_end : first.value_start]
    if len(found) > 1:
        between = text[found[-2].end : last.start]
        lead = between.split(",", 1)[1]
    else:
        lead = text[text.index("{") + 1 : first.start]
    return last.end, last.end, f",{lead}{name}{colon}{value}"


def upsert_member(text: str, key: str, value: str) -> str | None:
    """`text` with top-level `key` set to `value` (JSON text); see `upsert_span`."""
    span = upsert_span(text, key, value)
    if span is None:
        return None
    start, end, new = span
    return text[:start] + new + text[end:]
