"""The lean `token` for an encrypted-file profile unlocked with `cclogin unlock`.

Each test runs the real executable (the lean path first, the full path behind it) and
the full path alone (tests/test_imports.py FULL_PATH: run_token without the lean
path), in a session keyring of the test's own, against a real store; where the lean
path answers, the import list proves it did (it never imports cclogin.accounts);
elsewhere stdout, stderr and the exit code are the full path's, byte for byte.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import CCLOGIN, PASSPHRASE, World, make_encrypted_world
from support.kernel_keyring import own_session

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not Path("/proc/keys").exists(),
    reason="the unlock cache is the Linux kernel keyring's",
)

KEY = "sk-ant-api03-lean-encrypted-0001"
OTHER_KEY = "sk-ant-api03-lean-encrypted-0002"
NO_SOURCE = ("CCLOGIN_PASSPHRASE_FILE", "CCLOGIN_PASSPHRASE_COMMAND", "CCLOGIN_PASSPHRASE")
FULL_PATH = (
    "import sys; from cclogin.cli.entry import _fast_token_args, harden_process; "
    "from cclogin.cli.token_cmd import run_token; harden_process(); "
    "_, p, v = _fast_token_args(sys.argv[1:]); sys.exit(run_token(p, v))"
)
LEAN_ENCRYPTED = {"cclogin.hotpath.encrypted", "cryptography.hazmat.bindings._rust", "_hashlib"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with own_session():
        w = make_encrypted_world(tmp_path)
        assert w.login("default", KEY).rc == 0
        yield w


Outcome = tuple[int, str, str, set[str]]


def run(world: World, argv: list[str], *args: str, extra: dict[str, str] | None = None) -> Outcome:
    env = world.environ(extra, drop=NO_SOURCE)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    modules, rest = set(), []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            if "|" in line:
                modules.add(line.rsplit("|", 1)[1].strip())
        else:
            rest.append(line + "\n")
    return proc.returncode, proc.stdout, "".join(rest), modules


def lean(world: World, *args: str, extra: dict[str, str] | None = None) -> Outcome:
    return run(world, [CCLOGIN], "token", *args, extra=extra)


def full(world: World, *args: str, extra: dict[str, str] | None = None) -> Outcome:
    return run(world, ["-c", FULL_PATH], "token", *args, extra=extra)


def answered_lean(modules: set[str]) -> bool:
    return "cclogin.hotpath.encrypted" in modules and "cclogin.accounts" not in modules


def assert_same_as_full(
    world: World, *args: str, extra: dict[str, str] | None = None
) -> tuple[int, str, str]:
    rc, out, err, modules = lean(world, *args, extra=extra)
    assert "cclogin.accounts" in modules  # it fell back
    frc, fout, ferr, _ = full(world, *args, extra=extra)
    assert (rc, out, err) == (frc, fout, ferr)
    return rc, out, err


def unlock(world: World) -> None:
    done = world.cclogin("unlock", "--for", "1h")
    assert done.rc == 0, done


def test_cached_is_answered_lean_with_the_full_paths_answer(world: World) -> None:
    unlock(world)
    for args in ((), ("--profile", "default"), ("-p", "default"), ("--valid-for", "300")):
        rc, out, err, modules = lean(world, *args)
        assert (rc, out, err) == (0, KEY + "\n", ""), err
        assert answered_lean(modules), sorted(modules)
        assert modules >= LEAN_ENCRYPTED
        assert not {"cclogin.store", "cryptography.hazmat.primitives", "typing", "re"} & modules
        assert full(world, *args)[:3] == (0, KEY + "\n", "")


def test_the_other_profile_and_a_missing_one(world: World) -> None:
    assert world.login("second", OTHER_KEY).rc == 0
    unlock(world)
    rc, out, _, modules = lean(world, "--profile", "second")
    assert (rc, out) == (0, OTHER_KEY + "\n") and answered_lean(modules)
    assert_same_as_full(world, "--profile", "nobody")


def test_no_cache_falls_back(world: World) -> None:
    rc, _, err = assert_same_as_full(world)
    assert rc != 0 and err  # no passphrase source, no cache: the full path says so


def test_locked_falls_back(world: World) -> None:
    unlock(world)
    assert world.cclogin("lock").rc == 0
    assert assert_same_as_full(world)[0] != 0


def test_a_replaced_store_falls_back(world: World, tmp_path: Path) -> None:
    unlock(world)
    (tmp_path / "elsewhere").mkdir()
    other = make_encrypted_world(tmp_path / "elsewhere")
    assert other.login("default", OTHER_KEY).rc == 0
    world.store_file.write_bytes(other.store_file.read_bytes())
    assert assert_same_as_full(world)[0] != 0  # the cache belongs to the old file


def test_a_rekeyed_store_falls_back(world: World, tmp_path: Path) -> None:
    unlock(world)
    new = tmp_path / "new-passphrase"
    new.write_text("another passphrase (test)\n")
    new.chmod(0o600)
    old_header = world.store_file.read_bytes()[:98]
    changed = world.cclogin("passphrase", "--new-passphrase-file", str(new))
    assert changed.rc == 0, changed
    assert world.store_file.read_bytes()[:98] != old_header
    assert assert_same_as_full(world)[0] != 0
    unlock_with = {"CCLOGIN_PASSPHRASE_FILE": str(new)}
    assert world.cclogin("unlock", "--for", "1h", extra=unlock_with).rc == 0
    rc, out, _, modules = lean(world)
    assert (rc, out) == (0, KEY + "\n") and answered_lean(modules)


def test_a_planted_key_with_the_right_name_falls_back(world: World) -> None:
    from cclogin.store.file_format import HEADER_LEN
    from cclogin.store.unlock_cache import description
    from support.kernel_keyring import add_key

    desc = description(world.store_file, world.store_file.read_bytes()[:HEADER_LEN])
    add_key(desc, b"\x01" + (2**40).to_bytes(8, "big") + os.urandom(32))
    rc, out, err, modules = lean(world)
    assert "cclogin.accounts" in modules and rc != 0 and KEY not in out + err
    add_key(desc, b"\x01" + (2**40).to_bytes(8, "big") + os.urandom(32))
    assert full(world)[:3] == (rc, out, err)  # the full path drops it, says the same


@pytest.mark.parametrize(
    "where", ["record", "mac", "record-name", "version", "trailing", "truncated"]
)
def test_a_damaged_store_falls_back(world: World, where: str) -> None:
    unlock(world)
    data = bytearray(world.store_file.read_bytes())
    if where == "record":
        data[-40] ^= 1
    elif where == "mac":
        data[-1] ^= 1
    elif where == "record-name":
        data[104] ^= 0x80  # the first name's first byte: no longer UTF-8 / sorted
    elif where == "version":
        data[8] = 2
    elif where == "trailing":
        data += b"\0"
    else:
        del data[-33:]
    world.store_file.write_bytes(bytes(data))
    assert assert_same_as_full(world)[0] != 0


def test_a_record_that_does_not_open_falls_back(world: World) -> None:
    """A record valid under the MAC whose ciphertext fails (only a DK holder can make
    one): the MAC is recomputed with the real key, so only AES-GCM can say no."""
    import hmac
    from hashlib import sha256

    from cclogin.secret import Secret
    from cclogin.store.file_format import decode
    from cclogin.store.kdf import derive_kek, subkeys, unwrap_key

    unlock(world)
    data = bytearray(world.store_file.read_bytes())
    h = decode(bytes(data)).header
    keys = subkeys(
        unwrap_key(
            derive_kek(Secret(PASSPHRASE), h.salt, h.kdf), h.wrap_nonce, h.wrapped_key, h.wrap_aad()
        )
    )
    data[-40] ^= 1
    body = bytes(data[:-32])
    fixed = body + hmac.new(keys.mac_key, body, sha256).digest()
    world.store_file.write_bytes(fixed)
    rc, out, err = assert_same_as_full(world)
    assert rc != 0 and KEY not in out + err


@pytest.mark.parametrize("defect", ["mode", "symlink", "oversize"])
def test_an_unsafe_or_oversized_file_falls_back(world: World, defect: str) -> None:
    unlock(world)
    store = world.store_file
    if defect == "mode":
        store.chmod(0o644)
    elif defect == "symlink":
        real = store.with_name("real.cclogin")
        store.rename(real)
        store.symlink_to(real)
    else:
        with store.open("ab") as f:
            f.truncate((8 << 20) + 1)
    assert assert_same_as_full(world)[0] != 0


def test_a_policy_file_falls_back(world: World, tmp_path: Path) -> None:
    unlock(world)
    policy = tmp_path / "policy.toml"
    policy.write_text("")
    extra = {"CCLOGIN_TEST_ONLY_POLICY_FILE": str(policy)}
    rc, out, err, modules = lean(world, extra=extra)
    assert "cclogin.accounts" in modules
    assert (rc, out, err) == full(world, extra=extra)[:3]


def test_a_refresh_or_expired_login_falls_back(world: World) -> None:
    import json

    unlock(world)
    meta = json.loads(world.metadata_file.read_text())
    meta["profiles"]["default"]["needs_login"] = True
    world.metadata_file.write_text(json.dumps(meta))
    assert_same_as_full(world)


def test_the_hkdf_and_description_match_the_full_path() -> None:
    from cclogin.hotpath import encrypted
    from cclogin.store.kdf import subkeys

    for _ in range(20):
        dk = os.urandom(32)
        keys = subkeys(dk)
        assert encrypted._subkeys(dk) == (keys.record_key, keys.mac_key)


def test_the_aesgcm_is_cryptographys() -> None:
    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert openssl.aead.AESGCM is AESGCM


def test_the_data_dir_matches_paths_py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cclogin.hotpath import token
    from cclogin.paths import get_paths

    for env in (
        {"CCLOGIN_HOME": str(tmp_path / "c")},
        {"HOME": str(tmp_path)},
        {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "d")},
    ):
        for name in ("CCLOGIN_HOME", "HOME", "XDG_DATA_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        got = token._data_dir(os.environ)
        assert got is not None and Path(got) == get_paths().data_dir


def test_no_key_material_in_any_output(world: World) -> None:
    from cclogin.secret import Secret
    from cclogin.store.file_format import decode
    from cclogin.store.kdf import derive_kek, unwrap_key

    unlock(world)
    h = decode(world.store_file.read_bytes()).header
    dk = unwrap_key(
        derive_kek(Secret(PASSPHRASE), h.salt, h.kdf), h.wrap_nonce, h.wrapped_key, h.wrap_aad()
    )
    forms = [dk.hex(), dk.hex().upper(), base64.b64encode(dk).decode(), dk.decode("latin-1")]
    outputs = [lean(world)[1:3]]
    data = bytearray(world.store_file.read_bytes())
    data[-1] ^= 1
    world.store_file.write_bytes(bytes(data))
    outputs.append(lean(world)[1:3])
    for out, err in outputs:
        for form in forms:
            assert form not in out + err
    assert KEY not in outputs[1][0] + outputs[1][1]


@pytest.mark.parametrize(
    "value",
    [
        b"cl1c:2:" + b"0" * 64,  # a keychain chunk header: never an encrypted-file value
        b'{"v": 2, "kind": "api_key", "key": "sk-ant-x"}',  # a credential version unknown here
        b'{"v": 1, "kind": "api_key", "key": "sk-ant-x"} x',  # trailing bytes
        b"\xff\xfe",  # not UTF-8
    ],
)
def test_an_unexpected_value_under_a_valid_mac_falls_back(world: World, value: bytes) -> None:
    """Written with the real data key (the cache stays valid): only the blob's own
    strictness can say no, and the full path reports it."""
    from cclogin.store.encrypted_file import EncryptedFileStore
    from cclogin.store.kdf import TEST_DEFAULT
    from cclogin.store.passphrase import FileSource

    unlock(world)
    source = FileSource(Path(world.env["CCLOGIN_PASSPHRASE_FILE"]))
    store = EncryptedFileStore(world.store_file, source, _test_only_kdf=TEST_DEFAULT)
    store.set("profile:default", value)
    rc, out, err = assert_same_as_full(world)
    assert rc != 0 and "sk-ant-x" not in out + err
