"""Write the encrypted-store test vectors, deterministically (docs/store-format.md).

    .venv/bin/python tests/vectors/generate.py          # rewrites tests/vectors/*.txt

Fixed salt, nonces and data key through the private `_build_file` seam, test-only
KDF cost (one vector uses the real default). The test suite re-runs `build_all()` and
compares byte for byte, so a format change cannot slip in without new vectors.
"""

from __future__ import annotations

import base64
import struct
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from cclogin.secret import Secret
from cclogin.store.encrypted_file import _build_file, _mac
from cclogin.store.file_format import HEADER_LEN, MAGIC, decode
from cclogin.store.kdf import DEFAULT, TEST_DEFAULT, KdfParams, subkeys

HERE = Path(__file__).resolve().parent
PASS = "vector-pass"
SALT = bytes(range(16))
WRAP_NONCE = bytes([0xA0] * 12)
DATA_KEY = bytes(range(0x40, 0x60))
KEYS = subkeys(DATA_KEY)
N_A, N_B, N_OLD = bytes([1] * 12), bytes([2] * 12), bytes([3] * 12)
RECORDS = [("profile:a", N_A, b"value-a"), ("profile:b", N_B, b"value-b")]


def build(
    records: list[tuple[str, bytes, bytes]] = RECORDS, params: KdfParams = TEST_DEFAULT
) -> bytes:
    return _build_file(
        Secret(PASS), params, salt=SALT, wrap_nonce=WRAP_NONCE, data_key=DATA_KEY,
        records=records,
    )


VALID = build()
# Offsets into VALID (two records named profile:a / profile:b, values of 7 bytes).
COUNT_AT = HEADER_LEN  # 98
REC_A = COUNT_AT + 4  # 102: u16 len, 9-byte name, 12 nonce, u32 len, 23 ciphertext
REC_LEN = 2 + 9 + 12 + 4 + 7 + 16
REC_B = REC_A + REC_LEN
MAC_AT = len(VALID) - 32


def raw_record(name: bytes, nonce: bytes, ct: bytes) -> bytes:
    """Unchecked record encoding, so non-canonical files can be written."""
    return struct.pack(">H", len(name)) + name + nonce + struct.pack(">I", len(ct)) + ct


def with_mac(body: bytes) -> bytes:
    """A valid MAC: what only a holder of the data key could produce."""
    return body + _mac(KEYS, body)


def records_of(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    return [(r.name.encode(), r.nonce, r.ciphertext) for r in decode(data).records]


def rebuild(records: list[tuple[bytes, bytes, bytes]], *, mac: bool = True) -> bytes:
    body = VALID[:COUNT_AT] + struct.pack(">I", len(records))
    body += b"".join(raw_record(*r) for r in records)
    return with_mac(body) if mac else body + VALID[MAC_AT:]


def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    return data[:offset] + bytes([data[offset] ^ (1 << bit)]) + data[offset + 1 :]


def set_u32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack(">I", value) + data[offset + 4 :]


def swapped_ciphertexts(*, mac: bool) -> bytes:
    (na, nonce_a, ct_a), (nb, nonce_b, ct_b) = records_of(VALID)
    return rebuild([(na, nonce_b, ct_b), (nb, nonce_a, ct_a)], mac=mac)


def from_older_file() -> bytes:
    """profile:a's record taken from an earlier version of the same store."""
    older = records_of(build([("profile:a", N_OLD, b"old-a"), RECORDS[1]]))
    current = records_of(VALID)
    body = rebuild([older[0], current[1]], mac=False)
    return body[:-32] + VALID[MAC_AT:]


# After `cclogin passphrase` (a re-key): a new passphrase, salt, wrap nonce and data key,
# every record re-encrypted under a fresh nonce.
NEW_PASS = "vector-pass-2"
NEW_SALT = bytes(range(0x10, 0x20))
NEW_WRAP_NONCE = bytes([0xB0] * 12)
NEW_DATA_KEY = bytes(range(0x80, 0xA0))
N_A2, N_B2 = bytes([4] * 12), bytes([5] * 12)


def rekeyed() -> bytes:
    return _build_file(
        Secret(NEW_PASS), TEST_DEFAULT, salt=NEW_SALT, wrap_nonce=NEW_WRAP_NONCE,
        data_key=NEW_DATA_KEY,
        records=[("profile:a", N_A2, b"value-a"), ("profile:b", N_B2, b"value-b")],
    )


def rekeyed_record_under_old_header() -> bytes:
    """All that the old passphrase and an old copy allow: the old header (whose DK they
    unwrap), records written after the re-key, and a MAC recomputed with the old DK."""
    return with_mac(VALID[:COUNT_AT] + rekeyed()[COUNT_AT:-32])


Case = tuple[str, str, Callable[[], bytes], dict[str, str]]
CASES: list[Case] = [
    # name, expected error, bytes, extra header lines
    ("valid-two-records", "ok", lambda: VALID, {}),
    ("valid-empty-store", "ok", lambda: build([]), {}),
    ("valid-production-cost", "ok", lambda: build(params=DEFAULT), {"kdf-floor": "production"}),
    ("truncated-empty-file", "MalformedStore", lambda: b"", {}),
    ("truncated-in-magic", "MalformedStore", lambda: VALID[:4], {}),
    ("truncated-in-header", "MalformedStore", lambda: VALID[:20], {}),
    ("truncated-in-wrapped-key", "MalformedStore", lambda: VALID[:70], {}),
    ("truncated-in-record-count", "MalformedStore", lambda: VALID[: COUNT_AT + 2], {}),
    ("truncated-in-record-header", "MalformedStore", lambda: VALID[: REC_A + 1], {}),
    ("truncated-in-record-name", "MalformedStore", lambda: VALID[: REC_A + 5], {}),
    ("truncated-in-ciphertext", "MalformedStore", lambda: VALID[: REC_A + 30], {}),
    ("truncated-in-mac", "MalformedStore", lambda: VALID[:-10], {}),
    ("wrong-magic", "MalformedStore", lambda: b"\x89CCLOG\n\n" + VALID[8:], {}),
    ("unknown-version", "UnsupportedVersion", lambda: MAGIC + b"\x02" + VALID[9:], {}),
    ("unknown-kdf-id", "MalformedStore", lambda: VALID[:9] + b"\x02" + VALID[10:], {}),
    ("zero-lanes", "MalformedStore", lambda: set_u32(VALID, 18, 0), {}),
    ("zero-iterations", "MalformedStore", lambda: set_u32(VALID, 14, 0), {}),
    ("memory-below-argon2-minimum", "MalformedStore", lambda: set_u32(VALID, 10, 7), {}),
    ("cost-memory-above-ceiling", "CostTooHigh", lambda: set_u32(VALID, 10, (1 << 20) + 1), {}),
    ("cost-iterations-above-ceiling", "CostTooHigh", lambda: set_u32(VALID, 14, 11), {}),
    ("cost-lanes-above-ceiling", "CostTooHigh",
     lambda: set_u32(set_u32(VALID, 10, 1024), 18, 17), {}),
    ("cost-max-u32", "CostTooHigh", lambda: set_u32(VALID, 10, 0xFFFFFFFF), {}),
    ("cost-below-floor", "MalformedStore", lambda: VALID, {"kdf-floor": "production"}),
    ("names-unsorted", "MalformedStore", lambda: rebuild(records_of(VALID)[::-1]), {}),
    ("name-duplicate", "MalformedStore",
     lambda: rebuild([records_of(VALID)[0], records_of(VALID)[0]]), {}),
    ("name-empty", "MalformedStore", lambda: rebuild([(b"", N_A, bytes(23))]), {}),
    ("name-not-utf8", "MalformedStore", lambda: rebuild([(b"profile:\xff", N_A, bytes(23))]), {}),
    ("name-utf8-surrogate", "MalformedStore",
     lambda: rebuild([(b"profile:\xed\xa0\x80", N_A, bytes(23))]), {}),
    ("ciphertext-shorter-than-tag", "MalformedStore",
     lambda: rebuild([(b"profile:a", N_A, bytes(15))]), {}),
    ("record-count-too-high", "MalformedStore", lambda: set_u32(VALID, COUNT_AT, 3), {}),
    ("record-count-too-low", "MalformedStore", lambda: set_u32(VALID, COUNT_AT, 1), {}),
    ("trailing-byte", "MalformedStore", lambda: VALID + b"\x00", {}),
    ("wrong-passphrase", "WrongPassphrase", lambda: VALID, {"passphrase": "not-the-pass"}),
    ("flipped-bit-in-salt", "WrongPassphrase", lambda: flip(VALID, 30), {}),
    ("flipped-bit-in-cost", "WrongPassphrase", lambda: flip(VALID, 13, 3), {}),
    ("flipped-bit-in-wrap-nonce", "WrongPassphrase", lambda: flip(VALID, 40), {}),
    ("flipped-bit-in-wrapped-key", "WrongPassphrase", lambda: flip(VALID, 60), {}),
    ("flipped-bit-in-record", "StoreCorrupt", lambda: flip(VALID, REC_A + 30), {}),
    ("flipped-bit-in-other-record", "StoreCorrupt", lambda: flip(VALID, REC_B + 30), {}),
    ("flipped-bit-in-mac", "StoreCorrupt", lambda: flip(VALID, MAC_AT + 5), {}),
    ("records-swapped", "StoreCorrupt", lambda: swapped_ciphertexts(mac=False), {}),
    ("records-swapped-mac-forged", "StoreCorrupt", lambda: swapped_ciphertexts(mac=True), {}),
    ("record-dropped", "StoreCorrupt", lambda: rebuild(records_of(VALID)[1:], mac=False), {}),
    ("record-from-older-file", "StoreCorrupt", from_older_file, {}),
    ("rekeyed-valid", "ok", rekeyed, {"passphrase": NEW_PASS}),
    ("rekeyed-old-passphrase", "WrongPassphrase", rekeyed, {}),
    ("rekeyed-record-under-old-header", "StoreCorrupt", rekeyed_record_under_old_header, {}),
]

COMMENTS = {
    "valid-two-records": "two records at the test-only KDF cost",
    "valid-empty-store": "every secret deleted: the header and an empty record list",
    "valid-production-cost": "RFC 9106 default cost (64 MiB, t=3, p=4), real floor",
    "cost-below-floor": "a valid test-cost file read with the production floor",
    "wrong-passphrase": "a valid file opened with another passphrase",
    "flipped-bit-in-cost": "memory 64 -> 72 KiB: in range, but bound by the wrap AAD",
    "records-swapped": "the two ciphertexts exchanged between names; MAC left as is",
    "records-swapped-mac-forged": "ciphertexts exchanged and the MAC recomputed with the "
    "data key: only the record AAD (the name) catches it",
    "record-dropped": "profile:a removed, count fixed, old MAC kept",
    "record-from-older-file": "profile:a's record from an earlier write of the same store",
    "record-count-too-high": "count 3 with two records: the MAC is parsed as a record",
    "record-count-too-low": "count 1 with two records: bytes after the MAC",
    "rekeyed-valid": "the file after a passphrase change: new passphrase, new data key, "
    "every record re-encrypted",
    "rekeyed-old-passphrase": "a re-keyed file opened with the passphrase it had before",
    "rekeyed-record-under-old-header": "records written after a re-key under the old "
    "header, MAC forged with the old data key: the old passphrase decrypts nothing",
}


def render(name: str, expect: str, data: bytes, extra: dict[str, str]) -> str:
    lines = [
        f"expect: {expect}",
        f"passphrase: {extra.get('passphrase', PASS)}",
        f"get: {extra.get('get', 'profile:a')}",
        f"kdf-floor: {extra.get('kdf-floor', 'test')}",
        f"comment: {COMMENTS.get(name, name.replace('-', ' '))}",
    ]
    if expect == "ok":
        for rec in decode(data).records:
            value = dict((n, v) for n, _, v in [*RECORDS]).get(rec.name, b"")
            lines.append(f"record: {rec.name} {base64.b64encode(value).decode()}")
    body = base64.b64encode(data).decode()
    return "\n".join([*lines, "", *textwrap.wrap(body, 76)]) + "\n"


def build_all() -> dict[str, str]:
    return {f"{name}.txt": render(name, expect, make(), extra) for name, expect, make, extra in CASES}


def main(out: Path = HERE) -> None:
    for old in out.glob("*.txt"):
        old.unlink()
    for filename, text in build_all().items():
        (out / filename).write_text(text)
    print(f"wrote {len(CASES)} vectors to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
