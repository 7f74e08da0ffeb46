"""Providers are data: an issuer, a client id and the endpoints found by discovery.

A Provider comes from `--issuer URL --client-id ID` (RFC 8414, then OpenID
discovery), or from a `[providers.NAME]` table in the config. It serialises to a
flat `dict[str, str]` (all public values) that a profile keeps in `Profile.extra`.

cclogin has no OAuth client for Anthropic / claude.ai: any provider whose issuer or
endpoints live there is refused, and `cclogin login --claude` is the way in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..policy import check_issuer
from .errors import (
    ClaudeProviderRefused,
    DiscoveryError,
    HttpStatusError,
    ProviderConfigError,
    ProviderNotFound,
    RequestTimeout,
)
from .http import HttpClient, HttpResponse, safe_url

Flow = Literal["browser", "paste", "device"]
TokenRequestFormat = Literal["form", "json"]
ALL_FLOWS: tuple[Flow, ...] = ("browser", "paste", "device")
DEFAULT_SCOPES: tuple[str, ...] = ("openid", "offline_access")
EXTRA_PREFIX = "oauth."
_CLAUDE_DOMAINS = ("anthropic.com", "claude.ai", "claude.com")


@dataclass(frozen=True)
class Provider:
    name: str
    issuer: str
    client_id: str
    token_endpoint: str
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    base_url: str | None = None  # ANTHROPIC_BASE_URL of the gateway these tokens open
    token_request: TokenRequestFormat = "form"
    authorize_params: tuple[tuple[str, str], ...] = ()
    flows: tuple[Flow, ...] = ALL_FLOWS
    ca_bundle: str | None = None
    # RFC 9207: the server promised an `iss` in every authorization response.
    require_iss: bool = False
    # Where the paste flow sends the browser; the user copies the address it lands on.
    paste_redirect_uri: str = "http://127.0.0.1/callback"
    # Why the browser and paste sign-ins are off, when the metadata says it (no S256).
    code_flow_refused: str | None = None

    def __post_init__(self) -> None:
        refuse_claude(self)
        if self.base_url is not None:
            check_base_url(self.base_url)
        check_paste_redirect_uri(self.paste_redirect_uri)

    def supports(self, flow: Flow) -> bool:
        if flow == "device":
            return "device" in self.flows and self.device_authorization_endpoint is not None
        return flow in self.flows and self.authorization_endpoint is not None


# --- checks ---------------------------------------------------------------------


def _is_claude_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in _CLAUDE_DOMAINS)


def refuse_claude(p: Provider) -> None:
    refuse_claude_urls(p.issuer, p.token_endpoint, p.authorization_endpoint,
                       p.device_authorization_endpoint, p.revocation_endpoint,
                       p.introspection_endpoint)


def refuse_claude_urls(*urls: str | None) -> None:
    for url in urls:
        if url and _is_claude_host(urlsplit(url).hostname or ""):
            raise ClaudeProviderRefused(
                f"{safe_url(url)} is Anthropic's own sign-in; cclogin has no OAuth "
                "client for Claude accounts",
                "sign in to a Claude account with `cclogin login --claude`, which runs "
                "Claude Code's own `claude setup-token`",
            )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """https only, except on the loopback interface (test servers, local gateways)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DiscoveryError(f"{what} {safe_url(url)!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise DiscoveryError(
            f"{what} {safe_url(url)} does not use https",
            "OAuth over plain http is only allowed on 127.0.0.1; use the https URL",
        )
    if parts.username or parts.password or parts.fragment:
        raise DiscoveryError(f"{what} {safe_url(url)} must not carry credentials or a fragment")
    return url


def _split(url: str) -> tuple[str, str] | None:
    """(scheme, host) of an http(s) URL, or None for anything else."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a bad port or IPv6 literal
        return None
    if parts.scheme not in ("https", "http") or not host:
        return None
    return parts.scheme, host


def check_base_url(url: str) -> str:
    """The gateway gets the token in every request: https, unless it is on loopback."""
    split = _split(url)
    if split is None:
        raise ProviderConfigError(f"base_url {safe_url(url)!r} is not an http(s) URL",
                                  "set base_url to the gateway's https address")
    if "@" in urlsplit(url).netloc:
        raise ProviderConfigError(f"base_url {safe_url(url)} must not carry credentials",
                                  "remove the user:password@ part")
    scheme, host = split
    if scheme == "http" and not _is_loopback(host):
        raise ProviderConfigError(
            f"base_url {safe_url(url)} does not use https: every request would carry "
            "the token in the clear",
            "use the gateway's https address; plain http is allowed only on "
            "127.0.0.1, [::1] or localhost",
        )
    return url


def check_paste_redirect_uri(url: str) -> str:
    """The paste flow's redirect must land on loopback: wherever it points gets the code."""
    split = _split(url)
    if split is None or not _is_loopback(split[1]):
        raise ProviderConfigError(
            f"paste_redirect_uri {safe_url(url)!r} is not an address on this machine's "
            "loopback: the browser would hand the authorization code to that host",
            "use http://127.0.0.1/callback (the default), or another 127.0.0.1, [::1] "
            "or localhost address the provider accepts",
        )
    return url


# --- discovery ------------------------------------------------------------------


def discovery_urls(issuer: str) -> list[str]:
    """RFC 8414 first (well-known inserted before the path), then OpenID (appended)."""
    parts = urlsplit(issuer)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    return [
        f"{base}/.well-known/oauth-authorization-server{path}",
        f"{base}{path}/.well-known/openid-configuration",
    ]


def _same_issuer(a: str, b: str) -> bool:
    return a == b or a.rstrip("/") == b.rstrip("/")


def fetch_metadata(issuer: str, http: HttpClient) -> dict[str, Any]:
    """The first metadata document found at the discovery addresses.

    Any answer but a 200 JSON document naming this issuer (a 403 from a gateway, a
    redirect, an HTML catch-all page, a stalled answer) means "not here": the next
    address is tried, and only when every one fails does discovery fail, naming each
    address and what it said. Failures to reach the host at all (DNS, TLS, connect,
    proxy) would be the same at every address and are raised as they are.
    """
    check_url(issuer, "issuer")
    tried: list[str] = []
    statuses: list[int] = []
    for url in discovery_urls(issuer):
        where = safe_url(url)
        try:
            resp = http.get(url)
        except (RequestTimeout, HttpStatusError) as exc:
            tried.append(f"{where}: {exc.message}")
            continue
        doc, why = _metadata_from(resp, issuer)
        if doc is not None:
            return doc
        tried.append(f"{where} {why}")
        statuses.append(resp.status)
    if statuses and all(s == 404 for s in statuses) and len(statuses) == len(tried):
        hint = "check --issuer, or configure the endpoints in a [providers.NAME] table"
    else:
        hint = ("check --issuer; if a gateway or login page answers there, ask your admin "
                "for the issuer URL, or configure the endpoints in a [providers.NAME] table")
    raise DiscoveryError(
        f"{issuer} publishes no usable OAuth metadata: " + "; ".join(tried), hint
    )


def _metadata_from(resp: HttpResponse, issuer: str) -> tuple[dict[str, Any] | None, str]:
    """(the document, "") when `resp` is this issuer's metadata, else (None, why not)."""
    if 300 <= resp.status < 400:
        return None, f"redirected (HTTP {resp.status})"
    if resp.status != 200:
        return None, f"answered HTTP {resp.status}"
    doc = resp.json_object()
    if doc is None:
        kind = resp.content_type.split(";")[0].strip() or "no content type"
        return None, f"answered a document that is not JSON metadata ({clean_text(kind)})"
    found = doc.get("issuer")
    if not isinstance(found, str) or not _same_issuer(found, issuer):
        # RFC 8414 section 3.3: a mismatch means someone else's metadata.
        return None, (f"holds the metadata of issuer {clean_text(str(found))!r}, "
                      f"not {issuer!r}")
    return doc, ""


def clean_text(text: str, limit: int = 100) -> str:
    return "".join(c for c in text if c.isprintable())[:limit]


def _opt_url(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DiscoveryError(f"metadata field {key} is not a string")
    return check_url(value, key)


def from_metadata(
    doc: Mapping[str, Any],
    *,
    name: str,
    client_id: str,
    scopes: tuple[str, ...] | None = None,
    base_url: str | None = None,
    ca_bundle: str | None = None,
) -> Provider:
    token = _opt_url(doc, "token_endpoint")
    if token is None:
        raise DiscoveryError("the metadata has no token_endpoint")
    methods = doc.get("code_challenge_methods_supported")
    authz = _opt_url(doc, "authorization_endpoint")
    refused = None
    if isinstance(methods, list) and "S256" not in methods:
        authz = None  # no PKCE S256: cclogin will not run the code flow against it
        listed = ", ".join(str(m) for m in methods[:5]) or "none"
        refused = (
            f"{name} does not offer PKCE with S256 (its metadata lists: {listed}); cclogin "
            "never runs the browser or paste sign-in without it"
        )
    supported = doc.get("scopes_supported")
    chosen = scopes
    if chosen is None:
        chosen = DEFAULT_SCOPES
        if isinstance(supported, list):
            chosen = tuple(s for s in DEFAULT_SCOPES if s in supported)
    params: tuple[tuple[str, str], ...] = ()
    if "offline_access" in chosen:
        # Most OpenID servers only issue a refresh token after an explicit consent.
        params = (("prompt", "consent"),)
    flows: list[Flow] = []
    if authz:
        flows += ["browser", "paste"]
    if doc.get("device_authorization_endpoint"):
        flows.append("device")
    return Provider(
        name=name,
        issuer=str(doc["issuer"]),
        client_id=client_id,
        token_endpoint=token,
        authorization_endpoint=authz,
        device_authorization_endpoint=_opt_url(doc, "device_authorization_endpoint"),
        revocation_endpoint=_opt_url(doc, "revocation_endpoint"),
        introspection_endpoint=_opt_url(doc, "introspection_endpoint"),
        scopes=chosen,
        base_url=base_url,
        authorize_params=params,
        flows=tuple(flows),
        code_flow_refused=refused,
        ca_bundle=ca_bundle,
        require_iss=doc.get("authorization_response_iss_parameter_supported") is True,
    )


def discover(
    issuer: str,
    client_id: str,
    *,
    name: str | None = None,
    scopes: tuple[str, ...] | None = None,
    base_url: str | None = None,
    ca_bundle: str | None = None,
    http: HttpClient | None = None,
) -> Provider:
    """A Provider from `--issuer URL --client-id ID`."""
    if not client_id or any(c.isspace() for c in client_id):
        raise ProviderConfigError("the client id is empty or contains spaces",
                                  "pass --client-id as your admin gave it")
    # Refuse Claude, and issuers the admin policy does not allow, before sending anything.
    refuse_claude_urls(issuer)
    check_issuer(issuer)
    own = http is None
    client = http or HttpClient(ca_bundle=ca_bundle)
    try:
        doc = fetch_metadata(issuer, client)
    finally:
        if own:
            client.close()
    return from_metadata(doc, name=name or (urlsplit(issuer).hostname or issuer),
                         client_id=client_id, scopes=scopes, base_url=base_url,
                         ca_bundle=ca_bundle)


# --- config ---------------------------------------------------------------------


def _str(table: Mapping[str, Any], key: str, name: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ProviderConfigError(f"[providers.{name}] has no {key}")
        return None
    if not isinstance(value, str) or not value:
        raise ProviderConfigError(f"[providers.{name}] {key} must be a non-empty string")
    return value


def _scopes(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise ProviderConfigError(f"[providers.{name}] scopes must be a string or a list")


def from_config_table(
    name: str, table: Mapping[str, Any], *, http: HttpClient | None = None
) -> Provider:
    """A Provider from `[providers.NAME]`; discovery fills endpoints not given."""
    issuer = cast(str, _str(table, "issuer", name, required=True))
    client_id = cast(str, _str(table, "client_id", name, required=True))
    scopes = _scopes(table.get("scopes"), name)
    fmt = table.get("token_request", "form")
    if fmt not in ("form", "json"):
        raise ProviderConfigError(f"[providers.{name}] token_request must be form or json")
    base = Provider(
        name=name,
        issuer=check_url(issuer, "issuer"),
        client_id=client_id,
        token_endpoint=issuer,  # placeholder until endpoints are known
    )
    if _str(table, "token_endpoint", name) is None:
        base = discover(issuer, client_id, name=name, scopes=scopes,
                        ca_bundle=_str(table, "ca_bundle", name), http=http)
    endpoints = {
        k: check_url(v, k)
        for k in ("token_endpoint", "authorization_endpoint", "device_authorization_endpoint",
                  "revocation_endpoint", "introspection_endpoint")
        if (v := _str(table, k, name)) is not None
    }
    params = table.get("authorize_params")
    if params is not None and not (
        isinstance(params, dict) and all(isinstance(v, str) for v in params.values())
    ):
        raise ProviderConfigError(f"[providers.{name}] authorize_params must map names to strings")
    flows = table.get("flows")
    if flows is not None and not (isinstance(flows, list) and set(flows) <= set(ALL_FLOWS)):
        raise ProviderConfigError(f"[providers.{name}] flows must list browser, paste, device")
    changes: dict[str, Any] = dict(endpoints)
    if scopes is not None:
        changes["scopes"] = scopes
        if params is None:
            changes["authorize_params"] = (
                (("prompt", "consent"),) if "offline_access" in scopes else ()
            )
    if params is not None:
        changes["authorize_params"] = tuple(sorted(params.items()))
    if flows is not None:
        changes["flows"] = tuple(flows)
    for key in ("base_url", "ca_bundle", "paste_redirect_uri"):
        if (v := _str(table, key, name)) is not None:
            changes[key] = v
    changes["token_request"] = fmt
    if "require_iss" in table:
        changes["require_iss"] = bool(table["require_iss"])
    return replace(base, **changes)


def load_provider(
    name: str, config: Mapping[str, Any], *, http: HttpClient | None = None
) -> Provider:
    """The provider NAME from a loaded config (`cclogin.config.load_config`)."""
    providers = config.get("providers") or {}
    table = providers.get(name) if isinstance(providers, dict) else None
    if not isinstance(table, dict):
        known = ", ".join(sorted(providers)) if isinstance(providers, dict) else ""
        raise ProviderNotFound(
            f"no provider named {name!r} is configured"
            + (f" (known: {known})" if known else "")
        )
    return from_config_table(name, table, http=http)


# --- flat serialisation for Profile.extra -----------------------------------------

_URL_FIELDS = ("issuer", "token_endpoint", "authorization_endpoint",
               "device_authorization_endpoint", "revocation_endpoint",
               "introspection_endpoint", "base_url", "ca_bundle", "paste_redirect_uri")


def to_extra(p: Provider) -> dict[str, str]:
    """Every field as a string under `oauth.`; nothing here is secret."""
    out = {"name": p.name, "client_id": p.client_id, "scopes": " ".join(p.scopes),
           "token_request": p.token_request, "authorize_params": urlencode(p.authorize_params),
           "flows": " ".join(p.flows), "require_iss": "1" if p.require_iss else "0"}
    for key in _URL_FIELDS:
        value = getattr(p, key)
        if value is not None:
            out[key] = value
    return {EXTRA_PREFIX + k: v for k, v in out.items()}


def from_extra(extra: Mapping[str, str]) -> Provider:
    """Inverse of `to_extra`; other keys in `extra` are ignored."""
    d = {k[len(EXTRA_PREFIX):]: v for k, v in extra.items() if k.startswith(EXTRA_PREFIX)}
    try:
        fmt = d.get("token_request", "form")
        flows = tuple(f for f in d.get("flows", "").split() if f in ALL_FLOWS)
        if fmt not in ("form", "json"):
            raise ValueError("token_request")
        kwargs: dict[str, Any] = {k: d[k] for k in _URL_FIELDS if k in d}
        return Provider(
            name=d["name"],
            client_id=d["client_id"],
            scopes=tuple(d.get("scopes", "").split()),
            token_request=cast(TokenRequestFormat, fmt),
            authorize_params=tuple(parse_qsl(d.get("authorize_params", ""))),
            flows=flows,
            require_iss=d.get("require_iss") == "1",
            **kwargs,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderConfigError(
            f"the profile's provider record is incomplete ({exc})",
            "log in to this profile again with `cclogin login --provider ...`",
        ) from None
