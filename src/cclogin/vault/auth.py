"""Getting a Vault / OpenBao token from one of the server's auth methods.

Each login is one bounded call through `VaultClient.raw_login` (no token needed):

- **AppRole** (`auth/<path>/login` with a role id and a secret id), for machines;
- **JWT** (`auth/<path>/login` with a role and a signed JWT), for CI platforms that
  hand a job an identity token;
- **OIDC** through the system browser, as `vault login -method=oidc` does it: the
  server makes the authorization URL for a `redirect_uri` on the loopback
  (`auth/<path>/oidc/auth_url`, with a client nonce of ours), the browser signs in at
  the identity provider, the provider sends the browser back to our one-shot loopback
  listener (oauth/loopback.py: other local users refused, Host checked, one answer,
  the `state` of this login only, a timeout), and the code goes to
  `auth/<path>/oidc/callback` with the state and the same client nonce. The redirect
  URI is the Vault CLI's `http://localhost:8250/oidc/callback` unless given: the role's
  `allowed_redirect_uris` must list it, and so must the identity provider. OpenBao
  and Vault match a loopback redirect whatever its port (RFC 8252 section 7.3,
  `validRedirect` in the jwt auth plugin), so port 0 (a free port the OS picks) works
  where the identity provider does the same. The form_post response mode is not
  offered (the callback must come as a GET, Vault's default `query` mode).

Nothing here sees a token before the server hands it out, and nothing here prints
one: messages name the server, the method, the role and the auth path only. The
server's own words are passed through `_clean` and never carry what we sent.
"""

from __future__ import annotations

import hmac
import re
import secrets
import sys
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from ..errors import CcloginError, InvalidInput, UsageError, VaultPermissionDenied
from ..secret import Secret
from .client import VaultClient, _clean
from .settings import clean_path

DEFAULT_REDIRECT_URI = "http://localhost:8250/oidc/callback"  # the Vault CLI's
DEFAULT_OIDC_TIMEOUT = 300.0
Opener = Callable[[str], object]


class VaultLoginRefused(CcloginError):
    """The auth method turned the login down (wrong secret id, role, audience...)."""

    default_hint = "check the role and the credential with the team's Vault admin"


class VaultAuthAnswerInvalid(CcloginError):
    default_hint = "the server's answer was not a Vault login; check --vault-addr and --path"


def auth_path(raw: str | None, default: str) -> str:
    path = clean_path(raw or default, "auth path")
    if not path:
        raise InvalidInput("the auth path is empty", f"pass --path {default} (where the method is mounted)")
    return path


def _token_of(answer: Any, what: str) -> Secret:
    auth = answer.get("auth") if isinstance(answer, dict) else None
    token = auth.get("client_token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise VaultAuthAnswerInvalid(f"the server's answer to {what} carries no token")
    if any(c.isspace() or not c.isprintable() for c in token) or len(token) > 4096:
        raise VaultAuthAnswerInvalid(f"the server's answer to {what} carries a malformed token")
    return Secret(token)


def _login(client: VaultClient, what: str, fn: Callable[[Any], Any], *sent: Secret) -> Secret:
    """raw_login, with the auth method's refusals told as such (and never echoing `sent`)."""
    try:
        answer = client.raw_login(what, fn)
    except VaultPermissionDenied:
        raise VaultLoginRefused(
            f"{client.settings.address} refused to {what}: permission denied",
            "check --path (is the auth method mounted there?) and the role with the "
            "team's Vault admin",
        ) from None
    except InvalidInput as exc:
        words = exc.message.split(f"{what}: ", 1)[-1]
        words = re.sub(r",? on (get|put|post|delete|list) https?://\S*$", "", words, flags=re.I)
        for secret in sent:
            if secret.reveal():
                words = words.replace(secret.reveal(), "[redacted]")
        raise VaultLoginRefused(f"{client.settings.address} refused to {what}: {words}") from None
    return _token_of(answer, what)


def approle_login(client: VaultClient, role_id: str, secret_id: Secret, path: str) -> Secret:
    """`auth/<path>/login` with role_id and secret_id."""
    what = f"log in with AppRole (auth/{path})"
    return _login(
        client, what,
        lambda c: c.auth.approle.login(role_id, secret_id.reveal(), use_token=False,
                                       mount_point=path),
        secret_id,
    )


def jwt_login(client: VaultClient, role: str, jwt: Secret, path: str) -> Secret:
    """`auth/<path>/login` with a role and a signed JWT."""
    what = f"log in with a JWT as role {role!r} (auth/{path})"
    return _login(
        client, what,
        lambda c: c.auth.jwt.jwt_login(role, jwt.reveal(), use_token=False, path=path),
        jwt,
    )


# --- OIDC through the browser ---------------------------------------------------------


def parse_redirect_uri(uri: str) -> tuple[str, int, str]:
    """(host, port, path) of an `http://localhost|127.0.0.1:PORT/path` redirect URI;
    port 0 lets the OS pick a free one."""
    parts = urlsplit(uri.strip())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme != "http"
        or host not in ("localhost", "127.0.0.1")
        or port is None
        or parts.query
        or parts.fragment
        or parts.username
        or not parts.path.startswith("/")
    ):
        raise UsageError(
            f"--redirect-uri {uri[:100]!r} is not a loopback address with a port",
            f"give http://localhost:PORT/PATH or http://127.0.0.1:PORT/PATH (default "
            f"{DEFAULT_REDIRECT_URI}) as the role's allowed_redirect_uris lists it; port 0 "
            "picks a free one where the identity provider accepts any loopback port",
        )
    return host, port, parts.path


def _state_of(auth_url: str) -> str:
    state = parse_qs(urlsplit(auth_url).query).get("state", [""])[0]
    if not state:
        raise VaultAuthAnswerInvalid("the server's authorization URL carries no state")
    return state


def oidc_login(
    client: VaultClient,
    role: str | None,
    path: str,
    *,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    open_browser: Opener | None = None,
    timeout: float = DEFAULT_OIDC_TIMEOUT,
    stderr: TextIO | None = None,
) -> Secret:
    """Sign in through the browser; returns the Vault token the callback produced."""
    from ..oauth.errors import AuthorizationDenied, LoginTimeout, StateMismatch
    from ..oauth.flows import system_browser
    from ..oauth.loopback import LoopbackServer

    host, port, callback_path = parse_redirect_uri(redirect_uri)
    out = stderr or sys.stderr
    nonce = Secret(secrets.token_urlsafe(24))
    expected: list[str] = []  # the state, once the server made the URL

    def validate(params: dict[str, str]) -> CcloginError | None:
        got = params.get("state", "")
        if not expected or not hmac.compare_digest(got.encode(), expected[0].encode()):
            return StateMismatch("the sign-in answer does not belong to this login "
                                 "(state mismatch); nothing was stored")
        error = params.get("error")
        if error:
            desc = _clean(params.get("error_description", ""), 120)
            return AuthorizationDenied(
                f"the identity provider refused the sign-in: {_clean(error, 64)}"
                + (f" ({desc})" if desc else ""))
        if not params.get("code"):
            return VaultAuthAnswerInvalid("the sign-in answer carries no authorization code")
        return None

    try:
        server = LoopbackServer(validate, port=port, callback_path=callback_path,
                                redirect_host=host)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port} for the sign-in answer "
            f"({exc.strerror or exc})",
            "another program (a `vault login` / `bao login` waiting?) holds the port; "
            "stop it, or pass --redirect-uri with another port the role allows",
        ) from None
    with server:
        body: dict[str, Any] = {"redirect_uri": server.redirect_uri,
                                "client_nonce": nonce.reveal()}
        if role:
            body["role"] = role
        answer = client.raw_login(
            f"start the OIDC sign-in (auth/{path})",
            lambda c: c.adapter.post(f"/v1/auth/{path}/oidc/auth_url", json=body),
        )
        data = answer.get("data") if isinstance(answer, dict) else None
        auth_url = data.get("auth_url") if isinstance(data, dict) else None
        if not isinstance(auth_url, str) or not auth_url:
            raise VaultLoginRefused(
                f"{client.settings.address} made no sign-in address for role "
                f"{role or '(default)'!r} with redirect_uri {server.redirect_uri}",
                "the role must exist and list this exact address in allowed_redirect_uris; "
                "pass --redirect-uri with one it lists",
            )
        if urlsplit(auth_url).scheme not in ("http", "https"):
            raise VaultAuthAnswerInvalid("the server's authorization URL is not http(s)")
        expected.append(_state_of(auth_url))
        server.set_authorization_url(auth_url)
        idp = urlsplit(auth_url).netloc
        print(f"Opening your browser to sign in to {client.settings.address} "
              f"through {idp}.", file=out)
        print(f"If it does not open, visit this address on this machine:\n  "
              f"{server.start_url}", file=out, flush=True)
        (open_browser or system_browser)(server.start_url)
        try:
            result = server.wait(timeout)
        except LoginTimeout as exc:
            raise LoginTimeout(
                exc.message,
                "run `cclogin vault login --method oidc` again and finish the sign-in in the "
                "browser; where there is none, log in elsewhere and pass the token with "
                "--with-token, or use --method jwt / approle",
            ) from None
        if result.problem is not None:
            raise result.problem
        params = {"state": expected[0], "code": result.params["code"],
                  "client_nonce": nonce.reveal()}
        try:
            token = _login(
                client, f"finish the OIDC sign-in (auth/{path})",
                lambda c: c.adapter.get(f"/v1/auth/{path}/oidc/callback", params=params),
                Secret(result.params["code"]), nonce,
            )
        except CcloginError as exc:
            server.finish(exc)
            raise
        server.finish(None)
    return token
