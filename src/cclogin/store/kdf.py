"""The encrypted store's key schedule: Argon2id cost limits, KEK, data-key wrap, subkeys.

See docs/store-format.md. Cost parameters read from a file are checked against the
ceiling *before* deriving, so a hostile file cannot exhaust memory or CPU.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import CostTooHigh, InvalidInput, MalformedStore, WrongPassphrase
from ..secret import Secret

KEY_LEN = 32
SALT_LEN = 16
NONCE_LEN = 12
TAG_LEN = 16
WEAK_KDF_ENV = "CCLOGIN_TEST_ONLY_WEAK_KDF"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: memory in KiB, iterations (time cost), lanes (parallelism)."""

    memory_kib: int
    iterations: int
    lanes: int

    def __str__(self) -> str:
        return f"m={self.memory_kib} KiB, t={self.iterations}, p={self.lanes}"


# RFC 9106 section 4, second recommended option (the memory-constrained one).
DEFAULT = KdfParams(memory_kib=65536, iterations=3, lanes=4)
# Lanes are no part of the floor: they split the same work, they do not reduce it.
FLOOR = KdfParams(memory_kib=65536, iterations=3, lanes=1)
CEILING = KdfParams(memory_kib=1 << 20, iterations=10, lanes=16)
# Test-only: fast enough for hundreds of derivations per test run.
TEST_DEFAULT = KdfParams(memory_kib=64, iterations=1, lanes=1)
TEST_FLOOR = KdfParams(memory_kib=8, iterations=1, lanes=1)  # Argon2's own minimum


@dataclass(frozen=True)
class KdfPolicy:
    default: KdfParams  # what new files (and passphrase changes) use
    floor: KdfParams  # below this a file is refused
    weak: bool = False  # a test-only policy: warn when creating a file with it

    @classmethod
    def production(cls) -> KdfPolicy:
        return cls(DEFAULT, FLOOR)

    @classmethod
    def for_store(
        cls, test_kdf: KdfParams | None, environ: Mapping[str, str] | None = None
    ) -> KdfPolicy:
        """Production unless a test asked for the weak cost (keyword or env var)."""
        if test_kdf is not None:
            return cls(test_kdf, TEST_FLOOR, weak=True)
        env = os.environ if environ is None else environ
        if env.get(WEAK_KDF_ENV) == "1":
            return cls(TEST_DEFAULT, TEST_FLOOR, weak=True)
        return cls.production()


def check_params(params: KdfParams, policy: KdfPolicy) -> None:
    """Structural validity, then ceiling, then floor; no derivation happens here."""
    if params.lanes < 1 or params.iterations < 1 or params.memory_kib < 8 * params.lanes:
        raise MalformedStore(f"the encrypted store has invalid Argon2id parameters ({params})")
    if (
        params.memory_kib > CEILING.memory_kib
        or params.iterations > CEILING.iterations
        or params.lanes > CEILING.lanes
    ):
        raise CostTooHigh(
            f"the encrypted store asks for a key-derivation cost of {params}, above "
            f"cclogin's limit ({CEILING})"
        )
    floor = policy.floor
    if params.memory_kib < floor.memory_kib or params.iterations < floor.iterations:
        raise MalformedStore(
            f"the encrypted store's key-derivation cost ({params}) is below cclogin's "
            f"minimum ({floor}); cclogin never writes such a file"
        )


def admin_new_params(params: KdfParams, policy: KdfPolicy, path: object) -> KdfParams:
    """The cost of a new store or a re-key under the admin policy (docs/policy.md).

    Production defaults are raised to the policy's `[encrypted_file]` minimums; the
    test-only weak cost is not raised but refused below them, so the test variable
    cannot be used to make a store weaker than the admin allows.
    """
    from ..policy import current

    admin = current()
    if admin is None:
        return params
    if policy.weak:
        admin_floor(params, path, new=True)
        return params
    m = admin.kdf_minimum
    lanes = max(params.lanes, m.lanes or 0)
    return KdfParams(
        memory_kib=max(params.memory_kib, m.memory_kib or 0, 8 * lanes),
        iterations=max(params.iterations, m.iterations or 0),
        lanes=lanes,
    )


def admin_floor(params: KdfParams, path: object, *, new: bool = False) -> None:
    """Refuse a store whose Argon2id cost is below the admin policy's minimums."""
    from ..policy import current

    admin = current()
    if admin is None:
        return
    for key, have, need in admin.kdf_shortfalls(params.memory_kib, params.iterations, params.lanes):
        what = key.removeprefix("encrypted_file.min_").replace("_kib", "")
        if new:
            raise admin.refused(
                key,
                f"a new encrypted store at {path} would derive its key with {what} {have}, "
                f"below the minimum of {need}",
                f"unset {WEAK_KDF_ENV}: cclogin's own cost is raised to the policy's minimums",
            )
        raise admin.refused(
            key,
            f"the encrypted store {path} derives its key with {what} {have} ({params}), "
            f"below the minimum of {need}",
            "re-key it with `cclogin passphrase` (a re-key uses at least the policy's cost)",
        )


def passphrase_bytes(passphrase: Secret) -> bytes:
    """NFC then UTF-8, so macOS and Linux keyboards produce the same bytes."""
    value = passphrase.reveal()
    if not value:
        raise InvalidInput("an empty passphrase is not allowed", "choose a passphrase")
    return unicodedata.normalize("NFC", value).encode("utf-8")


def derive_kek(passphrase: Secret, salt: bytes, params: KdfParams) -> bytes:
    """Argon2id; the caller has run check_params on `params` already."""
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    kdf = Argon2id(
        salt=salt,
        length=KEY_LEN,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(passphrase_bytes(passphrase))


def wrap_key(kek: bytes, nonce: bytes, data_key: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(kek).encrypt(nonce, data_key, aad)


def unwrap_key(kek: bytes, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes:
    """The data key, or WrongPassphrase: one opaque error for key and header damage."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        data_key = AESGCM(kek).decrypt(nonce, wrapped, aad)
    except InvalidTag:
        raise WrongPassphrase(
            "the passphrase does not open the encrypted store (or its header is damaged)"
        ) from None
    if len(data_key) != KEY_LEN:  # pragma: no cover - only a forged wrap gets here
        raise WrongPassphrase("the passphrase does not open the encrypted store")
    return data_key


@dataclass(frozen=True, repr=False)
class SubKeys:
    """Keys derived from the data key; repr never shows them."""

    data_key: bytes
    record_key: bytes
    mac_key: bytes

    def __repr__(self) -> str:
        return "SubKeys(<redacted>)"


def subkeys(data_key: bytes) -> SubKeys:
    """HKDF-SHA256 per use, so the data key is never itself a cipher or MAC key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def one(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=None, info=info).derive(
            data_key
        )

    return SubKeys(data_key, one(b"cclogin record key"), one(b"cclogin file mac"))
