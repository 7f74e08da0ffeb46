"""Token revocation (RFC 7009) on logout: best effort, short, never raising.

Logout must wipe local copies even offline, so every failure here is a False.
"""

from __future__ import annotations

from ..errors import CcloginError
from ..model import OAuthTokens
from .http import HttpClient
from .provider import Provider
from .tokens import post_to

REVOKE_TIMEOUT = 5.0


def revoke(
    provider: Provider,
    tokens: OAuthTokens,
    *,
    http_client: HttpClient | None = None,
    timeout: float = REVOKE_TIMEOUT,
) -> bool:
    """Revoke the refresh token (which ends the grant) and the access token.

    True when the server confirmed every revocation it was sent; False when it has
    no revocation endpoint, refused, or could not be reached.
    """
    endpoint = provider.revocation_endpoint
    if endpoint is None:
        return False
    pairs = [(tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")]
    try:
        http = http_client or HttpClient(ca_bundle=provider.ca_bundle, timeout=timeout)
    except CcloginError:  # a missing CA bundle, say: logout goes on regardless
        return False
    ok = True
    try:
        for token, hint in pairs:
            if token is None:
                continue
            try:
                resp = post_to(provider, http, endpoint,
                               {"token": token.reveal(), "token_type_hint": hint},
                               timeout=timeout)
            except CcloginError:
                return False
            # RFC 7009 2.2: 200 also for tokens that were already invalid.
            ok = ok and resp.status == 200
    finally:
        if http_client is None:
            http.close()
    return ok
