"""How a byte blob becomes keychain entries, and back. Pure: no keyring here.

Keychains store text, and some store little of it (Windows Credential Manager: 2,560
bytes, i.e. 1,280 UTF-16 characters). A value is base64url-encoded behind a version
prefix. If the text fits one entry it is stored in the key's own entry:

    cl1:<base64url>

Otherwise the key's entry becomes a header and the text is split into chunk entries
whose names carry a generation tag taken from the value's digest:

    <key>                 cl1c:<count>:<sha256 hex of the value>
    <key>#<gen>.<i>       the i-th slice of the base64url text, i = 0..count-1

A write stores the chunks, then the header (the commit point), then deletes the
previous generation's chunks; a crash at any point leaves the old or the new value
readable, never a mix. Every entry is read back before it counts, so a backend that
truncates is caught; a key entry that reads back as another complete cclogin entry was
written by someone else in between (`Superseded`): that value is kept, never undone.
cclogin's own writers take a per-key lock (os_keyring), so they never interleave. `#` cannot appear in a store key, so chunk names never collide
with keys. An unchanged value is never rewritten (macOS re-prompts on each rewrite).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import NamedTuple, Protocol

from ..errors import StoreCorrupt, StoreError, ValueTooLarge

SINGLE = "cl1:"
HEADER = "cl1c:"
MAX_VALUE_BYTES = 256 * 1024  # credentials are a few KB; this bounds chunk counts
GEN_LEN = 16
_HEADER_RE = re.compile(r"cl1c:([1-9][0-9]{0,5}):([0-9a-f]{64})")  # fullmatch only
_B64_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")  # fullmatch only


class TextSlots(Protocol):
    """Named text entries in one keychain service (what keyring offers, minus errors)."""

    def read(self, name: str) -> str | None: ...

    def write(self, name: str, text: str) -> None: ...

    def remove(self, name: str) -> bool: ...


class Layout(NamedTuple):
    """What the key's own entry says about where the value lives."""

    chunks: int  # 0: the value is inline in the key's entry
    digest: str  # sha256 hex of the value ("" when inline)

    @property
    def generation(self) -> str:
        return self.digest[:GEN_LEN]


def encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode("ascii")


def decode(text: str) -> bytes:
    if not _B64_RE.fullmatch(text):
        raise StoreCorrupt("a keychain entry is not valid base64url")
    try:
        return base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError):
        raise StoreCorrupt("a keychain entry is not valid base64url") from None


def digest(value: bytes) -> str:
    # hashlib/hmac are imported where used: single-entry reads (the `cclogin token`
    # hot path) need neither, and they cost ~2.5 ms to import.
    import hashlib

    return hashlib.sha256(value).hexdigest()


def chunk_name(key: str, generation: str, index: int) -> str:
    return f"{key}#{generation}.{index}"


def planned_chunk_names(key: str, value: bytes, entry_chars: int) -> list[str]:
    """The chunk entries `write_value` will create for `value` (none if it fits in one)."""
    text = encode(value)
    if len(SINGLE) + len(text) <= entry_chars:
        return []
    generation = digest(value)[:GEN_LEN]
    return [chunk_name(key, generation, i) for i in range(len(split(text, entry_chars)))]


def split(text: str, size: int) -> list[str]:
    if size < 1:
        raise ValueError("chunk size must be positive")
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def parse_entry(text: str) -> Layout | bytes:
    """The key's entry: the value itself (inline) or a Layout pointing at chunks."""
    if text.startswith(SINGLE):
        return decode(text[len(SINGLE) :])
    match = _HEADER_RE.fullmatch(text)
    if match:
        return Layout(int(match.group(1)), match.group(2))
    raise StoreCorrupt(
        "a keychain entry under the service 'cclogin' is not in cclogin's format",
        "something else wrote it; delete the entry (or log in again to replace it)",
    )


def read_value(slots: TextSlots, key: str) -> bytes | None:
    entry = slots.read(key)
    if entry is None:
        return None
    parsed = parse_entry(entry)
    if isinstance(parsed, bytes):
        return parsed
    parts: list[str] = []
    for i in range(parsed.chunks):
        part = slots.read(chunk_name(key, parsed.generation, i))
        if part is None:
            raise StoreCorrupt(f"chunk {i + 1} of {parsed.chunks} of {key!r} is missing")
        parts.append(part)
    value = decode("".join(parts))
    import hmac

    if not hmac.compare_digest(digest(value), parsed.digest):
        raise StoreCorrupt(f"the chunks of {key!r} do not match their digest")
    return value


def _current_layout(slots: TextSlots, key: str) -> tuple[bytes | None, Layout | None]:
    """(current value if readable, current chunk layout if chunked); tolerates damage."""
    entry = slots.read(key)
    if entry is None:
        return None, None
    try:
        parsed = parse_entry(entry)
    except StoreCorrupt:
        return None, None
    if isinstance(parsed, bytes):
        return parsed, None
    try:
        return read_value(slots, key), parsed
    except StoreCorrupt:
        return None, parsed


class Superseded(StoreError):
    """The entry read back whole but different: another writer got in between (one that
    does not take cclogin's per-key lock). Its value is committed; we must not undo it."""


def _write_checked(slots: TextSlots, name: str, text: str) -> None:
    slots.write(name, text)
    back = slots.read(name)
    if back is not None and back != text and "#" not in name and not text.startswith(back):
        try:
            parse_entry(back)
        except StoreCorrupt:
            pass  # not a cclogin entry: altered, reported below
        else:
            raise Superseded(
                f"another program wrote {name!r} while cclogin was writing it; "
                "its value was kept",
                "run the command again if yours should win",
            )
    if back != text:
        got = "nothing" if back is None else f"{len(back)} of {len(text)} characters"
        raise StoreError(
            f"the keychain did not keep what was written to {name.partition('#')[0]!r} "
            f"(read back {got})",
            "the backend truncated or altered the entry; report this with "
            "`cclogin doctor --json`, or use the encrypted-file backend",
        )


def write_value(slots: TextSlots, key: str, value: bytes, entry_chars: int) -> bool:
    """Store `value` under `key`; False when it was already stored (nothing written)."""
    if len(value) > MAX_VALUE_BYTES:
        raise ValueTooLarge(f"the value is {len(value)} bytes; at most {MAX_VALUE_BYTES}")
    old_value, old_layout = _current_layout(slots, key)
    import hmac

    if old_value is not None and hmac.compare_digest(old_value, value):
        return False
    text = encode(value)
    if len(SINGLE) + len(text) <= entry_chars:
        try:
            _write_checked(slots, key, SINGLE + text)
        except Superseded:
            raise  # never undo what another writer committed
        except StoreError:
            _restore(slots, key, old_value, old_layout)
            raise
    elif not _write_chunked(slots, key, value, text, entry_chars, old_value, old_layout):
        return True  # same chunks were just rewritten in place: nothing to drop
    if old_layout is not None:
        _remove_chunks(slots, key, old_layout)
    return True


def _write_chunked(
    slots: TextSlots,
    key: str,
    value: bytes,
    text: str,
    entry_chars: int,
    old_value: bytes | None,
    old_layout: Layout | None,
) -> bool:
    """Chunks, then the header (the commit point); True if the old chunks are stale."""
    value_digest = digest(value)
    layout = Layout(0, value_digest)
    parts = split(text, entry_chars)
    mine = Layout(len(parts), value_digest)
    for i, part in enumerate(parts):  # the old header still rules until the commit
        _write_checked(slots, chunk_name(key, layout.generation, i), part)
    header = f"{HEADER}{len(parts)}:{value_digest}"
    try:
        _write_checked(slots, key, header)  # the commit point
    except Superseded:
        # Another writer's header rules now: keep it (and the old chunks, which it may
        # name); our own chunks are orphans only if it names another generation.
        current = _current_layout(slots, key)[1]
        if current is None or current.generation != layout.generation:
            _remove_chunks(slots, key, mine, quiet=True)
        raise
    except StoreError:
        _restore(slots, key, old_value, old_layout)
        if old_layout is None or old_layout.generation != layout.generation:
            _remove_chunks(slots, key, mine, quiet=True)
        raise
    return old_layout is None or old_layout.generation != layout.generation


def _restore(
    slots: TextSlots, key: str, old_value: bytes | None, old_layout: Layout | None
) -> None:
    """Best effort after a failed commit: put the previous header or value back."""
    try:
        if old_layout is not None:
            slots.write(key, f"{HEADER}{old_layout.chunks}:{old_layout.digest}")
        elif old_value is not None:
            slots.write(key, SINGLE + encode(old_value))
        else:
            slots.remove(key)  # nothing was there: leave nothing half-written
    except StoreError:
        pass


def _remove_chunks(slots: TextSlots, key: str, layout: Layout, *, quiet: bool = False) -> None:
    for i in range(layout.chunks):
        try:
            slots.remove(chunk_name(key, layout.generation, i))
        except StoreError:
            if not quiet:
                raise


def delete_value(slots: TextSlots, key: str) -> bool:
    """Remove the key's entry and every chunk it points at; False if there was none."""
    entry = slots.read(key)
    if entry is None:
        return False
    layout: Layout | None = None
    try:
        parsed = parse_entry(entry)
        layout = parsed if isinstance(parsed, Layout) else None
    except StoreCorrupt:
        pass  # still delete the damaged entry itself
    slots.remove(key)  # first: the value disappears at once, chunks become orphans
    if layout is not None:
        _remove_chunks(slots, key, layout)
    return True
