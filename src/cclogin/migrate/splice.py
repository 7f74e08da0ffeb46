"""A file's bytes with a few edits, kept as views into the bytes read: no copy.

Removing a 100-byte member from a 100 MB `~/.claude.json` as `data[:a] + data[b:]`
copies the file twice over; a `Spliced` keeps `[view(data)[:a], view(data)[b:]]`, hashes
those pieces and writes them out (`fsio.atomic_write` takes pieces) as they are.
"""

from __future__ import annotations

import hashlib

Piece = bytes | memoryview


class Spliced:
    def __init__(self, data: bytes | memoryview) -> None:
        self.pieces: list[Piece] = [memoryview(data)] if len(data) else []

    def __len__(self) -> int:
        return sum(len(p) for p in self.pieces)

    def _split(self, offset: int) -> int:
        """Split the pieces at `offset`; the index of the first piece at or after it."""
        at = 0
        for i, piece in enumerate(self.pieces):
            if offset == at:
                return i
            if offset < at + len(piece):
                view = memoryview(piece)
                self.pieces[i : i + 1] = [view[: offset - at], view[offset - at :]]
                return i + 1
            at += len(piece)
        if offset != at:
            raise IndexError(f"offset {offset} is past the end ({at})")
        return len(self.pieces)

    def replace(self, offset: int, length: int, new: bytes) -> bytes:
        """Put `new` in place of the `length` bytes at `offset`; returns those bytes."""
        first = self._split(offset)
        last = self._split(offset + length)
        old = b"".join(self.pieces[first:last])
        self.pieces[first:last] = [new] if new else []
        return old

    def slice(self, start: int, end: int) -> bytes:
        """A copy of [start, end) (small spans only: the edits' own bytes)."""
        out: list[Piece] = []
        at = 0
        for piece in self.pieces:
            lo, hi = max(start - at, 0), min(end - at, len(piece))
            if lo < hi:
                out.append(memoryview(piece)[lo:hi])
            at += len(piece)
        return b"".join(out)

    def digest(self) -> str:
        h = hashlib.sha256()
        for piece in self.pieces:
            h.update(piece)
        return h.hexdigest()

    def startswith(self, prefix: bytes) -> bool:
        return self.slice(0, len(prefix)) == prefix

    def tobytes(self) -> bytes:
        """One copy of the whole (small files, or where a caller must have bytes)."""
        return b"".join(self.pieces)
