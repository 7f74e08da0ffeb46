"""Run the real `cclogin` executable against a real store, and look for leftover secrets.

    def test_x(world):                       # parametrized: secret-service, encrypted-file
        assert world.login("default", KEY).rc == 0
        assert world.cclogin("token").stdout == KEY + "\\n"
        assert world.traces(KEY) == []       # after logout: nowhere on disk or in the keyring

`world` is a fresh CCLOGIN_HOME and HOME under tmp_path plus one store:
- "secret-service": a private D-Bus bus and gnome-keyring-daemon (support.secret_service);
- "encrypted-file": no D-Bus at all, CCLOGIN_PASSPHRASE_FILE (mode 600) and the weak
  test-only KDF, so each command derives in milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .secret_service import HOST_SESSION_VARS, SecretServiceDaemon, start_secret_service

CCLOGIN = str(Path(sys.executable).with_name("cclogin"))
PASSPHRASE = "correct horse battery staple (test)"
WEAK_KDF = {"CCLOGIN_TEST_ONLY_WEAK_KDF": "1"}
# Variables of the host that would change what cclogin does; never inherited.
HOST_CCLOGIN_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
BACKENDS = ("secret-service", "encrypted-file")


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str
    args: tuple[str, ...] = ()

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # what pytest shows when an assertion about it fails
        return f"cclogin {' '.join(self.args)} -> rc {self.rc}\n--stdout--\n{self.stdout}--stderr--\n{self.stderr}"


def run(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    input: str | None = None,
    timeout: float = 60,
) -> Result:
    """Run `cclogin ARGS` with exactly `env`; stdin is `input` or empty (never a TTY)."""
    proc = subprocess.run(
        [CCLOGIN, *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, tuple(args))


def clean_host_env() -> dict[str, str]:
    """The host's environment minus its desktop session and anything cclogin reads."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in HOST_SESSION_VARS
        and k not in HOST_CCLOGIN_VARS
        and not k.startswith(("CCLOGIN_", "KEYRING_"))
    }


def write_passphrase_file(path: Path, text: str = PASSPHRASE) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


# --- looking for a secret everywhere --------------------------------------------------


def keyring_items(daemon: SecretServiceDaemon) -> list[tuple[str, dict[str, str], bytes]]:
    """(label, attributes, secret) of every item in every collection of the daemon."""
    import secretstorage
    from jeepney.io.blocking import open_dbus_connection

    conn = open_dbus_connection(daemon.env["DBUS_SESSION_BUS_ADDRESS"])
    try:
        items = []
        for collection in secretstorage.get_all_collections(conn):
            if collection.is_locked():
                raise AssertionError(f"collection {collection.collection_path} is locked")
            for item in collection.get_all_items():
                items.append((item.get_label(), item.get_attributes(), item.get_secret()))
        return items
    finally:
        conn.close()


_B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}")


def decodings(data: bytes) -> Iterator[bytes]:
    """data itself, then every base64/base64url run in it, decoded.

    Keychain entries hold `cl1:<base64url>` (store/chunking.py): a plain search would
    never find a secret there. Each run is decoded from all four offsets, so a run that
    starts mid-way through an encoding (after a prefix like `cl1:`) is still read.
    """
    yield data
    for match in _B64_RUN.finditer(data):
        run = match.group().replace(b"+", b"-").replace(b"/", b"_")
        for offset in range(4):
            part = run[offset:]
            part = part[: len(part) // 4 * 4]
            with contextlib.suppress(binascii.Error, ValueError):
                yield base64.urlsafe_b64decode(part)


def holds(data: bytes, needle: bytes) -> bool:
    return any(needle in form for form in decodings(data))


def files_containing(root: Path, needle: bytes) -> list[str]:
    """Every regular file under root whose bytes contain needle, plain or base64-encoded."""
    hits = []
    if not root.exists():
        return hits
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            if holds(path.read_bytes(), needle):
                hits.append(str(path))
    return hits


@dataclass
class World:
    backend: str  # "secret-service" or "encrypted-file"
    root: Path
    env: dict[str, str]
    daemon: SecretServiceDaemon | None = None
    _extra: dict[str, Any] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["CCLOGIN_HOME"])

    @property
    def metadata_file(self) -> Path:
        return self.home / "config" / "metadata.json"

    @property
    def store_file(self) -> Path:
        return self.home / "data" / "store.cclogin"

    def environ(self, extra: Mapping[str, str] | None = None, drop: Sequence[str] = ()) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if k not in drop}
        env.update(extra or {})
        return env

    def cclogin(
        self,
        *args: str,
        input: str | None = None,
        extra: Mapping[str, str] | None = None,
        drop: Sequence[str] = (),
    ) -> Result:
        return run(args, self.environ(extra, drop), input=input)

    def login(self, profile: str, secret: str, *flags: str, how: str = "--with-api-key") -> Result:
        return self.cclogin("login", how, "--profile", profile, *flags, input=secret + "\n")

    def stored_keys(self) -> list[str]:
        """The store's own listing of cclogin keys (items, or encrypted records)."""
        if self.daemon is not None:
            return self.daemon.items()
        if not self.store_file.exists():
            return []
        from cclogin.store.encrypted_file import EncryptedFileStore
        from cclogin.store.kdf import TEST_DEFAULT

        store = EncryptedFileStore(self.store_file, None, _test_only_kdf=TEST_DEFAULT)
        return sorted(store.keys())

    def traces(self, secret: str) -> list[str]:
        """Where the secret can still be found: keyring items, files under our dirs.

        For the encrypted file, the file is also decrypted with the passphrase, so a
        record that was never deleted is found even though its bytes are ciphertext.
        """
        needle = secret.encode()
        hits: list[str] = []
        if self.daemon is not None:
            for label, attrs, value in keyring_items(self.daemon):
                blob = value + label.encode() + repr(sorted(attrs.items())).encode()
                if holds(blob, needle):
                    hits.append(f"keyring item {label!r} {attrs}")
        for root in (self.home, self.root / "home"):
            hits += files_containing(root, needle)
        if self.daemon is None and self.store_file.exists():
            hits += [f"encrypted record {k}" for k in self._decrypted_keys_holding(needle)]
        return hits

    def _decrypted_keys_holding(self, needle: bytes) -> list[str]:
        from cclogin.store.encrypted_file import EncryptedFileStore
        from cclogin.store.kdf import TEST_DEFAULT
        from cclogin.store.passphrase import FileSource

        source = FileSource(Path(self.env["CCLOGIN_PASSPHRASE_FILE"]))
        store = EncryptedFileStore(self.store_file, source, _test_only_kdf=TEST_DEFAULT)
        return [k for k in store.keys() if holds(store.get(k) or b"", needle)]


def make_encrypted_world(root: Path) -> World:
    (root / "home").mkdir(mode=0o700)
    env = clean_host_env()
    env.update(WEAK_KDF)
    env.update(
        HOME=str(root / "home"),
        CCLOGIN_HOME=str(root / "cclogin"),
        CCLOGIN_BACKEND="encrypted-file",
        CCLOGIN_PASSPHRASE_FILE=str(write_passphrase_file(root / "passphrase")),
    )
    return World("encrypted-file", root, env)


def make_keyring_world(root: Path, daemon: SecretServiceDaemon) -> World:
    (root / "home").mkdir(mode=0o700)
    env = clean_host_env()
    env.update(daemon.env)  # bus address, XDG_* of the daemon
    env.update(
        HOME=str(root / "home"),
        CCLOGIN_HOME=str(root / "cclogin"),
        CCLOGIN_BACKEND="secret-service",
    )
    return World("secret-service", root, env, daemon)


@contextlib.contextmanager
def open_world(backend: str, root: Path) -> Iterator[World]:
    """A World on `backend` under root; the daemon (if any) is stopped afterwards.

    Test modules wrap it in their own fixture (no fixture lives here, so nothing has to
    be registered as a plugin):

        @pytest.fixture(params=BACKENDS)
        def world(request, tmp_path):
            with open_world(request.param, tmp_path) as w:
                yield w
    """
    if backend == "encrypted-file":
        yield make_encrypted_world(root)
        return
    daemon = start_secret_service()
    try:
        yield make_keyring_world(root, daemon)
    finally:
        daemon.stop()
