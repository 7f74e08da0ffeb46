"""Refreshing an access token (RFC 6749 section 6). One request, no retries.

invalid_grant becomes RefreshRejected (a NeedsRelogin) so the caller can re-read its
store and adopt a token another process wrote; a network failure stays a
NetworkError, and the caller leaves the stored tokens untouched.
"""

from __future__ import annotations

import time

from ..errors import NeedsRelogin
from ..model import OAuthTokens
from ..policy import check_issuer
from .errors import RefreshRejected, TokenRequestFailed
from .http import HttpClient
from .provider import Provider
from .tokens import Clock, client_for, parse_tokens, token_request


def refresh(
    provider: Provider,
    tokens: OAuthTokens,
    *,
    http_client: HttpClient | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    if tokens.refresh_token is None:
        raise NeedsRelogin(f"the {provider.name} login has no refresh token and has expired")
    check_issuer(provider.issuer, f"the issuer of the {provider.name} login")  # admin policy
    params = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token.reveal()}
    if tokens.scopes:
        params["scope"] = " ".join(tokens.scopes)
    http, own = client_for(provider, http_client)
    try:
        doc = token_request(provider, http, params, "refreshing the token")
    except TokenRequestFailed as exc:
        if exc.error == "invalid_grant":
            raise RefreshRejected(
                f"{provider.name} no longer accepts this login's refresh token "
                "(expired, revoked or already used)"
            ) from None
        raise
    finally:
        if own:
            http.close()
    return parse_tokens(doc, requested_scopes=tokens.scopes,
                        previous_refresh=tokens.refresh_token, clock=clock)
