"""The device authorization grant (RFC 8628), for machines with no browser.

The user code and address go to stderr; the device code never leaves this module.
Polling follows the server's interval (clamped to 1..60 s), adds 5 s on `slow_down`,
and stops on `expired_token`, `access_denied` or when the code's lifetime is over
(at most 30 minutes, whatever the server says).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..model import OAuthTokens
from .errors import (
    AuthorizationDenied,
    DeviceCodeExpired,
    FlowNotSupported,
    InvalidTokenResponse,
    TokenRequestFailed,
)
from .http import HttpClient, status_error
from .provider import Provider
from .tokens import Clock, clean, client_for, oauth_error, parse_tokens, post_to, token_request

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5  # RFC 8628 section 3.2, when the server names none
SLOW_DOWN_STEP = 5
# A hostile or broken server must not make us poll in a tight loop, sleep for hours
# between polls, or keep a login waiting all day: its numbers are clamped.
MIN_INTERVAL = 1.0
MAX_INTERVAL = 60.0
DEFAULT_LIFETIME = 600.0
MAX_LIFETIME = 30 * 60.0


def _start(provider: Provider, http: HttpClient, endpoint: str) -> dict[str, Any]:
    params = {"scope": " ".join(provider.scopes)} if provider.scopes else {}
    resp = post_to(provider, http, endpoint, params)
    if resp.status != 200:
        err = oauth_error(resp)
        if err is None:
            raise status_error(resp, "starting the device sign-in")
        raise TokenRequestFailed(f"{provider.name} refused the device sign-in: {err[0]}"
                                 + (f" ({err[1]})" if err[1] else ""), error=err[0])
    doc = resp.json_object()
    if doc is None or not isinstance(doc.get("device_code"), str) \
            or not isinstance(doc.get("user_code"), str):
        raise InvalidTokenResponse("the device authorization answer is incomplete")
    uri = doc.get("verification_uri") or doc.get("verification_url")  # the latter: Google
    if not isinstance(uri, str):
        raise InvalidTokenResponse("the device authorization answer has no verification_uri")
    return doc


def device_login(
    provider: Provider,
    *,
    http_client: HttpClient | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Clock = time.monotonic,
    clock: Clock = time.time,
) -> OAuthTokens:
    endpoint = provider.device_authorization_endpoint
    if not provider.supports("device") or endpoint is None:
        raise FlowNotSupported(f"{provider.name} does not offer the device sign-in",
                               "sign in with the browser, or with --paste")
    out = stderr or sys.stderr
    http, own = client_for(provider, http_client)
    try:
        doc = _start(provider, http, endpoint)
        uri = clean(doc.get("verification_uri") or doc.get("verification_url"), 500)
        complete = doc.get("verification_uri_complete")
        print(f"To sign in to {provider.name}, open {uri} on any device and enter "
              f"the code:\n\n    {clean(doc['user_code'], 40)}\n", file=out)
        if isinstance(complete, str):
            print(f"(or open {clean(complete, 500)})", file=out)
        print("Waiting for you to approve...", file=out, flush=True)
        interval = _clamp(_number(doc.get("interval"), DEFAULT_INTERVAL),
                          MIN_INTERVAL, MAX_INTERVAL)
        lifetime = min(_number(doc.get("expires_in"), DEFAULT_LIFETIME), MAX_LIFETIME)
        # A little grace, so the server's own expired_token normally arrives first.
        deadline = monotonic() + lifetime + interval
        while True:
            sleep(interval)
            if monotonic() > deadline:
                raise _expired(provider)
            try:
                tokens = token_request(provider, http, {
                    "grant_type": DEVICE_GRANT,
                    "device_code": doc["device_code"],
                }, "the device sign-in")
            except TokenRequestFailed as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval = min(interval + SLOW_DOWN_STEP, MAX_INTERVAL)
                    continue
                if exc.error == "expired_token":
                    raise _expired(provider) from None
                if exc.error == "access_denied":
                    raise AuthorizationDenied(
                        f"sign-in to {provider.name} was denied on the device page"
                    ) from None
                raise
            return parse_tokens(tokens, requested_scopes=provider.scopes, clock=clock)
    finally:
        if own:
            http.close()


def _expired(provider: Provider) -> DeviceCodeExpired:
    return DeviceCodeExpired(f"the device code for {provider.name} expired before it "
                             "was approved; nothing was stored")


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(default)
