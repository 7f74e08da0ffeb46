"""A string that will not print itself."""

from __future__ import annotations

from typing import NoReturn


class Secret:
    """Wraps a secret value. `repr`/`str` redact; `.reveal()` is the one way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({redact(self._value)!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> NoReturn:
        # Pickling would write the value somewhere we do not control.
        raise TypeError("Secret cannot be pickled")


def redact(value: str) -> str:
    """`sk-ant-…Ab12`: enough to tell two keys apart, not enough to use one."""
    if len(value) < 16:
        return "…"
    prefix = value[:7] if value.startswith("sk-ant-") else value[:3]
    return f"{prefix}…{value[-4:]}"


# RFC 6750's b64token: what a bearer token (and an API key, sent as a header value) may
# hold. A set, not a regex: this module is on the `cclogin token` hot path.
_B64TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/")


def is_b64token(value: str) -> bool:
    """`1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 2.1)."""
    body = value.rstrip("=")
    return bool(body) and all(ch in _B64TOKEN_CHARS for ch in body)
