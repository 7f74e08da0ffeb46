"""Company networks: a gateway with a private CA, reached through an HTTP proxy.

Real TLS (a CA and certificate made for the test), a real forward proxy (plain requests
forwarded, HTTPS tunnelled with CONNECT) and the real oidc-provider, all on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cclogin.oauth.errors import TlsError
from cclogin.oauth.provider import discover
from support.oidc import OidcServer
from support.tls_proxy import forward_proxy, tls_issuer

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
              "all_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_network_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def test_a_private_ca_is_refused_with_a_tls_error(tmp_path: Path) -> None:
    with tls_issuer(tmp_path) as (issuer, _ca), pytest.raises(TlsError) as info:
        discover(issuer, "cclogin-test")
    assert "TLS" in info.value.message or "certificate" in info.value.message
    assert "SSL_CERT_FILE" in info.value.hint


def test_ssl_cert_file_trusts_the_company_ca(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with tls_issuer(tmp_path) as (issuer, ca):
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        provider = discover(issuer, "cclogin-test")
    assert provider.token_endpoint == f"{issuer}/token"


def test_a_provider_ca_bundle_trusts_the_company_ca(tmp_path: Path) -> None:
    with tls_issuer(tmp_path) as (issuer, ca):
        provider = discover(issuer, "cclogin-test", ca_bundle=str(ca))
    assert provider.issuer == issuer


def test_https_through_a_connect_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with tls_issuer(tmp_path) as (issuer, ca), forward_proxy() as (proxy, seen):
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        provider = discover(issuer, "cclogin-test")
    assert provider.issuer == issuer
    port = issuer.rsplit(":", 1)[1]
    assert seen == [f"CONNECT 127.0.0.1:{port}"]  # tunnelled, certificate still checked


def test_http_proxy_carries_the_requests_and_no_proxy_bypasses_it(
    oidc_server: OidcServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with forward_proxy() as (proxy, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        discover(oidc_server.issuer, oidc_server.client_id)
        assert seen and all(line.startswith(f"GET {oidc_server.issuer}/") for line in seen)
        seen.clear()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        discover(oidc_server.issuer, oidc_server.client_id)
        assert seen == []
