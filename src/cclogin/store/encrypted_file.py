"""The encrypted-file backend: the fallback where no OS keychain works.

One file (docs/store-format.md): an Argon2id-wrapped random data key, one AES-256-GCM
record per key, a file MAC. Reads go through fsio.read_private; writes re-read under
the store's lock, are verified, then replaced atomically and read back.

The unwrapped keys are cached per instance (keyed by the exact header bytes), so one
process derives at most once and asks for the passphrase at most once: `unlock()` asks
up front (a command that writes many records, like `migrate`, learns of a wrong
passphrase before it touches anything), a prompt is re-asked on a wrong passphrase
(`PromptSource.attempts` times, like sudo), and a new store's passphrase is chosen once.
The passphrase itself is not kept, only the keys derived from it; Python cannot wipe
bytes, so they live until collected.

On Linux, `cclogin unlock` caches the data key in the kernel keyring (unlock_cache.py);
`_unlock` takes it from there before it would ask for a passphrase, and only once the
file's MAC has verified under it (a stale or planted key is dropped, never trusted).
"""

from __future__ import annotations

import hmac
import os
import sys
from collections.abc import Callable, Sequence
from hashlib import sha256
from pathlib import Path

from ..errors import (
    CcloginError,
    PassphraseUnavailable,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    ValueTooLarge,
    WrongPassphrase,
)
from ..fsio import atomic_write, file_lock, read_private
from ..model import StorageClass
from ..secret import Secret
from .base import StoreInfo, validate_key
from .file_format import (
    MAX_FILE,
    Header,
    Record,
    StoreFile,
    decode,
    encode_body,
    record_aad,
    sort_records,
)
from .kdf import (
    KEY_LEN,
    NONCE_LEN,
    SALT_LEN,
    WEAK_KDF_ENV,
    KdfParams,
    KdfPolicy,
    SubKeys,
    admin_floor,
    admin_new_params,
    check_params,
    derive_kek,
    subkeys,
    unwrap_key,
    wrap_key,
)
from .passphrase import PassphraseSource, PromptSource

MAX_VALUE = 1 << 20
# A change to the record list: returns the new list, or None for "nothing to write".
Change = Callable[[list[Record], SubKeys], list[Record] | None]


class EncryptedFileStore:
    name = "encrypted-file"
    storage_class: StorageClass = "encrypted-file"

    def __init__(
        self,
        path: Path,
        passphrase: PassphraseSource | None,
        *,
        _test_only_kdf: KdfParams | None = None,
    ) -> None:
        self.path = Path(path)
        self._source = passphrase
        self._policy = KdfPolicy.for_store(_test_only_kdf)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._cache: tuple[bytes, SubKeys] | None = None
        # The kernel keyring's unlock cache; off where a passphrase must be proven.
        self._kernel_cache = sys.platform.startswith("linux")
        self._cache_from_kernel = False
        # A new store's header and keys, from a passphrase chosen by unlock() before the
        # file exists; the first write uses them instead of asking again.
        self._fresh: tuple[Header, SubKeys] | None = None
        if isinstance(passphrase, PromptSource) and passphrase.store_path is None:
            passphrase.store_path = self.path  # the prompts name the file they open

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self.path)!r})"

    # --- SecretStore ---------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        validate_key(key)
        current = self._read()
        if current is None:
            return None  # no file: nothing to unlock, no passphrase asked
        admin_floor(current.header.kdf, self.path)  # the admin policy's minimum cost
        keys = self._unlock(current)
        record = current.find(key)
        return None if record is None else _open_record(keys, record, self.path)

    def set(self, key: str, value: bytes) -> None:
        validate_key(key)
        value = bytes(value)
        if len(value) > MAX_VALUE:
            raise ValueTooLarge(
                f"a value of {len(value)} bytes is larger than the encrypted store's "
                f"limit of {MAX_VALUE} bytes"
            )

        def change(records: list[Record], keys: SubKeys) -> list[Record]:
            kept = [r for r in records if r.name != key]
            return [*kept, _seal_record(keys, key, value, os.urandom(NONCE_LEN))]

        self._mutate(change, create=True, check=(key, value))

    def delete(self, key: str) -> bool:
        validate_key(key)

        def change(records: list[Record], keys: SubKeys) -> list[Record] | None:
            kept = [r for r in records if r.name != key]
            return kept if len(kept) != len(records) else None

        return self._mutate(change, create=False, check=(key, None))

    def keys(self) -> list[str]:
        """Record names; no passphrase needed (names are not secret, see the spec)."""
        current = self._read()
        return [] if current is None else [r.name for r in current.records]

    def delete_many(self, keys: list[str]) -> dict[str, bool]:
        """`delete` of every key in one rewrite of the file (store/batch.py): whether
        each existed. Verified as every write is (the new file decodes and opens under
        the key before it replaces the old one, and reads back byte for byte)."""
        wanted = sorted(set(keys))
        for key in wanted:
            validate_key(key)
        existed: set[str] = set()

        def change(records: list[Record], keys: SubKeys) -> list[Record] | None:
            existed.update(r.name for r in records if r.name in wanted)
            kept = [r for r in records if r.name not in existed]
            return kept if len(kept) != len(records) else None

        if wanted:
            self._mutate(change, create=False, check=(wanted[0], None))
        return {key: key in existed for key in keys}

    def present(self, keys: list[str]) -> list[str]:
        """Those of `keys` with a record: one read of the file, no passphrase."""
        names = set(self.keys())
        return [key for key in keys if key in names]

    def describe(self) -> StoreInfo:
        source = self._source.description if self._source else "no passphrase configured"
        return StoreInfo(
            self.name, self.storage_class, f"encrypted file {self.path} (passphrase: {source})"
        )

    # --- beyond the protocol -------------------------------------------------

    def probe(self) -> None:
        """Cheap usability check, no key derivation; raises a StoreError if unusable."""
        folder = self.path.parent
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.is_symlink() and existing == folder:
            raise StoreUnavailable(f"{folder} is a symlink; refusing to use it")
        if os.name == "posix" and existing.exists():
            st = os.stat(existing)
            if existing == folder and st.st_uid != os.getuid():
                raise StoreUnavailable(f"{folder} belongs to another user")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise StoreUnavailable(f"{existing} is not writable")
        current = self._read()  # parses the header if the file exists
        if self._source is None and (current is None or self._from_kernel(current) is None):
            raise self._no_source()

    def unlock(self) -> None:
        """Ask for the passphrase now rather than at the first read or write.

        An existing store is opened (a wrong passphrase is re-asked on a terminal, or
        is an error now) and its keys kept for this process. Where no file exists yet,
        the new passphrase is chosen (asked twice) and its keys derived; the file is
        written with them by the first `set`, and nothing is written if none comes.
        """
        current = self._read()
        if current is not None:
            self._unlock(current)
        elif self._fresh is None:
            self._fresh = self._new_file(self._ask(confirm=True))

    def change_passphrase(self, new_source: PassphraseSource) -> bool:
        """Re-key under a new passphrase: a new random data key, every record re-encrypted.

        Keeping the data key would let anyone with the old passphrase and an old copy
        of the file read every record written after the change (issue 9.6). The old
        passphrase is proven even where the unlock cache holds the key, and the cache
        is dropped afterwards: True when it held one.
        """
        before = self._read()
        if before is None:
            raise StoreUnavailable(
                f"there is no encrypted store at {self.path} yet",
                "nothing to change: the passphrase is set when the first secret is stored",
            )
        self._prove_passphrase()
        self._unlock(before)  # proves the old passphrase before asking for a new one
        if isinstance(new_source, PromptSource) and new_source.store_path is None:
            new_source.store_path = self.path
        new_passphrase = new_source.get(confirm=True)
        params = admin_new_params(self._policy.default, self._policy, self.path)
        check_params(params, self._policy)
        salt, nonce, data_key = os.urandom(SALT_LEN), os.urandom(NONCE_LEN), os.urandom(KEY_LEN)
        kek = derive_kek(new_passphrase, salt, params)  # outside the lock: it is slow
        header = _wrapped_header(kek, params, salt, nonce, data_key)
        new_keys = subkeys(data_key)
        with file_lock(self._lock_path):
            current = self._read()
            if current is None:
                raise StoreUnavailable(f"the encrypted store {self.path} was removed meanwhile")
            old_keys = self._unlock(current)
            values = {r.name: _open_record(old_keys, r, self.path) for r in current.records}
            records = [
                _seal_record(new_keys, name, value, os.urandom(NONCE_LEN))
                for name, value in values.items()
            ]
            data = _assemble(header, sort_records(records), new_keys)
            self._verify(data, new_keys, header, every=values)
            self._write(data)
        self._source = new_source
        self._cache = (header.encode(), new_keys)
        return self._drop_cached(before)  # the old data key opens old copies of the file

    # --- the unlock cache (unlock_cache.py) ---------------------------------------

    def remember(self, seconds: int) -> str:
        """`cclogin unlock`: prove the passphrase (never the cache itself, so a cache
        cannot extend itself), then keep the data key in the kernel keyring for
        `seconds`. Returns where the key went."""
        from . import unlock_cache

        unlock_cache.check_available()  # before anyone types a passphrase
        current = self._read()
        if current is None:
            raise StoreUnavailable(
                f"there is no encrypted store at {self.path} yet; nothing to unlock",
                "log in first (`cclogin login`): the store is made with the first secret",
            )
        self._prove_passphrase()
        keys = self._unlock(current)
        desc = unlock_cache.description(self.path, current.header.encode())
        return unlock_cache.store(desc, keys.data_key, seconds)

    def cached_until(self) -> float | None:
        """When the unlock cache for this store expires (the key verified against the
        file's MAC), or None when this process finds none."""
        current = self._read()
        found = None if current is None else self._from_kernel(current)
        return None if found is None else found[1]

    def _from_kernel(self, parsed: StoreFile) -> tuple[SubKeys, float] | None:
        """The data key `cclogin unlock` cached for exactly this file, once the file's
        MAC has verified under it; a key that does not verify is dropped."""
        if not self._kernel_cache:
            return None
        from . import unlock_cache

        if unlock_cache.admin_limit() == 0:
            return None  # the admin policy allows no cache (one made before it is ignored)
        desc = unlock_cache.description(self.path, parsed.header.encode())
        found = unlock_cache.load(desc)
        if found is None:
            return None
        keys = subkeys(found[0])
        if hmac.compare_digest(_mac(keys, parsed.body()), parsed.mac):
            return keys, found[1]
        unlock_cache.drop(desc)  # stale or planted: never trusted
        return None

    def _prove_passphrase(self) -> None:
        """The next unlock asks the passphrase source, whatever the cache holds."""
        self._kernel_cache = False
        if self._cache_from_kernel:
            self._cache = None

    def _drop_cached(self, parsed: StoreFile) -> bool:
        if not sys.platform.startswith("linux"):
            return False
        from . import unlock_cache

        return unlock_cache.drop(unlock_cache.description(self.path, parsed.header.encode()))

    # --- internals -----------------------------------------------------------

    def _no_source(self) -> PassphraseUnavailable:
        unlock = (
            ", or type it once with `cclogin unlock` (the kernel keyring keeps the key "
            "for a while)"
            if sys.platform.startswith("linux")
            else ""
        )
        return PassphraseUnavailable(
            f"no passphrase source is configured for the encrypted store {self.path}",
            "set CCLOGIN_PASSPHRASE_FILE (mode 600) or CCLOGIN_PASSPHRASE_COMMAND, run "
            f"cclogin on a terminal{unlock}",
        )

    def _ask(self, *, confirm: bool) -> Secret:
        if self._source is None:
            raise self._no_source()
        return self._source.get(confirm=confirm)

    def _read(self) -> StoreFile | None:
        """Parse the file and check its KDF cost: cheap, no passphrase."""
        try:
            data = read_private(self.path, max_size=MAX_FILE)
        except StoreError:
            raise
        except CcloginError as exc:  # unsafe mode/owner/symlink, unreadable, oversized
            raise StoreUnavailable(exc.message, exc.hint) from None
        if data is None:
            return None
        parsed = decode(data)
        check_params(parsed.header.kdf, self._policy)
        return parsed

    def _unlock(self, parsed: StoreFile, passphrase: Secret | None = None) -> SubKeys:
        """Subkeys for this file (cached by header bytes), with its MAC verified."""
        header_bytes = parsed.header.encode()
        if self._cache is not None and hmac.compare_digest(self._cache[0], header_bytes):
            keys = self._cache[1]
        else:
            cached = self._from_kernel(parsed) if passphrase is None else None
            keys = cached[0] if cached else self._open_header(parsed.header, passphrase)
            self._cache = (header_bytes, keys)
            self._cache_from_kernel = cached is not None
        if not hmac.compare_digest(_mac(keys, parsed.body()), parsed.mac):
            raise StoreCorrupt(
                f"the encrypted store {self.path} failed its integrity check (records "
                "were changed, dropped or mixed from another file); nothing was read"
            )
        return keys

    def _open_header(self, h: Header, passphrase: Secret | None) -> SubKeys:
        """Unwrap the data key; a prompt that was answered wrongly is asked again."""
        if passphrase is not None:
            return _unwrap(h, passphrase)
        source = self._source
        tries = source.attempts if isinstance(source, PromptSource) else 1
        for attempt in range(1, tries + 1):
            secret = self._ask(confirm=False)
            try:
                return _unwrap(h, secret)
            except WrongPassphrase:
                if attempt < tries and isinstance(source, PromptSource):
                    source.wrong()
                    continue
                raise self._wrong(tries) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _wrong(self, tries: int) -> WrongPassphrase:
        """One opaque error (a wrong passphrase and a damaged header look the same)."""
        if isinstance(self._source, PromptSource):
            return WrongPassphrase(
                f"wrong passphrase: {tries} attempts did not open the encrypted store "
                f"{self.path} (or its header is damaged)",
                "type the passphrase chosen when the store was created (a forgotten one "
                "cannot be recovered: see the README); if it is right, the file is "
                "damaged: restore it from a backup",
            )
        where = self._source.description if self._source is not None else "the source"
        return WrongPassphrase(
            f"the passphrase from {where} does not open the encrypted store {self.path} "
            "(or its header is damaged)"
        )

    def _new_file(self, passphrase: Secret) -> tuple[Header, SubKeys]:
        params = admin_new_params(self._policy.default, self._policy, self.path)
        check_params(params, self._policy)
        if self._policy.weak:
            sys.stderr.write(
                f"cclogin: warning: creating {self.path} with the test-only weak key "
                f"derivation (is {WEAK_KDF_ENV} set?); never use this outside tests\n"
            )
        salt, nonce, data_key = os.urandom(SALT_LEN), os.urandom(NONCE_LEN), os.urandom(KEY_LEN)
        kek = derive_kek(passphrase, salt, params)
        return _wrapped_header(kek, params, salt, nonce, data_key), subkeys(data_key)

    def _mutate(self, change: Change, *, create: bool, check: tuple[str, bytes | None]) -> bool:
        """Read-modify-write under the lock; True when the file was rewritten."""
        before = self._read()
        passphrase: Secret | None = None
        fresh: tuple[Header, SubKeys] | None = None
        # The slow derivation happens before taking the lock, so writers queue briefly.
        if before is not None:
            if create:  # no new secret into a store below the admin policy's cost
                admin_floor(before.header.kdf, self.path)
            self._unlock(before)
        elif not create:
            return False
        elif self._fresh is not None:
            fresh = self._fresh  # chosen by unlock(); a rival file is then asked for afresh
        else:
            passphrase = self._ask(confirm=True)
            fresh = self._new_file(passphrase)
        with file_lock(self._lock_path):
            current = self._read()  # another process may have written meanwhile
            if current is not None:
                keys = self._unlock(current, passphrase)
                header, records = current.header, list(current.records)
            elif not create:
                return False
            else:
                if fresh is None:  # the file was removed between our two reads
                    fresh = self._new_file(self._ask(confirm=True))
                header, keys = fresh
                records = []
            updated = change(records, keys)
            if updated is None:
                return False
            data = _assemble(header, sort_records(updated), keys)
            self._verify(data, keys, header, check)
            self._write(data)
        self._cache = (header.encode(), keys)
        self._fresh = None
        return True

    def _verify(
        self,
        data: bytes,
        keys: SubKeys,
        header: Header,
        check: tuple[str, bytes | None] | None = None,
        *,
        every: dict[str, bytes] | None = None,
    ) -> None:
        """Decode what we are about to write and prove it opens; never write a bad file.

        `check` is one (name, value or None) to find; `every` is the whole store's
        content, record for record (a re-key).
        """
        parsed = decode(data)
        if parsed.header != header or not hmac.compare_digest(
            _mac(keys, parsed.body()), parsed.mac
        ):
            raise StoreCorrupt("internal error: the new store did not verify; nothing written")
        if every is not None:
            opened = {r.name: _open_record(keys, r, self.path) for r in parsed.records}
            if opened != every:
                raise StoreCorrupt(
                    "internal error: the re-keyed store did not verify; nothing written"
                )
        if check is not None:
            name, expected = check
            record = parsed.find(name)
            got = None if record is None else _open_record(keys, record, self.path)
            if got != expected:
                raise StoreCorrupt("internal error: the new record did not verify; nothing written")

    def _write(self, data: bytes) -> None:
        atomic_write(self.path, data)
        try:
            back = read_private(self.path, max_size=MAX_FILE)
        except CcloginError as exc:
            raise StoreCorrupt(f"the encrypted store did not read back: {exc.message}") from None
        if back != data:
            raise StoreCorrupt(f"the encrypted store {self.path} did not read back as written")


def _unwrap(h: Header, passphrase: Secret) -> SubKeys:
    """Argon2id, then the data key (WrongPassphrase if it does not open) and its subkeys."""
    kek = derive_kek(passphrase, h.salt, h.kdf)
    return subkeys(unwrap_key(kek, h.wrap_nonce, h.wrapped_key, h.wrap_aad()))


def _mac(keys: SubKeys, body: bytes) -> bytes:
    return hmac.new(keys.mac_key, body, sha256).digest()


def _seal_record(keys: SubKeys, name: str, value: bytes, nonce: bytes) -> Record:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return Record(name, nonce, AESGCM(keys.record_key).encrypt(nonce, value, record_aad(name)))


def _open_record(keys: SubKeys, record: Record, path: Path) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(keys.record_key).decrypt(record.nonce, record.ciphertext, record.aad())
    except InvalidTag:
        raise StoreCorrupt(
            f"the record {record.name!r} in {path} could not be decrypted; other "
            "records are unaffected"
        ) from None


def _wrapped_header(
    kek: bytes, params: KdfParams, salt: bytes, nonce: bytes, data_key: bytes
) -> Header:
    unwrapped = Header(params, salt, nonce, b"")
    return Header(params, salt, nonce, wrap_key(kek, nonce, data_key, unwrapped.wrap_aad()))


def _assemble(header: Header, records: tuple[Record, ...], keys: SubKeys) -> bytes:
    body = encode_body(header, records)
    data = body + _mac(keys, body)
    if len(data) > MAX_FILE:
        raise ValueTooLarge(f"the encrypted store would exceed {MAX_FILE} bytes")
    return data


def _build_file(
    passphrase: Secret,
    params: KdfParams,
    *,
    salt: bytes,
    wrap_nonce: bytes,
    data_key: bytes,
    records: Sequence[tuple[str, bytes, bytes]],
) -> bytes:
    """Test seam: a store from fixed salt, nonces and data key (name, nonce, value)."""
    kek = derive_kek(passphrase, salt, params)
    header = _wrapped_header(kek, params, salt, wrap_nonce, data_key)
    keys = subkeys(data_key)
    sealed = [_seal_record(keys, name, value, nonce) for name, nonce, value in records]
    return _assemble(header, sort_records(sealed), keys)
