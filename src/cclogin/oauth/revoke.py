"""Token revocation (RFC 7009) on logout: best effort, short, never raising.

Logout must wipe local copies even offline, so every failure here is an outcome,
not an exception; the outcome says which failure it was, because each means
something different to the user (nothing to do, the server said no, or no answer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from ..errors import CcloginError
from ..model import OAuthTokens
from .errors import RequestTimeout
from .http import HttpClient
from .provider import Provider
from .tokens import post_to

REVOKE_TIMEOUT = 5.0  # total, for every revocation request of one logout together

RevokeKind = Literal["revoked", "unsupported", "refused", "unreachable", "timeout"]


@dataclass(frozen=True)
class RevokeOutcome:
    kind: RevokeKind
    status: int | None = None  # the HTTP status of a refusal
    detail: str = ""  # why it was unreachable (no secrets: hosts and steps only)

    @property
    def ok(self) -> bool:
        return self.kind == "revoked"


def revoke_outcome(  # noqa: PLR0911 - one outcome per way it can end
    provider: Provider,
    tokens: OAuthTokens,
    *,
    http_client: HttpClient | None = None,
    timeout: float = REVOKE_TIMEOUT,
) -> RevokeOutcome:
    """Revoke the refresh token (which ends the grant), then the access token.

    Both requests together finish within `timeout` seconds, whatever the server does.
    """
    endpoint = provider.revocation_endpoint
    if endpoint is None:
        return RevokeOutcome("unsupported")
    pairs = [(tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")]
    try:
        http = http_client or HttpClient(ca_bundle=provider.ca_bundle, timeout=timeout)
    except CcloginError as exc:  # a missing CA bundle, say: logout goes on regardless
        return RevokeOutcome("unreachable", detail=exc.message)
    deadline = time.monotonic() + timeout
    try:
        for token, hint in pairs:
            if token is None:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return RevokeOutcome("timeout", detail=f"no answer within {timeout:g} s")
            try:
                resp = post_to(provider, http, endpoint,
                               {"token": token.reveal(), "token_type_hint": hint},
                               timeout=left)
            except RequestTimeout:
                return RevokeOutcome("timeout", detail=f"no answer within {timeout:g} s")
            except CcloginError as exc:
                return RevokeOutcome("unreachable", detail=exc.message)
            # RFC 7009 2.2: 200 also for tokens that were already invalid.
            if resp.status != 200:
                return RevokeOutcome("refused", status=resp.status)
    finally:
        if http_client is None:
            http.close()
    return RevokeOutcome("revoked")


def revoke(
    provider: Provider,
    tokens: OAuthTokens,
    *,
    http_client: HttpClient | None = None,
    timeout: float = REVOKE_TIMEOUT,
) -> bool:
    """True when the server confirmed every revocation it was sent."""
    return revoke_outcome(provider, tokens, http_client=http_client, timeout=timeout).ok
