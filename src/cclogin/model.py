"""Credentials (secret) and profiles (not secret), and how credentials serialise.

A credential is stored as one small versioned JSON document, `{"v": 1, "kind": ...}`,
which every backend keeps as one opaque blob.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, NewType

from .errors import InvalidInput, StoreCorrupt
from .secret import Secret

ProfileName = NewType("ProfileName", str)
CredentialKind = Literal["api_key", "oauth", "claude_token", "claude_login", "vault_token"]
KINDS: tuple[CredentialKind, ...] = ("api_key", "oauth", "claude_token", "claude_login", "vault_token")
# secret-server: the secret lives on a team's Vault / OpenBao, read with the user's token.
StorageClass = Literal["keychain", "encrypted-file", "secret-server"]
CREDENTIAL_VERSION = 1
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})

# The model is NamedTuples, not the frozen dataclasses STYLE.md asks for: they kept
# `dataclasses` (and the `inspect` it imports, ~6 ms) off `cclogin token` when `token`
# imported this module. Its lean path (hotpath/) no longer does (tests/test_imports.py),
# so that reason is gone; moving to frozen dataclasses is a change of its own (callers
# use `._replace()`, tuple equality and positional construction). Use `._replace()`.

_PROFILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # fullmatch: `$` lets "a\n" in


def profile_name(value: str) -> ProfileName:
    if not _PROFILE_RE.fullmatch(value):
        raise InvalidInput(
            f"invalid profile name {value[:70]!r}",
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return ProfileName(value)


PROFILE_KEY_PREFIX = "profile:"


def secret_key(name: ProfileName) -> str:
    """The store key that holds a profile's credential."""
    return f"{PROFILE_KEY_PREFIX}{name}"


class ApiKey(NamedTuple):
    key: Secret
    kind: Literal["api_key"] = "api_key"

    def __repr__(self) -> str:
        return f"ApiKey({self.key!r})"


class OAuthTokens(NamedTuple):
    """Tokens from a (non-Anthropic) OAuth provider; cclogin refreshes these."""

    access_token: Secret
    refresh_token: Secret | None = None
    expires_at: float | None = None  # epoch seconds
    scopes: tuple[str, ...] = ()
    token_type: str = "Bearer"
    id_token: Secret | None = None
    kind: Literal["oauth"] = "oauth"

    def __repr__(self) -> str:
        return f"OAuthTokens(access={self.access_token!r}, expires_at={self.expires_at})"

    def expires_within(self, seconds: float, now: float) -> bool:
        """True when the access token is expired or expires within `seconds`."""
        return self.expires_at is not None and self.expires_at - seconds <= now


class ClaudeToken(NamedTuple):
    """A long-lived token printed by `claude setup-token`; never refreshed by us."""

    token: Secret
    kind: Literal["claude_token"] = "claude_token"

    def __repr__(self) -> str:
        return f"ClaudeToken({self.token!r})"


class ClaudeLogin(NamedTuple):
    """A migrated Claude subscription login, kept whole and byte for byte.

    `raw` is the original `claudeAiOauth` object (and any sibling keys) as JSON text.
    cclogin never refreshes it or sends it anywhere; it only hands the access token
    back to Claude Code itself.
    """

    raw: Secret
    access_token: Secret
    expires_at: float | None = None
    kind: Literal["claude_login"] = "claude_login"

    def __repr__(self) -> str:
        return f"ClaudeLogin(access={self.access_token!r}, expires_at={self.expires_at})"


class VaultToken(NamedTuple):
    """A HashiCorp Vault / OpenBao token: the user's own key to a team's server.

    Kept like any other credential (never in `~/.vault-token`); renewed before it
    expires when `renewable`; revoked at logout.
    """

    token: Secret
    expires_at: float | None = None  # None: the token has no TTL (a root token)
    renewable: bool = False
    # The lifetime, in seconds, a renewal asks for: the TTL the token was issued with
    # (its period, for a periodic token). None where it is not known.
    lease: float | None = None
    kind: Literal["vault_token"] = "vault_token"

    def __repr__(self) -> str:
        return f"VaultToken({self.token!r}, expires_at={self.expires_at})"


Credential = ApiKey | OAuthTokens | ClaudeToken | ClaudeLogin | VaultToken


def _opt_secret(value: Any) -> Secret | None:
    return Secret(value) if isinstance(value, str) and value else None


def dump_credential(cred: Credential) -> bytes:
    doc: dict[str, Any] = {"v": CREDENTIAL_VERSION, "kind": cred.kind}
    if isinstance(cred, ApiKey):
        doc["key"] = cred.key.reveal()
    elif isinstance(cred, OAuthTokens):
        doc["access_token"] = cred.access_token.reveal()
        if cred.refresh_token is not None:
            doc["refresh_token"] = cred.refresh_token.reveal()
        if cred.id_token is not None:
            doc["id_token"] = cred.id_token.reveal()
        doc["expires_at"] = cred.expires_at
        doc["scopes"] = list(cred.scopes)
        doc["token_type"] = cred.token_type
    elif isinstance(cred, ClaudeToken):
        doc["token"] = cred.token.reveal()
    elif isinstance(cred, VaultToken):
        doc["token"] = cred.token.reveal()
        doc["expires_at"] = cred.expires_at
        doc["renewable"] = cred.renewable
        if cred.lease is not None:
            doc["lease"] = cred.lease
    else:
        doc["raw"] = cred.raw.reveal()
        doc["access_token"] = cred.access_token.reveal()
        doc["expires_at"] = cred.expires_at
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def load_credential(blob: bytes) -> Credential:
    """Parse a stored credential; any defect is StoreCorrupt (never echoing content)."""
    try:
        doc = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StoreCorrupt("the stored credential is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("v") != CREDENTIAL_VERSION:
        raise StoreCorrupt("the stored credential has an unknown format version")
    kind = doc.get("kind")
    try:
        if kind == "api_key":
            return ApiKey(Secret(doc["key"]))
        if kind == "oauth":
            exp = doc.get("expires_at")
            return OAuthTokens(
                access_token=Secret(doc["access_token"]),
                refresh_token=_opt_secret(doc.get("refresh_token")),
                id_token=_opt_secret(doc.get("id_token")),
                expires_at=float(exp) if exp is not None else None,
                scopes=tuple(str(s) for s in doc.get("scopes", [])),
                token_type=str(doc.get("token_type", "Bearer")),
            )
        if kind == "claude_token":
            return ClaudeToken(Secret(doc["token"]))
        if kind == "vault_token":
            exp = doc.get("expires_at")
            lease = doc.get("lease")
            return VaultToken(
                Secret(doc["token"]),
                expires_at=float(exp) if exp is not None else None,
                renewable=bool(doc.get("renewable", False)),
                lease=float(lease) if lease is not None else None,
            )
        if kind == "claude_login":
            exp = doc.get("expires_at")
            return ClaudeLogin(
                raw=Secret(doc["raw"]),
                access_token=Secret(doc["access_token"]),
                expires_at=float(exp) if exp is not None else None,
            )
    except (KeyError, TypeError, ValueError):
        raise StoreCorrupt(f"the stored {kind} credential is missing a field") from None
    raise StoreCorrupt("the stored credential is of an unknown kind")


def secrets_of(cred: Credential) -> Iterator[Secret]:
    """Every secret a credential holds (a Claude login's tokens inside its raw JSON too):
    what a scan or a fix compares a plaintext value against."""
    for value in cred:
        if isinstance(value, Secret):
            yield value
    if isinstance(cred, ClaudeLogin):
        try:
            doc = json.loads(cred.raw.reveal())
        except ValueError:
            return
        if isinstance(doc, dict):
            for key in ("accessToken", "refreshToken"):
                token = doc.get(key)
                if isinstance(token, str) and token:
                    yield Secret(token)


def primary_secret(cred: Credential) -> Secret:
    """What `cclogin token` prints for this credential."""
    if isinstance(cred, ApiKey):
        return cred.key
    if isinstance(cred, ClaudeToken | VaultToken):
        return cred.token
    return cred.access_token


class Profile(NamedTuple):
    """The non-secret side of an account. Nothing here is ever secret."""

    name: ProfileName
    kind: CredentialKind
    backend: str  # the store name that holds the secret, pinned at login
    storage_class: StorageClass
    created_at: float
    account: str | None = None  # email / org where known
    provider: str | None = None  # OAuth provider name or issuer
    base_url: str | None = None  # ANTHROPIC_BASE_URL for gateway profiles
    expires_at: float | None = None
    needs_login: bool = False
    source: str | None = None  # legacy file this profile was migrated from
    extra: Mapping[str, str] = _NO_EXTRA

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "backend": self.backend,
            "storage_class": self.storage_class,
            "created_at": self.created_at,
            "account": self.account,
            "provider": self.provider,
            "base_url": self.base_url,
            "expires_at": self.expires_at,
            "needs_login": self.needs_login,
            "source": self.source,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Profile:
        if not isinstance(doc, dict):
            raise TypeError("profile is not an object")
        kind = doc["kind"]
        if kind not in KINDS:
            raise ValueError("unknown profile kind")
        storage = doc["storage_class"]
        if storage not in ("keychain", "encrypted-file", "secret-server"):
            raise ValueError("unknown storage class")
        extra = doc.get("extra") or {}
        if not isinstance(extra, dict):
            raise TypeError("extra is not an object")
        return cls(
            name=profile_name(str(doc["name"])),
            kind=kind,
            backend=str(doc["backend"]),
            storage_class=storage,
            created_at=float(doc["created_at"]),
            account=_opt_str(doc.get("account")),
            provider=_opt_str(doc.get("provider")),
            base_url=_opt_str(doc.get("base_url")),
            expires_at=float(doc["expires_at"]) if doc.get("expires_at") is not None else None,
            needs_login=bool(doc.get("needs_login", False)),
            source=_opt_str(doc.get("source")),
            extra={str(k): str(v) for k, v in extra.items()},
        )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
