"""The vault backend (VaultStore on a real `bao server -dev`) meets the shipped store
contract; then what only a secret server does: check-and-set between racing writers,
destroy on delete, TLS trust, proxies, and a server that is hung, sealed or gone.

Errors are asserted by class, exit code and words, never by elapsed time; the deadline
(VAULT_CLIENT_TIMEOUT) is what keeps a hung server from hanging the test.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from cclogin.errors import (
    StoreConflict,
    VaultSealed,
    VaultTimeout,
    VaultUnreachable,
)
from cclogin.secret import Secret
from cclogin.store.base import SecretStore
from cclogin.store.vault import BLOB_FIELD, VaultStore
from cclogin.testing import StoreContract
from cclogin.vault.client import VaultClient
from cclogin.vault.settings import VaultSettings, resolve_settings
from support.bao_tokens import child_token, store_policy
from support.cli import Result, World, make_encrypted_world
from support.openbao import BaoKv, BaoServer, free_port, start_dev_server
from support.tls_proxy import forward_proxy

PREFIX = "cclogin/contract"


def store_on(kv: BaoKv, token: str, prefix: str = PREFIX, **changes: Any) -> VaultStore:
    settings = VaultSettings((kv.server.address,), mount=kv.mount, prefix=prefix, timeout=10)
    client = VaultClient(settings._replace(**changes), lambda: Secret(token))
    return VaultStore(client)


@pytest.fixture
def store_token(bao_kv: BaoKv) -> str:
    """A token that may use only the contract's prefix on this test's mount."""
    return child_token(bao_kv.server, "cclogin-store", store_policy(bao_kv.mount, PREFIX))


class TestVaultStoreContract(StoreContract):
    @pytest.fixture
    def reopen(self, bao_kv: BaoKv, store_token: str) -> Callable[[], SecretStore]:
        return lambda: store_on(bao_kv, store_token)

    @pytest.fixture
    def store(self, reopen: Callable[[], SecretStore]) -> SecretStore:
        return reopen()

    @pytest.fixture
    def lossy_write(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> Callable[[], AbstractContextManager[None]]:
        real = VaultClient.kv_write

        @contextlib.contextmanager
        def short_writes() -> Iterator[None]:
            # A server (or a proxy) that keeps all but the last byte of the blob and
            # still says "written": the read-back must catch it.
            def lossy(self: VaultClient, path: str, data: dict[str, Any], cas: int) -> int:
                cut = dict(data)
                cut[BLOB_FIELD] = cut[BLOB_FIELD][:-4]
                return real(self, path, cut, cas)

            monkeypatch.setattr(VaultClient, "kv_write", lossy)
            try:
                yield
            finally:
                monkeypatch.setattr(VaultClient, "kv_write", real)

        return short_writes

    def test_is_a_secret_store(self, store: SecretStore) -> None:
        assert isinstance(store, SecretStore)
        assert store.name == "vault"
        assert store.storage_class == "secret-server"


# --- check-and-set: two writers on one key ---------------------------------------------


def test_two_writers_racing_on_one_key_one_wins_the_other_is_refused(
    bao_kv: BaoKv, store_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read version 1, both write with cas=1: the server takes one, refuses the
    other with StoreConflict; the winner's value is what is there, and the loser's was
    never written (the history has exactly one more version)."""
    first = store_on(bao_kv, store_token)
    first.set("race", b"the value both writers read")
    both_read = threading.Barrier(2, timeout=20)
    real_version = VaultClient.kv_version

    def version_then_wait(self: VaultClient, path: str) -> int:
        seen = real_version(self, path)
        both_read.wait()  # neither writes before both have read the same version
        return seen

    monkeypatch.setattr(VaultClient, "kv_version", version_then_wait)
    outcome: dict[str, BaseException | None] = {}

    def write(name: str) -> None:
        try:
            store_on(bao_kv, store_token).set("race", f"written by {name}".encode())
            outcome[name] = None
        except BaseException as exc:  # judged in the test's thread
            outcome[name] = exc

    threads = [threading.Thread(target=write, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    monkeypatch.setattr(VaultClient, "kv_version", real_version)

    winners = [n for n, exc in outcome.items() if exc is None]
    losers = {n: exc for n, exc in outcome.items() if exc is not None}
    assert len(winners) == 1 and len(losers) == 1, outcome
    (loser, exc), = losers.items()
    assert isinstance(exc, StoreConflict), repr(exc)
    assert exc.exit_code == 1
    assert "changed by someone else" in exc.message and "nothing was overwritten" in exc.message
    assert first.get("race") == f"written by {winners[0]}".encode()
    meta = metadata(bao_kv, f"{PREFIX}/race")
    assert meta["current_version"] == 2  # the first write and the winner's: no third
    assert f"written by {loser}".encode() not in history(bao_kv, f"{PREFIX}/race")


def test_many_unsynchronised_writers_lose_nothing_silently(
    bao_kv: BaoKv, store_token: str
) -> None:
    """Four writers, five rounds each, on one key, no barrier: each write either
    succeeds and becomes exactly one version of the history, or is refused and
    appears nowhere. Nothing reported written is missing; nothing refused is there."""
    store_on(bao_kv, store_token).set("busy", b"start")
    bao_kv.server.bao("kv", "metadata", "put", f"-mount={bao_kv.mount}", "-max-versions=100",
                      f"{PREFIX}/busy")
    written: list[bytes] = []
    refused: list[bytes] = []
    other: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4, timeout=20)

    def writer(n: int) -> None:
        own = store_on(bao_kv, store_token)
        start.wait()
        for r in range(5):
            value = f"writer {n} round {r}".encode()
            try:
                own.set("busy", value)
            except StoreConflict:
                with lock:
                    refused.append(value)
            except BaseException as exc:
                with lock:
                    other.append(exc)
            else:
                with lock:
                    written.append(value)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not other, other
    assert len(written) + len(refused) == 20
    kept = history(bao_kv, f"{PREFIX}/busy")
    assert kept.count(b"start") == 1
    assert sorted(kept[1:]) == sorted(written)  # every success is one version, no more
    assert not set(refused) & set(kept)
    print(f"\n{len(written)} writes won, {len(refused)} were refused by check-and-set")


# --- delete destroys ----------------------------------------------------------------


def test_delete_destroys_every_version_and_the_metadata(bao_kv: BaoKv, store_token: str) -> None:
    store = store_on(bao_kv, store_token)
    for n in range(3):
        store.set("doomed", f"version {n + 1}".encode())
    assert metadata(bao_kv, f"{PREFIX}/doomed")["current_version"] == 3
    assert store.delete("doomed") is True
    gone = bao_kv.server.bao("kv", "metadata", "get", f"-mount={bao_kv.mount}",
                             f"{PREFIX}/doomed", check=False)
    assert gone.returncode == 2 and "No value found" in gone.stderr, gone
    for version in (1, 2, 3):
        old = bao_kv.server.bao("kv", "get", f"-mount={bao_kv.mount}", f"-version={version}",
                                f"{PREFIX}/doomed", check=False)
        assert old.returncode == 2, old
    assert store.get("doomed") is None
    assert "doomed" not in store.keys()
    assert store.delete("doomed") is False


# --- trust, proxies, and servers that do not answer ------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_encrypted_world(tmp_path)


def vault_login(world: World, address: str, token: str, **env: str) -> Result:
    """`cclogin vault login --with-token` (one lookup-self against the server)."""
    return world.cclogin("vault", "login", "--with-token", "--vault-addr", address,
                         input=token + "\n", extra={"VAULT_CLIENT_TIMEOUT": "3", **env})


def tls_token(server: BaoServer) -> str:
    return child_token(server, "cclogin-tls", 'path "secret/data/*" { capabilities = ["read"] }')


def test_tls_with_vault_cacert_works_and_without_it_is_refused_with_the_hint(
    bao_dev_tls: BaoServer, world: World
) -> None:
    assert bao_dev_tls.ca_file is not None
    token = tls_token(bao_dev_tls)
    refused = vault_login(world, bao_dev_tls.address, token)
    assert refused.rc == 6, refused
    assert "TLS to https://127.0.0.1" in refused.stderr and "not trusted" in refused.stderr
    assert "hint: set VAULT_CACERT to the server's CA" in refused.stderr
    # requests' own CA variable is not cclogin's: it opens nothing.
    also = vault_login(world, bao_dev_tls.address, token,
                       REQUESTS_CA_BUNDLE=str(bao_dev_tls.ca_file))
    assert also.rc == 6 and "TLS to" in also.stderr, also
    ok = vault_login(world, bao_dev_tls.address, token, VAULT_CACERT=str(bao_dev_tls.ca_file))
    assert ok.rc == 0, ok
    assert token not in ok.output


def test_tls_trusts_ssl_cert_file_like_the_oauth_client(
    bao_dev_tls: BaoServer, tmp_path: Path
) -> None:
    assert bao_dev_tls.ca_file is not None
    settings = resolve_settings({"VAULT_ADDR": bao_dev_tls.address})
    token = tls_token(bao_dev_tls)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSL_CERT_FILE", str(bao_dev_tls.ca_file))
        assert VaultClient(settings, lambda: Secret(token)).lookup_self()["id"] == token


def test_https_proxy_is_used_and_no_proxy_is_respected(
    bao_dev_tls: BaoServer, world: World
) -> None:
    assert bao_dev_tls.ca_file is not None
    token = tls_token(bao_dev_tls)
    port = bao_dev_tls.address.rsplit(":", 1)[1]
    ca = {"VAULT_CACERT": str(bao_dev_tls.ca_file)}
    with forward_proxy() as (proxy, seen):
        through = vault_login(world, bao_dev_tls.address, token, HTTPS_PROXY=proxy, **ca)
        assert through.rc == 0, through
        assert f"CONNECT 127.0.0.1:{port}" in seen
        seen.clear()
        direct = world.cclogin(
            "vault", "login", "--force", "--with-token", "--vault-addr", bao_dev_tls.address,
            input=token + "\n",
            extra={"HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1", **ca},
        )
        assert direct.rc == 0, direct
        assert seen == []


def test_a_proxy_that_is_down_is_named_not_taken_for_the_server(
    bao_dev_tls: BaoServer, world: World
) -> None:
    assert bao_dev_tls.ca_file is not None
    dead = f"http://127.0.0.1:{free_port()}"
    out = vault_login(world, bao_dev_tls.address, "hvs.never-sent-0001", HTTPS_PROXY=dead,
                      VAULT_CACERT=str(bao_dev_tls.ca_file))
    assert out.rc == 6, out
    assert "proxy" in out.stderr


@contextlib.contextmanager
def silent_server(trickle: bool = False) -> Iterator[str]:
    """Accepts every connection and never answers (or, with `trickle`, sends one byte of
    a status line every 0.3 s, forever: a read timeout that restarts with every byte
    never fires)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)
            if trickle:
                threading.Thread(target=drip, args=(conn,), daemon=True).start()

    def drip(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.3):
                conn.sendall(b"X")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickling"])
def test_a_server_that_never_answers_is_a_timeout_within_the_deadline(
    world: World, trickle: bool
) -> None:
    with silent_server(trickle) as address:
        out = vault_login(world, address, "hvs.never-answered-0002")
    assert out.rc == 4, out
    assert "did not answer within 3 s" in out.stderr
    assert "hint: the secret server did not answer in time" in out.stderr
    assert "VAULT_CLIENT_TIMEOUT" in out.stderr
    assert "hvs.never-answered-0002" not in out.output


def test_a_silent_server_through_the_store_raises_vault_timeout(bao_kv: BaoKv) -> None:
    with silent_server() as address:
        settings = VaultSettings((address,), mount=bao_kv.mount, timeout=2)
        store = VaultStore(VaultClient(settings, lambda: Secret("hvs.never-sent-0003")))
        with pytest.raises(VaultTimeout) as caught:
            store.get("anything")
    assert caught.value.exit_code == 4


@pytest.fixture
def private_dev(tmp_path: Path) -> Iterator[BaoServer]:
    """A dev server of this test's own: it gets sealed, the session's must not."""
    server = start_dev_server(tmp_path / "private-bao")
    try:
        yield server
    finally:
        server.stop()


def test_a_sealed_server_is_exit_4_with_the_unseal_hint(
    private_dev: BaoServer, world: World
) -> None:
    token = child_token(private_dev, "cclogin-sealed", 'path "secret/data/*" { capabilities = ["read"] }')
    store = VaultStore(VaultClient(VaultSettings((private_dev.address,), timeout=3),
                                   lambda: Secret(token)))
    private_dev.bao("operator", "seal")
    assert private_dev.health()[1].get("sealed") is True
    out = vault_login(world, private_dev.address, token)
    assert out.rc == 4, out
    assert "sealed" in out.stderr
    assert "hint: the server is sealed: an operator must unseal it (`bao operator unseal`)" in out.stderr
    with pytest.raises(VaultSealed) as caught:
        store.get("anything")
    assert caught.value.exit_code == 4


def test_an_unreachable_server_is_exit_6(world: World, bao_kv: BaoKv) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    out = vault_login(world, address, "hvs.never-sent-0004")
    assert out.rc == 6, out
    assert f"cannot connect to the secret server at {address}" in out.stderr
    assert "hint: check the server address" in out.stderr
    store = VaultStore(VaultClient(VaultSettings((address,), mount=bao_kv.mount, timeout=2),
                                   lambda: Secret("hvs.never-sent-0004")))
    with pytest.raises(VaultUnreachable) as caught:
        store.get("anything")
    assert caught.value.exit_code == 6


# --- helpers ------------------------------------------------------------------------


def metadata(kv: BaoKv, path: str) -> dict[str, Any]:
    out = kv.server.bao("kv", "metadata", "get", "-format=json", f"-mount={kv.mount}", path)
    data: dict[str, Any] = json.loads(out.stdout)["data"]
    return data


def history(kv: BaoKv, path: str) -> list[bytes]:
    """Every version's blob, oldest first, read with the bao CLI (not with cclogin)."""
    import base64

    current = metadata(kv, path)["current_version"]
    values = []
    for version in range(1, current + 1):
        out = kv.server.bao("kv", "get", "-format=json", f"-mount={kv.mount}",
                            f"-version={version}", path)
        values.append(base64.b64decode(json.loads(out.stdout)["data"]["data"][BLOB_FIELD]))
    return values

