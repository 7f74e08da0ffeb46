"""The one HTTP client cclogin uses, and the one place httpx errors are translated.

`trust_env=True` makes HTTPS_PROXY / HTTP_PROXY / NO_PROXY / SSL_CERT_FILE work as
users expect; a provider may add its own CA bundle.

Every request is bounded as a whole, not only per read: httpx's read timeout restarts
with every byte, so a server that drips one byte a second would hold a request (and
the refresh lock around it) forever. Each request runs in a worker thread that the
caller waits for until the request's total deadline; the worker also checks the
deadline between body chunks, so it ends soon after the caller has given up.
Nothing here logs: headers and bodies carry tokens, so they never leave this module
except as the parsed JSON returned to the caller.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import NetworkError
from .errors import (
    ConnectFailed,
    DnsError,
    HttpStatusError,
    ProxyFailed,
    RequestTimeout,
    TlsError,
)

DEFAULT_TIMEOUT = 20.0  # total deadline of one request (discovery, device start, ...)
CONNECT_TIMEOUT = 10.0
# The token endpoint gets longer (issue 9, item 15). A refresh the server completes
# after we gave up has, on servers that rotate refresh tokens, already spent the
# refresh token we keep: the next refresh is refused and the profile needs a new
# login. A generous deadline makes that rarer; other `token` callers do not wait on
# it, since the refresh lock is taken with a timeout and they hand out the
# still-valid stored token meanwhile (accounts/refresh.py). What remains: a server
# slower than this still costs a login on rotating servers; nothing client-side can
# tell whether a request that timed out was processed.
TOKEN_TIMEOUT = 60.0
# Test-only: caps every total deadline (seconds), so tests of dripping servers end fast.
DEADLINE_ENV = "CCLOGIN_TEST_ONLY_HTTP_DEADLINE"
MAX_BODY = 1 << 20  # token and discovery documents are small; refuse giant ones


def capped(seconds: float) -> float:
    """`seconds`, or less when the test-only cap says so."""
    raw = os.environ.get(DEADLINE_ENV, "")
    try:
        cap = float(raw) if raw else 0.0
    except ValueError:
        cap = 0.0
    return min(seconds, cap) if cap > 0 else seconds


def token_deadline() -> float:
    """The total deadline of one token-endpoint request, as it applies now."""
    return capped(TOKEN_TIMEOUT)


def safe_url(url: str) -> str:
    """scheme://host[:port]/path: what error messages may show (never a query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str
    url: str  # safe_url of the request

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None if it is not one."""
        try:
            doc = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None


class HttpClient:
    """A thin wrapper over one httpx.Client; use as a context manager."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ca_bundle: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            # An explicit bundle *adds* to the default trust (SSL_CERT_FILE or the
            # system store), so a gateway CA does not break public hosts.
            verify = _context_with(Path(ca_bundle))
        self._timeout = timeout
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
            trust_env=True,
            verify=verify,
            follow_redirects=False,  # RFC 8414: metadata and token answers come direct
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "cclogin"},
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, *, timeout: float | None = None) -> HttpResponse:
        return self._send("GET", url, timeout=timeout)

    def post_form(
        self, url: str, data: dict[str, str], *, timeout: float | None = None
    ) -> HttpResponse:
        return self._send("POST", url, data=data, timeout=timeout)

    def post_json(
        self, url: str, data: dict[str, str], *, timeout: float | None = None
    ) -> HttpResponse:
        return self._send("POST", url, json_body=data, timeout=timeout)

    def _send(
        self,
        method: str,
        url: str,
        *,
        data: dict[str, str] | None = None,
        json_body: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        total = capped(self._timeout if timeout is None else timeout)
        deadline = time.monotonic() + total
        outcome: list[HttpResponse | BaseException] = []

        def work() -> None:
            try:
                outcome.append(self._stream(method, url, data, json_body, total, deadline))
            except BaseException as exc:  # handed to the caller below
                outcome.append(exc)

        # A daemon thread: one stuck in a read never keeps cclogin from exiting.
        worker = threading.Thread(target=work, name="cclogin-http", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()) + 0.05)
        if not outcome:
            raise _too_slow(url, total)
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _stream(
        self,
        method: str,
        url: str,
        data: dict[str, str] | None,
        json_body: dict[str, str] | None,
        total: float,
        deadline: float,
    ) -> HttpResponse:
        try:
            with self._client.stream(
                method,
                url,
                data=data,
                json=json_body,
                timeout=httpx.Timeout(total, connect=min(total, CONNECT_TIMEOUT)),
            ) as resp:
                body = b""
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise HttpStatusError(
                            f"{safe_url(url)} sent more than {MAX_BODY} bytes",
                            resp.status_code,
                        )
                    if time.monotonic() > deadline:
                        raise _too_slow(url, total)
                return HttpResponse(
                    status=resp.status_code,
                    body=body,
                    content_type=resp.headers.get("content-type", ""),
                    url=safe_url(url),
                )
        except httpx.HTTPError as exc:
            # `from None`: the httpx exception holds the request, whose body may
            # hold a code or a refresh token; keep it out of tracebacks.
            raise translate(exc, url) from None
        except httpx.InvalidURL:
            raise NetworkError(
                f"invalid URL {safe_url(url)!r}", "check the provider's URLs"
            ) from None


def _too_slow(url: str, total: float) -> RequestTimeout:
    return RequestTimeout(
        f"{safe_url(url)} did not finish its answer within {total:g} s",
        "the server is too slow or stalled; try again later, or ask your admin",
    )


def _context_with(bundle: Path) -> ssl.SSLContext:
    import os

    if not bundle.is_file():
        raise TlsError(
            f"the CA bundle {bundle} does not exist",
            "fix ca_bundle in the provider's config",
        )
    env_file = os.environ.get("SSL_CERT_FILE")
    ctx = ssl.create_default_context(cafile=env_file) if env_file else _default_context()
    try:
        ctx.load_verify_locations(cafile=str(bundle))
    except (ssl.SSLError, OSError):
        raise TlsError(
            f"the CA bundle {bundle} is not a PEM certificate file",
            "fix ca_bundle in the provider's config",
        ) from None
    return ctx


def _default_context() -> ssl.SSLContext:
    import certifi  # httpx's own default trust store; ships with httpx

    return ssl.create_default_context(cafile=certifi.where())


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def proxy_for(url: str) -> str | None:
    """The proxy httpx will use for `url` from the environment (None: direct)."""
    import urllib.request

    parts = urlsplit(url)
    host = parts.hostname or ""
    # Not in typeshed, but public and documented since Python 2; it reads NO_PROXY
    # the same way httpx does for plain host names and domain suffixes.
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009
    if bypass(host):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme) or proxies.get("all")


def translate(exc: httpx.HTTPError, url: str) -> NetworkError:  # noqa: PLR0911 - a table
    """One httpx exception to one NetworkError subclass that says what failed."""
    where = safe_url(url)
    host = urlsplit(url).hostname or where
    chain = _chain(exc)
    proxy = proxy_for(url)
    if isinstance(exc, httpx.ProxyError) or (
        proxy and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    ):
        return ProxyFailed(
            f"the proxy {safe_url(proxy or '?')} failed while connecting to {host}",
            "check HTTPS_PROXY / HTTP_PROXY, or add the host to NO_PROXY",
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(f"{where} did not answer in time")
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return TlsError(f"the certificate of {host} could not be verified")
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in str(exc):
        return TlsError(f"the TLS handshake with {host} failed")
    if any(isinstance(e, socket.gaierror) for e in chain) or _looks_like_dns(str(exc)):
        return DnsError(f"the host name {host} could not be resolved")
    if isinstance(exc, httpx.ConnectError):
        return ConnectFailed(f"could not connect to {host} ({_port(url)})")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return NetworkError(f"unsupported URL scheme in {where}", "use an https:// URL")
    return ConnectFailed(f"the connection to {host} failed ({type(exc).__name__})")


def _looks_like_dns(text: str) -> bool:
    markers = ("Name or service not known", "nodename nor servname", "getaddrinfo failed",
               "Temporary failure in name resolution", "No address associated")
    return any(m in text for m in markers)


def _port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"port {port}"


def status_error(resp: HttpResponse, what: str) -> HttpStatusError:
    """An unexpected status, with a hint that fits its class."""
    if resp.status >= 500:
        hint = "the server has a problem; try again later"
    elif resp.status in (401, 403):
        hint = "the server refused the client; check the client id with your admin"
    elif resp.status == 404:
        hint = "check the URL: the server has no such endpoint"
    else:
        hint = None
    return HttpStatusError(f"{what} failed: {resp.url} answered HTTP {resp.status}",
                           resp.status, hint)
