"""The encrypted store format: every vector file, regenerated vectors, Hypothesis round trips."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cclogin import errors
from cclogin.errors import (
    CcloginError,
    MalformedStore,
    StoreCorrupt,
    UnsupportedVersion,
)
from cclogin.secret import Secret
from cclogin.store.encrypted_file import EncryptedFileStore, _build_file
from cclogin.store.file_format import MAGIC, Header, Record, StoreFile, decode, sort_records
from cclogin.store.kdf import TEST_DEFAULT, WEAK_KDF_ENV, KdfParams

VECTORS = Path(__file__).parent / "vectors"
VECTOR_FILES = sorted(VECTORS.glob("*.txt"))
STRUCTURAL = {"MalformedStore", "UnsupportedVersion", "CostTooHigh"}


class Static:
    def __init__(self, value: str) -> None:
        self.description = "a test passphrase"
        self._value = value

    def get(self, *, confirm: bool) -> Secret:
        return Secret(self._value)


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_vector(path: Path) -> tuple[dict[str, str], list[tuple[str, bytes]], bytes]:
    head, _, body = path.read_text().partition("\n\n")
    fields: dict[str, str] = {}
    records: list[tuple[str, bytes]] = []
    for line in head.splitlines():
        key, _, value = line.partition(": ")
        if key == "record":
            name, b64 = value.split(" ")
            records.append((name, base64.b64decode(b64)))
        else:
            fields[key] = value
    return fields, records, base64.b64decode("".join(body.split()))


def test_the_vector_folder_covers_the_spec() -> None:
    names = {p.stem for p in VECTOR_FILES}
    assert len(names) >= 40
    for needed in ("truncated-in-magic", "truncated-in-mac", "records-swapped-mac-forged",
                   "record-dropped", "cost-below-floor", "unknown-version", "valid-two-records"):
        assert needed in names


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEAK_KDF_ENV, raising=False)
    fields, records, data = parse_vector(path)
    store_path = tmp_path / "store.cclogin"
    store_path.write_bytes(data)
    os.chmod(store_path, 0o600)
    weak = TEST_DEFAULT if fields["kdf-floor"] == "test" else None
    store = EncryptedFileStore(store_path, Static(fields["passphrase"]), _test_only_kdf=weak)
    expect = fields["expect"]
    if expect == "ok":
        assert store.keys() == [name for name, _ in records]
        for name, value in records:
            assert store.get(name) == value
        assert store.get("profile:never") is None
    else:
        cls = getattr(errors, expect)
        with pytest.raises(CcloginError) as caught:
            store.get(fields["get"])
        assert type(caught.value) is cls, caught.value.message
        assert caught.value.hint
        if expect in STRUCTURAL:  # names cannot be listed from a file that does not parse
            with pytest.raises(cls):
                store.keys()
        else:
            assert store.keys()  # the names parse; only the secrets are refused
    assert store_path.read_bytes() == data  # reading never rewrites the file


def test_generator_reproduces_every_vector_byte_for_byte() -> None:
    built = _load_generator().build_all()
    on_disk = {p.name: p.read_text() for p in VECTOR_FILES}
    assert built == on_disk


def test_a_vector_file_does_not_leak_the_data_key_or_values() -> None:
    gen = _load_generator()
    for path in VECTOR_FILES:
        _, _, data = parse_vector(path)
        assert gen.DATA_KEY not in data
        assert b"value-a" not in data and b"vector-pass" not in data


# --- Hypothesis ---------------------------------------------------------------

names = st.text(min_size=1, max_size=40).filter(lambda s: len(s.encode("utf-8")) <= 0xFFFF)
record_st = st.builds(
    Record,
    name=names,
    nonce=st.binary(min_size=12, max_size=12),
    ciphertext=st.binary(min_size=16, max_size=200),
)
header_st = st.builds(
    Header,
    kdf=st.builds(
        KdfParams,
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
    ),
    salt=st.binary(min_size=16, max_size=16),
    wrap_nonce=st.binary(min_size=12, max_size=12),
    wrapped_key=st.binary(min_size=48, max_size=48),
)


@given(header_st, st.lists(record_st, max_size=8, unique_by=lambda r: r.name),
       st.binary(min_size=32, max_size=32))
def test_encode_decode_round_trip(header: Header, records: list[Record], mac: bytes) -> None:
    original = StoreFile(header, sort_records(records), mac)
    data = original.encode()
    assert decode(data) == original
    assert decode(data).encode() == data  # one encoding per store


@given(st.sampled_from([b"", MAGIC, MAGIC + b"\x01\x01"]), st.binary(max_size=300))
def test_arbitrary_bytes_fail_only_with_format_errors(prefix: bytes, tail: bytes) -> None:
    # Anything but these two (IndexError, struct.error, ...) would be a parser bug.
    with contextlib.suppress(MalformedStore, UnsupportedVersion):
        decode(prefix + tail)


_GEN: list[ModuleType] = []


def _load_generator_cached() -> ModuleType:
    if not _GEN:
        _GEN.append(_load_generator())
    return _GEN[0]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.integers(1, 255))
def test_any_single_byte_change_to_a_valid_file_is_refused(
    tmp_path: Path, offset: int, xor: int
) -> None:
    valid = _load_generator_cached().VALID
    offset %= len(valid)
    if 10 <= offset <= 12:  # high memory-cost bytes: a ~1 GiB derivation; see the vectors
        offset = 13
    data = bytearray(valid)
    data[offset] ^= xor
    path = tmp_path / "mutated.cclogin"
    path.write_bytes(bytes(data))
    os.chmod(path, 0o600)
    store = EncryptedFileStore(path, Static("vector-pass"), _test_only_kdf=TEST_DEFAULT)
    # Every error of the format is a StoreCorrupt: no mutated file ever yields a value.
    with pytest.raises(StoreCorrupt):
        store.get("profile:a")
    with pytest.raises(StoreCorrupt):
        store.get("profile:b")


valid_keys = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9:._@-]{0,30}\Z")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(valid_keys, st.binary(max_size=300), max_size=6))
def test_store_round_trip_of_names_and_values(
    tmp_path: Path, contents: dict[str, bytes]
) -> None:
    data = _build_file(
        Secret("hypo-pass"), TEST_DEFAULT, salt=bytes(16), wrap_nonce=bytes(12),
        data_key=bytes(range(32)),
        records=[(k, i.to_bytes(12, "big"), v) for i, (k, v) in enumerate(contents.items())],
    )
    path = tmp_path / f"h{len(data)}-{abs(hash(tuple(contents)))}.cclogin"
    path.write_bytes(data)
    os.chmod(path, 0o600)
    store = EncryptedFileStore(path, Static("hypo-pass"), _test_only_kdf=TEST_DEFAULT)
    assert store.keys() == sorted(contents, key=lambda k: k.encode())
    for key, value in contents.items():
        assert store.get(key) == value
