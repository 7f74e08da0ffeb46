"""Where the team's secret server is and how to reach it: flags, environment, config.

Precedence, as in the Vault CLI: a flag (or a team profile's own record), then the
environment (`BAO_*` before `VAULT_*`, as the OpenBao CLI reads them), then the
`[vault]` table of cclogin's config file:

    [vault]
    address = "https://bao-1.example.com:8200, https://bao-2.example.com:8200"
    namespace = "team-a"       # Vault Enterprise / OpenBao namespaces
    mount = "secret"           # the KV version 2 mount
    prefix = "cclogin/alice"   # where `--backend vault` keeps a user's own secrets
    ca_file = "/etc/ssl/team-ca.pem"

Several addresses (comma separated, in cclogin's own flag or config only: the Vault
CLI reads one) are the nodes of one cluster, tried in order when one is down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..errors import InvalidInput, UsageError
from ..policy import check_vault_addresses

DEFAULT_MOUNT = "secret"
DEFAULT_TIMEOUT = 15.0  # seconds, a whole call; VAULT_CLIENT_TIMEOUT changes it
MAX_TIMEOUT = 600.0


class VaultSettings(NamedTuple):
    addresses: tuple[str, ...]
    namespace: str | None = None
    mount: str = DEFAULT_MOUNT
    prefix: str = ""
    ca_file: str | None = None  # replaces the default trust, as VAULT_CACERT does
    ca_path: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def address(self) -> str:
        return self.addresses[0]

    def describe(self) -> str:
        where = ", ".join(self.addresses)
        ns = f" namespace {self.namespace}" if self.namespace else ""
        return f"{where}{ns} (kv-v2 mount {self.mount!r})"


def parse_addresses(raw: str) -> tuple[str, ...]:
    """One or more `http(s)://host[:port]` URLs, comma separated; no paths, no users."""
    out: list[str] = []
    for part in raw.split(","):
        url = part.strip().rstrip("/")
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                f"{url[:80]!r} is not a server address",
                "give http(s)://host:port, e.g. https://bao.example.com:8200",
            )
        if parts.username or parts.password or parts.query or parts.fragment or parts.path:
            raise InvalidInput(
                f"the server address {parts.scheme}://{parts.hostname} has more than "
                "scheme, host and port",
                "give only http(s)://host:port; tokens never go in a URL",
            )
        out.append(url)
    if not out:
        raise UsageError(
            "no secret server address is configured",
            "pass --vault-addr, set VAULT_ADDR / BAO_ADDR, or add address to [vault] in "
            "cclogin's config.toml",
        )
    return tuple(dict.fromkeys(out))


def clean_path(raw: str, what: str = "path") -> str:
    """A KV path: segments of safe characters, no `..`, no leading or trailing `/`."""
    path = raw.strip().strip("/")
    segments = path.split("/") if path else []
    for seg in segments:
        if seg in ("", ".", "..") or not all(c.isalnum() or c in "-_.:@+=" for c in seg):
            raise InvalidInput(
                f"invalid secret {what} {raw[:80]!r}",
                "use segments of letters, digits and - _ . : @ + =, separated by /",
            )
    return "/".join(segments)


def _timeout(env: Mapping[str, str]) -> float:
    raw = env.get("BAO_CLIENT_TIMEOUT") or env.get("VAULT_CLIENT_TIMEOUT")
    if not raw:
        return DEFAULT_TIMEOUT
    text = raw.strip().removesuffix("s")
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"VAULT_CLIENT_TIMEOUT={raw[:20]!r} is not a number of seconds") from None
    if not 0 < value <= MAX_TIMEOUT:
        raise UsageError(f"VAULT_CLIENT_TIMEOUT must be between 0 and {MAX_TIMEOUT:g} seconds")
    return value


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def resolve_settings(
    environ: Mapping[str, str],
    config: Mapping[str, Any] | None = None,
    *,
    address: str | None = None,
    namespace: str | None = None,
    mount: str | None = None,
    prefix: str | None = None,
) -> VaultSettings:
    """Flags (or a profile's record) over the environment over `[vault]` in config."""
    table = (config or {}).get("vault") or {}
    if not isinstance(table, Mapping):
        raise InvalidInput("[vault] in the config file is not a table", "see the README's Teams section")

    def conf(key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"vault.{key} in the config file is not a string")
        return value.strip() or None

    raw_addr = address or _first(environ, "BAO_ADDR", "VAULT_ADDR") or conf("address") or ""
    addresses = parse_addresses(raw_addr)
    check_vault_addresses(addresses)  # the admin policy's vault.allowed_addresses
    return VaultSettings(
        addresses=addresses,
        namespace=namespace or _first(environ, "BAO_NAMESPACE", "VAULT_NAMESPACE") or conf("namespace"),
        mount=clean_path(mount or conf("mount") or DEFAULT_MOUNT, "mount") or DEFAULT_MOUNT,
        prefix=clean_path(prefix if prefix is not None else conf("prefix") or "", "prefix"),
        ca_file=_first(environ, "BAO_CACERT", "VAULT_CACERT") or conf("ca_file"),
        ca_path=_first(environ, "BAO_CAPATH", "VAULT_CAPATH") or conf("ca_path"),
        timeout=_timeout(environ),
    )
