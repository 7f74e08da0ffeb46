"""HTTP to HashiCorp Vault / OpenBao: the one module that imports `requests`.

What hvac's `requests` session does here, and only here:
- **trust**: an `ssl.SSLContext` built like the OAuth client's (`SSL_CERT_FILE` or
  the system store), replaced by `VAULT_CACERT`/`VAULT_CAPATH` when set, as the Vault
  CLI does. requests' own `REQUESTS_CA_BUNDLE`/certifi lookup is bypassed, so both
  of cclogin's HTTP clients trust the same roots.
- **proxies**: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment, as
  requests reads them; its `~/.netrc` lookup is switched off (it would add the
  user's netrc password to requests sent to the Vault server).
- **timeouts**: each request gets what is left of the current attempt (set by the
  client), never requests' fixed read timeout that restarts with every byte.
- **read-your-writes**: OpenBao's standbys answer reads from their own copy, which
  lags the active node (tens of ms on loopback, for good when cut off from it). The
  newest `X-Vault-Index` a server returned goes back with every later request, with
  `X-Vault-Inconsistent: forward-active-node`: a node that has not caught up with
  what this process already saw hands the request to the active node.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import requests.adapters

from ..errors import CcloginError, InvalidInput, VaultTimeout, VaultUnreachable
from .settings import VaultSettings

CONNECT_TIMEOUT = 5.0
MAX_INDEX = 4096  # an X-Vault-Index is ~100 bytes of base64 JSON; anything longer is not kept
RequestError = requests.exceptions.RequestException


def clean(text: object, limit: int = 160) -> str:
    """A server's words, safe to print: one line, printable, bounded."""
    flat = " ".join(str(text).split())
    return "".join(c for c in flat if c.isprintable())[:limit]


def ssl_context(settings: VaultSettings) -> ssl.SSLContext:
    try:
        if settings.ca_file or settings.ca_path:
            return ssl.create_default_context(cafile=settings.ca_file, capath=settings.ca_path)
        env_file = os.environ.get("SSL_CERT_FILE")
        return ssl.create_default_context(cafile=env_file or None)
    except (OSError, ssl.SSLError) as exc:
        where = settings.ca_file or settings.ca_path or os.environ.get("SSL_CERT_FILE")
        raise InvalidInput(
            f"cannot load the CA certificates {where}: {clean(exc)}",
            "point VAULT_CACERT (or ca_file in [vault]) at a PEM file",
        ) from None


class _TrustAdapter(requests.adapters.HTTPAdapter):
    """requests with our SSLContext, and none of its own CA-bundle lookup."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = "CERT_REQUIRED"  # the context holds the roots
        conn.ca_certs = None
        conn.ca_cert_dir = None

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        pool_kwargs["ssl_context"] = self._context
        pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        return host_params, pool_kwargs


def _no_netrc(request: Any) -> Any:
    return request  # an `auth` of our own stops requests from reading ~/.netrc


class Consistency:
    """The newest replication index this process has seen from one cluster."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.index: str | None = None

    def saw(self, value: str | None) -> None:
        if value and len(value) <= MAX_INDEX and value.isascii() and value.isprintable():
            with self._lock:
                self.index = value


class Session(requests.Session):
    """requests with the attempt's time left as its timeouts and the cluster's index."""

    def __init__(
        self, context: ssl.SSLContext, attempt_end: Callable[[], float], seen: Consistency
    ) -> None:
        super().__init__()
        self._attempt_end = attempt_end
        self._seen = seen
        self.auth = _no_netrc
        adapter = _TrustAdapter(context)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        left = self._attempt_end() - time.monotonic()
        if left <= 0:
            raise requests.exceptions.ReadTimeout("the call's deadline has passed")
        kwargs["timeout"] = (min(CONNECT_TIMEOUT, left), left)
        index = self._seen.index
        if index is not None:
            headers = dict(kwargs.pop("headers", None) or {})
            headers["X-Vault-Index"] = index
            headers["X-Vault-Inconsistent"] = "forward-active-node"
            kwargs["headers"] = headers
        response = super().request(method, url, *args, **kwargs)
        self._seen.saw(response.headers.get("X-Vault-Index"))
        return response

    def health(self, address: str) -> int:
        """sys/health's status code (200 active, 429 standby, 503 sealed, ...); no token."""
        response = self.get(f"{address}/v1/sys/health", allow_redirects=False)
        return int(response.status_code)


def network_error(what: str, node: str, exc: Exception) -> CcloginError:
    if isinstance(exc, requests.exceptions.SSLError):
        return VaultUnreachable(
            f"TLS to {node} failed: the certificate is not trusted or does not match",
            "set VAULT_CACERT to the server's CA (or ca_file in [vault])",
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return VaultUnreachable(f"the proxy refused or failed the request to {node}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return VaultUnreachable(f"cannot connect to the secret server at {node} (no answer in time)")
    if isinstance(exc, requests.exceptions.Timeout):
        return VaultTimeout(f"{node} accepted the connection but did not answer ({what})")
    return VaultUnreachable(f"cannot connect to the secret server at {node}")
