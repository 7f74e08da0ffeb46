"""What a plaintext Anthropic credential looks like, as regular expressions on bytes.

Two kinds of hit:
  * a bare key, anywhere: `sk-ant-<tag><n>-<body>`. The real shapes (keys issued by
    the Console, `claude setup-token` and Claude Code's login) are `sk-ant-api03-`,
    `sk-ant-admin01-`, `sk-ant-oat01-` and `sk-ant-ort01-` followed by 93 base64url
    characters and `AA` (108 to 110 characters in all). Any `sk-ant-[a-z]+[0-9]*-`
    with a body of 80 to 256 base64url characters counts, so a new tag or length is
    still found (its `exact_shape` is false).
  * an assignment with a literal value: `ANTHROPIC_API_KEY=...`, `export ...`,
    `set -gx NAME value` (fish), `setenv NAME value` (csh), `"NAME": "..."` (JSON),
    `NAME: value` (YAML), `os.environ["NAME"] = "..."`, for the three variables
    Claude Code reads a credential from and `primaryApiKey` (its `~/.claude.json`
    member). A value counts when it could be a secret (`literal_value`); an
    expansion (`$(cclogin token)`, `${VAR}`, `$VAR`), a `cclogin://` reference, an
    empty value or a placeholder does not.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal[
    "api_key", "admin_key", "oauth_token", "refresh_token", "anthropic_key", "unknown"
]

# The tags whose shape is known: tag -> kind.
KNOWN_TAGS: dict[bytes, Kind] = {
    b"api03": "api_key",
    b"admin01": "admin_key",
    b"oat01": "oauth_token",
    b"ort01": "refresh_token",
}
# Prefix families (any version): what a tag starting so is.
_TAG_FAMILIES: tuple[tuple[bytes, Kind], ...] = (
    (b"admin", "admin_key"),
    (b"oat", "oauth_token"),
    (b"ort", "refresh_token"),
)
EXACT_BODY = 95  # 93 base64url characters and `AA`

VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
JSON_MEMBERS = ("primaryApiKey",)
NAMES = (*VARIABLES, *JSON_MEMBERS)

# Cheap `in` tests before any regex runs: a file without one of these has no finding.
NEEDLES = (b"sk-ant-", b"ANTHROPIC_", b"CLAUDE_CODE_OAUTH_TOKEN", b"primaryApiKey")


def may_hold(block: bytes) -> bool:
    """Whether a block holds one of NEEDLES (unrolled: this runs once per file)."""
    return (
        b"sk-ant-" in block
        or b"ANTHROPIC_" in block
        or b"CLAUDE_CODE_OAUTH_TOKEN" in block
        or b"primaryApiKey" in block
    )

_B64URL = rb"[A-Za-z0-9_-]"
_TOKEN = rb"sk-ant-(?P<tag>[a-z]+[0-9]*)-(?P<body>" + _B64URL + rb"{80,256})"
BARE = re.compile(rb"(?<![A-Za-z0-9_-])" + _TOKEN + rb"(?![A-Za-z0-9_-])")

_NAME = rb"(?P<name>" + b"|".join(n.encode() for n in NAMES) + rb")"
_VALUE = (
    rb"""(?:"(?P<dq>[^"\r\n]{0,1024})"|'(?P<sq>[^'\r\n]{0,1024})'"""
    # Unquoted: up to a separator, taken whole (possessive), and not the start of a
    # call or an index (`get_key()`, `os.environ[...]`, `config.key.strip`).
    rb"""|(?P<bare>[^\s"'`;&|()<>\[\]{},#\\]{1,1024}+)(?![(\[]))"""
)
# `NAME=v`, `export NAME=v`, `NAME: v`, `"NAME": "v"`, `env["NAME"] = "v"`, `NAME => v`.
ASSIGN = re.compile(
    rb"(?<![A-Za-z0-9_${-])" + _NAME + rb"[\"']?\]?[ \t]*(?P<sep>:=|=>|=|:)(?!=)[ \t]*" + _VALUE
)
# `set -gx NAME v` (fish), `setenv NAME v` (csh).
SET_WORD = re.compile(
    rb"(?<![A-Za-z0-9_-])(?:set(?:[ \t]+-{1,2}[A-Za-z-]+)*|setenv)[ \t]+" + _NAME + rb"[ \t]+" + _VALUE
)

_SK_ANT = re.compile(rb"sk-ant-(?P<tag>[a-z]+[0-9]*)-(?P<body>[A-Za-z0-9_-]+)")
_B64TOKEN = re.compile(rb"[A-Za-z0-9._~+/-]+=*")
_DOTTED_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
MIN_UNKNOWN = 16  # an unknown-shape value shorter than this is a placeholder or a flag
_PLACEHOLDER_WORDS = (
    b"your", b"here", b"example", b"placeholder", b"changeme", b"replace", b"dummy",
    b"insert", b"redacted", b"xxxx", b"<", b"...",
)


def kind_of_tag(tag: bytes) -> Kind:
    if tag in KNOWN_TAGS:
        return KNOWN_TAGS[tag]
    for prefix, kind in _TAG_FAMILIES:
        if tag.startswith(prefix):
            return kind
    if tag.startswith(b"api"):
        return "api_key" if tag == b"api03" else "anthropic_key"
    return "anthropic_key"


def exact_shape(tag: bytes, body: bytes) -> bool:
    """The documented shape: a known tag, 93 base64url characters and `AA`."""
    return tag in KNOWN_TAGS and len(body) == EXACT_BODY and body.endswith(b"AA")


def classify_value(value: bytes, quoted: bool) -> tuple[Kind, bool] | None:
    """(kind, exact shape) of an assigned value that could be a secret, else None.

    Not a secret: an empty value, an expansion (`$`, a backtick, a fish `(...)`),
    a `cclogin://` reference, a placeholder (`sk-ant-...`, `your-key-here`, `xxxx`, a
    single repeated character), anything that is not one token of RFC 6750
    characters, an unquoted dotted name (`config.api_key`), or an unknown-shape
    value shorter than MIN_UNKNOWN characters.
    """
    if not value or value.startswith(b"cclogin://"):
        return None
    if any(c in value for c in (b"$", b"`", b"(")):
        return None
    if value.startswith(b"sk-ant-"):
        return _sk_ant_value(value)
    return _unknown_value(value, quoted)


def _sk_ant_value(value: bytes) -> tuple[Kind, bool] | None:
    sk = _SK_ANT.fullmatch(value)
    if sk is None:
        return None  # `sk-ant-...`, `sk-ant-<key>`: a placeholder
    tag, body = sk.group("tag"), sk.group("body")
    if len(set(body)) <= 2:  # sk-ant-api03-xxxxxxxx, sk-ant-api03-XXXXXXXXAA
        return None
    return kind_of_tag(tag), exact_shape(tag, body)


def _unknown_value(value: bytes, quoted: bool) -> tuple[Kind, bool] | None:
    if len(value) < MIN_UNKNOWN or _B64TOKEN.fullmatch(value) is None:
        return None
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(value)) <= 2:
        return None
    if not quoted and not value.startswith(b"eyJ") and _DOTTED_NAME.fullmatch(value):
        return None
    return "unknown", False


KIND_LABELS: dict[str, str] = {
    "api_key": "API key",
    "admin_key": "admin key",
    "oauth_token": "OAuth token",
    "refresh_token": "refresh token",
    "anthropic_key": "Anthropic key",
    "unknown": "unknown shape",
}
