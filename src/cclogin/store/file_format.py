"""The encrypted store's byte layout: strict, canonical encode/decode. No cryptography.

docs/store-format.md is the specification. `decode(encode(x)) == x` and every byte
string that decodes re-encodes to itself: there is exactly one encoding per store.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import MalformedStore, UnsupportedVersion
from .kdf import KEY_LEN, NONCE_LEN, SALT_LEN, TAG_LEN, KdfParams

MAGIC = b"\x89CCLOG\r\n"
VERSION = 1
KDF_ARGON2ID = 1
MAC_LEN = 32
MAX_FILE = 8 << 20
WRAPPED_LEN = KEY_LEN + TAG_LEN
# magic, version, kdf id, memory, iterations, lanes, salt: the wrap's AAD.
_PARAMS = struct.Struct(">8sBBIII")
WRAP_AAD_LEN = _PARAMS.size + SALT_LEN  # 38
HEADER_LEN = WRAP_AAD_LEN + NONCE_LEN + WRAPPED_LEN  # 98


@dataclass(frozen=True)
class Header:
    kdf: KdfParams
    salt: bytes
    wrap_nonce: bytes
    wrapped_key: bytes

    def wrap_aad(self) -> bytes:
        k = self.kdf
        fixed = _PARAMS.pack(MAGIC, VERSION, KDF_ARGON2ID, k.memory_kib, k.iterations, k.lanes)
        return fixed + self.salt

    def encode(self) -> bytes:
        return self.wrap_aad() + self.wrap_nonce + self.wrapped_key


@dataclass(frozen=True)
class Record:
    name: str
    nonce: bytes
    ciphertext: bytes  # AES-GCM output, tag included

    def aad(self) -> bytes:
        return record_aad(self.name)


def record_aad(name: str) -> bytes:
    return MAGIC + bytes([VERSION]) + name.encode("utf-8")


@dataclass(frozen=True)
class StoreFile:
    header: Header
    records: tuple[Record, ...]
    mac: bytes

    def body(self) -> bytes:
        """Every byte the file MAC covers."""
        return encode_body(self.header, self.records)

    def encode(self) -> bytes:
        return self.body() + self.mac

    def find(self, name: str) -> Record | None:
        for record in self.records:
            if record.name == name:
                return record
        return None


def encode_body(header: Header, records: tuple[Record, ...]) -> bytes:
    """Header and records, ready to MAC. Records must already be strictly sorted."""
    _check_lengths(header)
    parts = [header.encode(), struct.pack(">I", len(records))]
    previous: bytes | None = None
    for record in records:
        name = record.name.encode("utf-8")
        if not 0 < len(name) <= 0xFFFF:
            raise ValueError("record names are 1..65535 UTF-8 bytes")
        if previous is not None and name <= previous:
            raise ValueError("records must be strictly sorted by UTF-8 name")
        if len(record.nonce) != NONCE_LEN or len(record.ciphertext) < TAG_LEN:
            raise ValueError("bad record nonce or ciphertext length")
        parts += [
            struct.pack(">H", len(name)),
            name,
            record.nonce,
            struct.pack(">I", len(record.ciphertext)),
            record.ciphertext,
        ]
        previous = name
    return b"".join(parts)


def _check_lengths(header: Header) -> None:
    if (
        len(header.salt) != SALT_LEN
        or len(header.wrap_nonce) != NONCE_LEN
        or len(header.wrapped_key) != WRAPPED_LEN
    ):
        raise ValueError("bad header field length")


def sort_records(records: list[Record]) -> tuple[Record, ...]:
    return tuple(sorted(records, key=lambda r: r.name.encode("utf-8")))


class _Reader:
    """Cursor over the file; every shortfall is one MalformedStore."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise MalformedStore(f"the encrypted store is truncated (in the {what})")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u16(self, what: str) -> int:
        value: int = struct.unpack(">H", self.take(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = struct.unpack(">I", self.take(4, what))[0]
        return value


def decode(data: bytes) -> StoreFile:
    """Parse the whole file strictly. KDF limits are kdf.check_params's job."""
    if len(data) > MAX_FILE:
        raise MalformedStore(f"the encrypted store is larger than {MAX_FILE} bytes")
    if data[: len(MAGIC)] != MAGIC:
        raise MalformedStore("the file is not a cclogin encrypted store (wrong magic)")
    r = _Reader(data)
    r.take(len(MAGIC), "magic")
    version = r.take(1, "version")[0]
    if version != VERSION:
        raise UnsupportedVersion(f"the encrypted store has format version {version}")
    if r.take(1, "header")[0] != KDF_ARGON2ID:
        raise MalformedStore("the encrypted store names an unknown key-derivation function")
    kdf = KdfParams(r.u32("header"), r.u32("header"), r.u32("header"))
    header = Header(
        kdf=kdf,
        salt=r.take(SALT_LEN, "header"),
        wrap_nonce=r.take(NONCE_LEN, "wrapped key"),
        wrapped_key=r.take(WRAPPED_LEN, "wrapped key"),
    )
    records = tuple(_records(r))
    mac = r.take(MAC_LEN, "file MAC")
    if r.pos != len(data):
        raise MalformedStore("the encrypted store has bytes after its end")
    return StoreFile(header, records, mac)


def _records(r: _Reader) -> list[Record]:
    count = r.u32("record count")
    records: list[Record] = []
    previous: bytes | None = None
    for _ in range(count):  # bounded: each record consumes at least 34 bytes
        name_len = r.u16("record header")
        if name_len == 0:
            raise MalformedStore("the encrypted store has a record with an empty name")
        raw_name = r.take(name_len, "record name")
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            msg = "the encrypted store has a record name that is not UTF-8"
            raise MalformedStore(msg) from None
        if previous is not None and raw_name <= previous:
            raise MalformedStore(
                "the encrypted store's records are not strictly sorted (or a name repeats)"
            )
        nonce = r.take(NONCE_LEN, "record header")
        ct_len = r.u32("record header")
        if ct_len < TAG_LEN:
            raise MalformedStore("the encrypted store has a record shorter than its tag")
        records.append(Record(name, nonce, r.take(ct_len, "record ciphertext")))
        previous = raw_name
    return records
