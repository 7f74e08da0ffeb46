"""`cclogin vault login --method approle | jwt | oidc` against the real `bao server -dev`.

Each test enables its auth method at a path of its own with the bao CLI. The JWT comes
from oauth2-mock-server (a real RS256 JWT whose keys its public JWKS serves), the OIDC
sign-in goes through oidc-provider's real login pages, played by a BROWSER command, to
cclogin's loopback listener. Every login runs with `-v`, and no secret of the test (the
Vault token, the secret id, the JWT, the OIDC client secret) may appear in any output.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.bao_auth import lookup
from support.cli import Result, World, open_world
from support.oauth2_mock import MockServer
from support.oidc import OidcServer, start_server, write_browser
from support.openbao import BaoServer, free_port

RP_CLIENT = "vault-relying-party"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("encrypted-file", tmp_path) as w:
        yield w


@pytest.fixture
def auth_mount(bao_dev: BaoServer) -> Iterator[Callable[[str], str]]:
    """enable(method) -> path: the auth method at a random path, disabled afterwards."""
    enabled: list[str] = []

    def enable(method: str) -> str:
        path = f"{method}-{secrets.token_hex(4)}"
        bao_dev.bao("auth", "enable", f"-path={path}", method)
        enabled.append(path)
        return path

    try:
        yield enable
    finally:
        for path in enabled:
            bao_dev.bao("auth", "disable", path)


def policy(server: BaoServer) -> str:
    name = f"ci-{secrets.token_hex(4)}"
    server.bao("policy", "write", name, "-", input='path "secret/data/ci/*" { capabilities = ["read"] }\n')
    return name


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def login(world: World, server: BaoServer, *args: str, input: str | None = None) -> Result:
    return world.cclogin("-v", "vault", "login", "--vault-addr", server.address, *args,
                         input=input)


def stored_token(world: World, profile: str = "vault") -> str:
    done = world.cclogin("token", "--profile", profile)
    assert done.rc == 0, done
    return done.stdout.strip()


def meta_of(world: World, profile: str = "vault") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(world.metadata_file.read_text())["profiles"][profile]
    return doc


def assert_no_secret(results: list[Result], *secrets_: str) -> None:
    text = "\n".join(r.stdout + r.stderr for r in results)
    for value in secrets_:
        assert value and value not in text


# --- AppRole ---------------------------------------------------------------------------


@pytest.fixture
def approle(bao_dev: BaoServer, auth_mount: Callable[[str], str]) -> dict[str, str]:
    path = auth_mount("approle")
    pol = policy(bao_dev)
    bao_dev.bao("write", f"auth/{path}/role/ci", f"token_policies={pol}", "token_ttl=20m")
    role_id = bao_dev.bao("read", "-field=role_id", f"auth/{path}/role/ci/role-id").stdout.strip()
    secret_id = bao_dev.bao("write", "-f", "-field=secret_id",
                            f"auth/{path}/role/ci/secret-id").stdout.strip()
    return {"path": path, "role_id": role_id, "secret_id": secret_id, "policy": pol}


def test_approle_login(world: World, bao_dev: BaoServer, approle: dict[str, str],
                       tmp_path: Path) -> None:
    secret_file = private_file(tmp_path / "secret-id", approle["secret_id"])
    done = login(world, bao_dev, "--method", "approle", "--path", approle["path"],
                 "--role-id", approle["role_id"], "--secret-id-file", str(secret_file))
    assert done.rc == 0, done
    assert "approle" in done.stderr
    token = stored_token(world)
    info = lookup(bao_dev, token)
    assert info is not None
    assert approle["policy"] in info["policies"]
    assert info["meta"] == {"role_name": "ci"}
    assert info["renewable"] is True
    meta = meta_of(world)
    assert meta["kind"] == "vault_token"
    assert meta["extra"]["auth_method"] == "approle"
    assert meta["extra"]["auth_path"] == approle["path"]
    assert_no_secret([done], token, approle["secret_id"])
    assert world.traces(approle["secret_id"]) == []  # used, never kept
    assert not (world.root / "home" / ".vault-token").exists()
    # Its lease is the role's TTL, recorded for renewals.
    from support.bao_auth import stored_blob

    blob = json.loads(stored_blob(world) or b"{}")
    assert blob["lease"] == 1200 and blob["renewable"] is True


def test_approle_refused_secret_id(world: World, bao_dev: BaoServer, approle: dict[str, str],
                                   tmp_path: Path) -> None:
    wrong = "0b9f3a52-wrong-secret-id-" + secrets.token_hex(4)
    secret_file = private_file(tmp_path / "secret-id", wrong)
    done = login(world, bao_dev, "--method", "approle", "--path", approle["path"],
                 "--role-id", approle["role_id"], "--secret-id-file", str(secret_file))
    assert done.rc == 1, done
    assert f"refused to log in with AppRole (auth/{approle['path']})" in done.stderr
    assert "invalid role or secret ID" in done.stderr
    assert_no_secret([done], wrong)
    assert not world.metadata_file.exists() or "vault" not in world.metadata_file.read_text()


@pytest.mark.parametrize("defect", ["group-readable", "symlink", "missing", "empty"])
def test_approle_secret_id_file_must_be_private(world: World, bao_dev: BaoServer,
                                                approle: dict[str, str], tmp_path: Path,
                                                defect: str) -> None:
    secret_file = tmp_path / "secret-id"
    if defect == "group-readable":
        private_file(secret_file, approle["secret_id"], 0o640)
    elif defect == "symlink":
        real = private_file(tmp_path / "real-secret-id", approle["secret_id"])
        secret_file.symlink_to(real)
    elif defect == "empty":
        private_file(secret_file, "")
    done = login(world, bao_dev, "--method", "approle", "--path", approle["path"],
                 "--role-id", approle["role_id"], "--secret-id-file", str(secret_file))
    assert done.rc != 0, done
    expected = {"group-readable": "readable or writable by other users", "symlink": "symlink",
                "missing": "does not exist", "empty": "is empty"}[defect]
    assert expected in done.stderr
    assert_no_secret([done], approle["secret_id"])
    assert not world.metadata_file.exists() or "vault" not in world.metadata_file.read_text()


def test_approle_secret_id_never_from_argv(world: World, bao_dev: BaoServer) -> None:
    done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--method",
                         "approle", "--role-id", "r")
    assert done.rc == 2, done
    assert "--secret-id-file" in done.stderr
    flags = world.cclogin("vault", "login", "--help").stdout
    assert "--secret-id " not in flags and "--jwt " not in flags


# --- JWT -------------------------------------------------------------------------------


def mock_jwt(server: MockServer, audience: str) -> str:
    """A real signed JWT from oauth2-mock-server (client_credentials, with an audience)."""
    with httpx.Client(trust_env=False, timeout=15) as client:
        resp = client.post(f"{server.issuer}/token", auth=("ci-runner", "unused"),
                           data={"grant_type": "client_credentials", "aud": audience,
                                 "scope": "ci"})
    resp.raise_for_status()
    token: str = resp.json()["access_token"]
    return token


@pytest.fixture
def jwt_mount(bao_dev: BaoServer, auth_mount: Callable[[str], str],
              oauth2_mock: Callable[..., MockServer]) -> dict[str, Any]:
    mock = oauth2_mock()
    path = auth_mount("jwt")
    bao_dev.bao("write", f"auth/{path}/config", f"jwks_url={mock.issuer}/jwks",
                f"bound_issuer={mock.issuer}")
    pol = policy(bao_dev)
    role = {"role_type": "jwt", "bound_audiences": ["vault-ci"], "user_claim": "aud",
            "bound_claims": {"scope": "ci"}, "token_policies": [pol], "token_ttl": "15m"}
    bao_dev.bao("write", f"auth/{path}/role/ci", "-", input=json.dumps(role))
    return {"path": path, "mock": mock, "policy": pol}


def test_jwt_login_from_a_file_and_from_stdin(world: World, bao_dev: BaoServer,
                                              jwt_mount: dict[str, Any], tmp_path: Path) -> None:
    jwt = mock_jwt(jwt_mount["mock"], "vault-ci")
    jwt_file = private_file(tmp_path / "ci.jwt", jwt)
    by_file = login(world, bao_dev, "--method", "jwt", "--path", jwt_mount["path"], "--role",
                    "ci", "--jwt-file", str(jwt_file))
    assert by_file.rc == 0, by_file
    first = stored_token(world)
    info = lookup(bao_dev, first)
    assert info is not None and jwt_mount["policy"] in info["policies"]
    assert meta_of(world)["extra"]["auth_role"] == "ci"

    jwt2 = mock_jwt(jwt_mount["mock"], "vault-ci")
    by_stdin = login(world, bao_dev, "--profile", "ci2", "--method", "jwt", "--path",
                     jwt_mount["path"], "--role", "ci", "--jwt-file", "-", input=jwt2 + "\n")
    assert by_stdin.rc == 0, by_stdin
    second = stored_token(world, "ci2")
    assert second != first and lookup(bao_dev, second) is not None
    assert_no_secret([by_file, by_stdin], jwt, jwt2, first, second)
    assert world.traces(jwt) == [] and world.traces(jwt2) == []


def test_jwt_for_another_audience_is_refused(world: World, bao_dev: BaoServer,
                                             jwt_mount: dict[str, Any]) -> None:
    jwt = mock_jwt(jwt_mount["mock"], "some-other-service")
    done = login(world, bao_dev, "--method", "jwt", "--path", jwt_mount["path"], "--role", "ci",
                 "--jwt-file", "-", input=jwt)
    assert done.rc == 1, done
    assert "refused to log in with a JWT as role 'ci'" in done.stderr
    assert "audience" in done.stderr
    assert_no_secret([done], jwt)
    assert not world.metadata_file.exists() or '"vault"' not in world.metadata_file.read_text()


# --- OIDC through the browser ------------------------------------------------------------


@pytest.fixture(scope="module")
def rp_secret() -> str:
    return "rp-secret-" + secrets.token_urlsafe(18)


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, rp_secret: str) -> Iterator[OidcServer]:
    """oidc-provider with a confidential client for Vault (its auth/oidc is one)."""
    server = start_server(tmp_path_factory.mktemp("oidc-vault"),
                          CONFIDENTIAL_CLIENT_ID=RP_CLIENT, CONFIDENTIAL_CLIENT_SECRET=rp_secret)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def oidc_mount(bao_dev: BaoServer, auth_mount: Callable[[str], str], idp: OidcServer,
               rp_secret: str) -> dict[str, Any]:
    path = auth_mount("oidc")
    config = {"oidc_discovery_url": idp.issuer, "oidc_client_id": RP_CLIENT,
              "oidc_client_secret": rp_secret, "default_role": "dev"}
    bao_dev.bao("write", f"auth/{path}/config", "-", input=json.dumps(config))
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/oidc/callback"
    pol = policy(bao_dev)
    role = {"user_claim": "sub", "allowed_redirect_uris": [redirect], "token_policies": [pol],
            "token_ttl": "30m", "oidc_scopes": ["openid"]}
    bao_dev.bao("write", f"auth/{path}/role/dev", "-", input=json.dumps(role))
    return {"path": path, "redirect": redirect, "port": port, "policy": pol}


def test_oidc_login_through_the_browser(world: World, bao_dev: BaoServer,
                                        oidc_mount: dict[str, Any], rp_secret: str,
                                        tmp_path: Path) -> None:
    browser = write_browser(tmp_path / "browser.py")
    done = world.cclogin("-v", "vault", "login", "--vault-addr", bao_dev.address, "--method",
                         "oidc", "--path", oidc_mount["path"], "--role", "dev",
                         "--redirect-uri", oidc_mount["redirect"],
                         extra={"BROWSER": str(browser)})
    assert done.rc == 0, done
    assert "Opening your browser" in done.stderr
    assert f"http://127.0.0.1:{oidc_mount['port']}/start/" in done.stderr
    token = stored_token(world)
    info = lookup(bao_dev, token)
    assert info is not None
    assert oidc_mount["policy"] in info["policies"]
    assert info["meta"]["role"] == "dev"
    assert info["display_name"].endswith("alice@example.test")  # the sub the IdP signed
    assert meta_of(world)["extra"]["auth_method"] == "oidc"
    assert_no_secret([done], token, rp_secret)


def test_oidc_login_with_the_default_role(world: World, bao_dev: BaoServer,
                                          oidc_mount: dict[str, Any], tmp_path: Path) -> None:
    browser = write_browser(tmp_path / "browser.py")
    done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--method", "oidc",
                         "--path", oidc_mount["path"], "--redirect-uri", oidc_mount["redirect"],
                         extra={"BROWSER": str(browser)})
    assert done.rc == 0, done
    assert lookup(bao_dev, stored_token(world)) is not None


def test_oidc_cancelled_at_the_provider_stores_nothing(world: World, bao_dev: BaoServer,
                                                       oidc_mount: dict[str, Any],
                                                       tmp_path: Path) -> None:
    browser = write_browser(tmp_path / "browser.py", consent=False)
    done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--method", "oidc",
                         "--path", oidc_mount["path"], "--role", "dev",
                         "--redirect-uri", oidc_mount["redirect"],
                         extra={"BROWSER": str(browser)})
    assert done.rc == 1, done
    assert "refused the sign-in: access_denied" in done.stderr
    assert not world.metadata_file.exists() or '"vault"' not in world.metadata_file.read_text()


def test_oidc_redirect_the_role_does_not_allow(world: World, bao_dev: BaoServer,
                                               oidc_mount: dict[str, Any]) -> None:
    # Loopback redirects match whatever their port (RFC 8252 7.3, as OpenBao does it):
    # another path is what the role does not allow.
    other = f"http://127.0.0.1:{free_port()}/other/callback"
    done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--method", "oidc",
                         "--path", oidc_mount["path"], "--role", "dev", "--redirect-uri", other,
                         extra={"BROWSER": "/bin/false"})
    assert done.rc == 1, done
    assert "redirect" in done.stderr.lower()
    assert "allowed_redirect_uris" in done.stderr


def test_oidc_on_a_port_the_os_picks(world: World, bao_dev: BaoServer,
                                     oidc_mount: dict[str, Any], tmp_path: Path) -> None:
    """Port 0: the role lists the loopback redirect, and both OpenBao and oidc-provider
    match a loopback redirect whatever its port (RFC 8252 section 7.3)."""
    browser = write_browser(tmp_path / "browser.py")
    done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--method", "oidc",
                         "--path", oidc_mount["path"], "--role", "dev",
                         "--redirect-uri", "http://127.0.0.1:0/oidc/callback",
                         extra={"BROWSER": str(browser)})
    assert done.rc == 0, done
    assert f"127.0.0.1:{oidc_mount['port']}/start/" not in done.stderr
    assert lookup(bao_dev, stored_token(world)) is not None


def test_oidc_no_answer_in_time(bao_dev: BaoServer, oidc_mount: dict[str, Any]) -> None:
    """Nobody signs in: the listener gives up at the time limit, with a hint for Vault."""
    from cclogin.oauth.errors import LoginTimeout
    from cclogin.vault.auth import oidc_login
    from cclogin.vault.client import VaultClient
    from cclogin.vault.settings import VaultSettings

    opened: list[str] = []
    client = VaultClient(VaultSettings((bao_dev.address,), timeout=10))
    with pytest.raises(LoginTimeout) as caught, open(os.devnull, "w") as quiet:
        oidc_login(client, "dev", oidc_mount["path"], redirect_uri=oidc_mount["redirect"],
                   open_browser=opened.append, timeout=0.5, stderr=quiet)
    assert opened and opened[0].startswith(f"http://127.0.0.1:{oidc_mount['port']}/start/")
    assert "no sign-in arrived" in caught.value.message
    assert "cclogin vault login --method oidc" in caught.value.hint
    with socket.socket() as again:  # the listener is closed: the port is free again
        again.bind(("127.0.0.1", oidc_mount["port"]))


def test_oidc_port_in_use(world: World, bao_dev: BaoServer, oidc_mount: dict[str, Any]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", oidc_mount["port"]))
        taken.listen()
        done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--method",
                             "oidc", "--path", oidc_mount["path"], "--role", "dev",
                             "--redirect-uri", oidc_mount["redirect"],
                             extra={"BROWSER": "/bin/false"})
    assert done.rc == 2, done
    assert f"cannot listen on 127.0.0.1:{oidc_mount['port']}" in done.stderr
    assert "--redirect-uri" in done.stderr


@pytest.mark.parametrize("uri", ["https://localhost:8250/oidc/callback",
                                 "http://example.com:8250/oidc/callback",
                                 "http://localhost/oidc/callback",
                                 "http://127.0.0.1:8250/oidc/callback?x=1"])
def test_oidc_redirect_uri_must_be_loopback_with_a_port(world: World, bao_dev: BaoServer,
                                                        uri: str) -> None:
    done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--method", "oidc",
                         "--redirect-uri", uri)
    assert done.rc == 2, done
    assert "not a loopback address with a port" in done.stderr


def test_flags_of_another_method_are_refused(world: World, bao_dev: BaoServer) -> None:
    done = world.cclogin("vault", "login", "--vault-addr", bao_dev.address, "--with-token",
                         "--role-id", "x", input="t\n")
    assert done.rc == 2 and "--role-id is for --method approle" in done.stderr
