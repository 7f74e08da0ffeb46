"""Talking to the token endpoint: one request shape, one response parser.

Used by every grant (authorization code, device code, refresh). The request body
holds codes, verifiers and refresh tokens; it is built here and goes nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ..model import OAuthTokens
from ..secret import Secret, is_b64token
from .errors import InvalidTokenResponse, TokenRequestFailed
from .http import TOKEN_TIMEOUT, HttpClient, HttpResponse, status_error
from .provider import Provider

Clock = Callable[[], float]


def clean(text: object, limit: int = 200) -> str:
    """A server-supplied string made safe for one line of terminal output."""
    s = "".join(c for c in str(text) if c.isprintable())
    return s[:limit]


def post_to(provider: Provider, http: HttpClient, url: str, params: dict[str, str],
            timeout: float | None = None) -> HttpResponse:
    body = {"client_id": provider.client_id, **params}
    if provider.token_request == "json":
        return http.post_json(url, body, timeout=timeout)
    return http.post_form(url, body, timeout=timeout)


def oauth_error(resp: HttpResponse) -> tuple[str, str] | None:
    """(error, description) from an RFC 6749 error answer, or None if it is not one."""
    if resp.status not in (400, 401, 403):
        return None
    doc = resp.json_object()
    if doc is None or not isinstance(doc.get("error"), str):
        return None
    return clean(doc["error"], 64), clean(doc.get("error_description") or "")


def token_request(provider: Provider, http: HttpClient, params: dict[str, str],
                  what: str) -> dict[str, Any]:
    """POST to the token endpoint; the JSON answer, or TokenRequestFailed / NetworkError."""
    # The token endpoint's longer total deadline: see TOKEN_TIMEOUT in http.py.
    resp = post_to(provider, http, provider.token_endpoint, params, timeout=TOKEN_TIMEOUT)
    if resp.status == 200:
        doc = resp.json_object()
        if doc is None:
            raise InvalidTokenResponse(f"{what}: {resp.url} did not answer with JSON")
        return doc
    err = oauth_error(resp)
    if err is None:
        raise status_error(resp, what)
    code, desc = err
    message = f"{what} was refused by {provider.name}: {code}"
    if desc:
        message += f" ({desc})"
    raise TokenRequestFailed(message, error=code)


def parse_tokens(
    doc: Mapping[str, Any],
    *,
    requested_scopes: tuple[str, ...],
    previous_refresh: Secret | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """A token response (RFC 6749 5.1) as OAuthTokens; expires_at = now + expires_in."""
    access = doc.get("access_token")
    if not isinstance(access, str) or not access:
        raise InvalidTokenResponse("the token response has no access_token")
    refresh = doc.get("refresh_token")
    for what, value in (("access_token", access), ("refresh_token", refresh)):
        # A token goes into HTTP headers and onto stdout: control characters or spaces
        # there would split a header or a line. Never echo it.
        if isinstance(value, str) and value and not is_b64token(value):
            raise InvalidTokenResponse(
                f"the server's {what} holds characters a bearer token may not contain "
                "(RFC 6750 allows letters, digits and -._~+/ then '='); it was not stored"
            )
    token_type = doc.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise InvalidTokenResponse(f"unsupported token_type {clean(token_type, 20)!r}")
    expires_at: float | None = None
    expires_in = doc.get("expires_in")
    if expires_in is not None:
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            raise InvalidTokenResponse("the token response's expires_in is not a number") from None
        expires_at = clock() + max(0.0, seconds)
    scope = doc.get("scope")
    scopes = tuple(scope.split()) if isinstance(scope, str) else requested_scopes
    id_token = doc.get("id_token")
    return OAuthTokens(
        access_token=Secret(access),
        # Servers that do not rotate send no new refresh token: keep the old one.
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh
        else previous_refresh,
        expires_at=expires_at,
        scopes=scopes,
        token_type="Bearer",  # noqa: S106 - a token type name, not a secret
        id_token=Secret(id_token) if isinstance(id_token, str) and id_token else None,
    )


def client_for(provider: Provider, http: HttpClient | None) -> tuple[HttpClient, bool]:
    """The caller's client, or a new one (True: the caller must close it)."""
    if http is not None:
        return http, False
    return HttpClient(ca_bundle=provider.ca_bundle), True
