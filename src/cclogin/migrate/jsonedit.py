"""Remove or re-insert one top-level member of a JSON object, leaving every other byte.

Claude Code's files hold settings and other tools' keys beside the secret; re-dumping
the document would reformat all of it. These edits work on the text instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Member:
    key: str
    start: int  # index of the key's opening quote
    value_start: int
    end: int  # index just past the value


def members(text: str) -> list[Member] | None:
    """The top-level members of a JSON object text, or None if it is not one."""
    try:
        _DECODER.decode(text)  # validates the whole text first
    except ValueError:
        return None
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != "{":
        return None
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    found: list[Member] = []
    if text[pos] == "}":
        return found
    while True:
        start = pos
        key, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]  # past ':'
        value_start = pos
        _value, pos = _DECODER.raw_decode(text, pos)
        found.append(Member(str(key), start, value_start, pos))
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos] == "}":
            return found
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]  # past ','


def removal_span(text: str, key: str) -> tuple[int, int] | None:
    """[start, end) to cut so that `key` (its last occurrence) is gone and the rest stays valid."""
    found = members(text)
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


def member_text(text: str, key: str) -> str | None:
    """`"key": value` exactly as written (for re-insertion into a changed file)."""
    found = members(text)
    if found is None:
        return None
    for member in reversed(found):
        if member.key == key:
            return text[member.start : member.end]
    return None


def value_text(text: str, key: str) -> str | None:
    """The value of `key` exactly as written (a Claude login is kept byte for byte)."""
    found = members(text)
    if found is None:
        return None
    for member in reversed(found):
        if member.key == key:
            return text[member.value_start : member.end]
    return None


def insert_member(text: str, member: str) -> str | None:
    """Put a member back as the first one of the object; None if `text` is no object."""
    found = members(text)
    if found is None:
        return None
    brace = text.index("{")
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
