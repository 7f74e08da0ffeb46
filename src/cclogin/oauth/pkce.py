"""PKCE (RFC 7636), S256 only: `plain` would hand the verifier to anyone who sees the URL."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from ..secret import Secret

VERIFIER_BYTES = 32  # 43 base64url characters, the RFC's minimum length and 256 bits


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Pkce:
    verifier: Secret
    challenge: str
    method: str = "S256"


def challenge_for(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_pkce(nbytes: int = VERIFIER_BYTES) -> Pkce:
    if nbytes < VERIFIER_BYTES:
        raise ValueError("a PKCE verifier needs at least 32 random bytes")
    verifier = _b64url(secrets.token_bytes(nbytes))
    return Pkce(verifier=Secret(verifier), challenge=challenge_for(verifier))


def new_state() -> Secret:
    """A one-time value tying the callback to this login (RFC 9700 section 4.7)."""
    return Secret(_b64url(secrets.token_bytes(32)))
