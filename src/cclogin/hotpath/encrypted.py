"""The encrypted file's record for the lean `token`, opened with the unlock cache.

`cclogin unlock` left the store's data key in the kernel keyring; this module does
what store/encrypted_file.py `get` does with it, step for step, and no more:

    read_private(store, MAX_FILE)        -> token._read_private (owner, mode, no
                                            symlink, regular file, size cap)
    file_format.decode + check_params    -> `_find`: the whole file parsed strictly
    unlock_cache.description + load      -> `_cached_key`: request_key(2), keyctl READ
    subkeys (HKDF-SHA256)                -> `_subkeys`: stdlib HMAC-SHA256 (_hashlib)
    the file MAC, then the record        -> HMAC-SHA256 compared in constant time, then
                                            cryptography's AES-256-GCM (record AAD)

Every doubt is None and the full path answers (it also drops a key that does not
verify, names a malformed file, asks for a passphrase). No value leaves here before
the file MAC verified. Imports (only on this branch, tests/test_imports.py): `_ctypes`
(already loaded by cli/entry.py), `_hashlib`, and cryptography's Rust binding that
holds the AESGCM class (`cryptography.hazmat.primitives.ciphers.aead.AESGCM` is this
very class; its module costs ~10 ms more, in typing and re).
"""

import os

MAGIC = b"\x89CCLOG\r\n"  # store/file_format.py
VERSION = 1
KDF_ARGON2ID = 1
MAX_FILE = 8 << 20
HEADER_LEN = 98  # file_format.HEADER_LEN: wrap AAD (38) + nonce (12) + wrapped key (48)
NONCE_LEN, TAG_LEN, MAC_LEN, KEY_LEN = 12, 16, 32, 32
# store/kdf.py: FLOOR, TEST_FLOOR (with CCLOGIN_TEST_ONLY_WEAK_KDF=1), CEILING.
FLOOR, TEST_FLOOR, CEILING = (65536, 3), (8, 1), (1 << 20, 10, 16)
WEAK_KDF_ENV = "CCLOGIN_TEST_ONLY_WEAK_KDF"
RECORD_INFO, MAC_INFO = b"cclogin record key", b"cclogin file mac"  # kdf.py subkeys
UNLOCK_PREFIX = "cclogin:unlock:v1:"  # store/unlock_cache.py
PAYLOAD_LEN, PAYLOAD_VERSION = 41, 1  # unlock_cache.py _PAYLOAD_LEN, _PAYLOAD_VERSION
_KEYCTL_READ = 11
# (request_key, keyctl) by machine: unlock_cache.py _SYSCALLS.
_SYSCALLS = {
    "x86_64": (249, 250),
    "i686": (287, 288),
    "i386": (287, 288),
    "aarch64": (218, 219),
    "riscv64": (218, 219),
    "loongarch64": (218, 219),
    "armv7l": (310, 311),
    "armv8l": (310, 311),
    "ppc64le": (270, 271),
    "ppc64": (270, 271),
    "s390x": (279, 280),
}


def read_record(store_path: str, name: str, env: "os._Environ[str]") -> bytes | None:
    """The value of record `name` in the store at `store_path`, opened with the cached
    data key; None for anything the full path must handle."""
    from . import token

    data = token._read_private(store_path, MAX_FILE)
    if data is None:
        return None
    found = _find(data, name.encode("utf-8"), env.get(WEAK_KDF_ENV) == "1")
    if found is None:
        return None
    nonce, ciphertext = found
    data_key = _cached_key(store_path, data[:HEADER_LEN])
    if data_key is None:
        return None
    import _hashlib

    record_key, mac_key = _subkeys(data_key)
    mac = _hashlib.hmac_digest(mac_key, data[:-MAC_LEN], "sha256")
    if not _hashlib.compare_digest(mac, data[-MAC_LEN:]):
        return None  # stale or planted: the full path drops it
    aad = MAGIC + bytes([VERSION]) + name.encode("utf-8")  # file_format.record_aad
    return _decrypt(record_key, nonce, ciphertext, aad)


def _decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes | None:
    """cryptography's AESGCM(key).decrypt, or None (InvalidTag: the full path reports
    StoreCorrupt; no binding: the full path imports the public module)."""
    try:
        from cryptography.hazmat.bindings._rust import openssl

        value = openssl.aead.AESGCM(key).decrypt(nonce, ciphertext, aad)
    except Exception:
        return None
    return value if isinstance(value, bytes) else None


def _u(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos : pos + size], "big")


def _header_ok(data: bytes, weak: bool) -> bool:
    """file_format.decode's header checks and kdf.check_params (structure, ceiling,
    floor): True only where both accept."""
    if len(data) > MAX_FILE or len(data) < HEADER_LEN + 4 + MAC_LEN:
        return False
    if data[:8] != MAGIC or data[8] != VERSION or data[9] != KDF_ARGON2ID:
        return False
    memory, iterations, lanes = _u(data, 10, 4), _u(data, 14, 4), _u(data, 18, 4)
    if lanes < 1 or iterations < 1 or memory < 8 * lanes:
        return False
    if memory > CEILING[0] or iterations > CEILING[1] or lanes > CEILING[2]:
        return False
    floor = TEST_FLOOR if weak else FLOOR
    return memory >= floor[0] and iterations >= floor[1]


def _find(data: bytes, wanted: bytes, weak: bool) -> tuple[bytes, bytes] | None:  # noqa: PLR0911
    """file_format.decode and kdf.check_params, accepting only what they accept:
    (nonce, ciphertext) of the record named `wanted`, or None."""
    if not _header_ok(data, weak):
        return None
    end = len(data) - MAC_LEN
    count, pos = _u(data, HEADER_LEN, 4), HEADER_LEN + 4
    previous = b""
    found = None
    for _ in range(count):
        if pos + 2 > end:
            return None
        name_len = _u(data, pos, 2)
        pos += 2
        if name_len == 0 or pos + name_len + NONCE_LEN + 4 > end:
            return None
        raw = data[pos : pos + name_len]
        pos += name_len
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if previous and raw <= previous:
            return None
        nonce = data[pos : pos + NONCE_LEN]
        ct_len = _u(data, pos + NONCE_LEN, 4)
        pos += NONCE_LEN + 4
        if ct_len < TAG_LEN or pos + ct_len > end:
            return None
        if raw == wanted:
            found = (nonce, data[pos : pos + ct_len])
        pos += ct_len
        previous = raw
    if pos != end:
        return None
    return found


def _subkeys(data_key: bytes) -> tuple[bytes, bytes]:
    """kdf.py `subkeys`: HKDF-SHA256 (RFC 5869), no salt (HashLen zeros), one block of
    32 bytes per info: T(1) = HMAC(HMAC(zeros, DK), info || 0x01)."""
    import _hashlib

    prk = _hashlib.hmac_digest(bytes(32), data_key, "sha256")
    return (
        _hashlib.hmac_digest(prk, RECORD_INFO + b"\x01", "sha256"),
        _hashlib.hmac_digest(prk, MAC_INFO + b"\x01", "sha256"),
    )


def _cached_key(store_path: str, header: bytes) -> bytes | None:
    """unlock_cache.py `description` and `load`: the data key this process possesses
    for exactly this store (real path and header), or None."""
    import _hashlib

    real = os.fsencode(os.path.realpath(store_path))
    digest = _hashlib.openssl_sha256(b"cclogin unlock v1\0" + real + b"\0" + header)
    desc = (UNLOCK_PREFIX + digest.hexdigest()[:32]).encode()
    numbers = _SYSCALLS.get(os.uname().machine)
    if numbers is None:
        return None
    try:
        payload = _request_and_read(numbers, desc)
    except Exception:
        return None
    if payload is None or len(payload) != PAYLOAD_LEN or payload[0] != PAYLOAD_VERSION:
        return None
    return payload[9:]


def _request_and_read(numbers: tuple[int, int], desc: bytes) -> bytes | None:
    """request_key(2) ("user", desc, no callout, no destination), then keyctl READ."""
    import _ctypes

    class _Long(_ctypes._SimpleCData):  # type: ignore[type-arg]
        _type_ = "l"

    class _Ptr(_ctypes._SimpleCData):  # type: ignore[type-arg]
        _type_ = "P"

    class _Char(_ctypes._SimpleCData):  # type: ignore[type-arg]
        _type_ = "c"

    class _Buffer(_ctypes.Array):  # type: ignore[type-arg]
        _type_ = _Char
        _length_ = 4096

    class _Func(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL
        _restype_ = _Long

    libc = _ctypes.dlopen(None)  # type: ignore[arg-type]  # the running process
    fn = _Func(_ctypes.dlsym(libc, "syscall"))
    fn.argtypes = (_Long, _Ptr, _Ptr, _Ptr, _Ptr, _Ptr)
    request, keyctl = numbers
    serial = int(fn(request, b"user", desc, None, 0, 0))
    if serial == -1:
        return None
    buf = _Buffer()
    size = int(fn(keyctl, _KEYCTL_READ, serial, buf, len(buf), 0))
    if size < 0 or size > len(buf):
        return None
    return bytes(memoryview(buf)[:size])
