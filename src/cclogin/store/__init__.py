"""Where secrets live: one protocol, several backends, one selector."""

from .base import SecretStore, StoreInfo, validate_key

__all__ = ["SecretStore", "StoreInfo", "validate_key"]
