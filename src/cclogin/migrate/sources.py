"""Recognising credentials in a legacy file by its content, never by its name.

Shapes (migrations/0001-claude-code-plaintext/MIGRATION.md):
  * Claude Code's credentials file: `{"claudeAiOauth": {...}, "mcpOAuth": {...}, ...}`;
    only `claudeAiOauth` moves (cclogin hands the login back through
    CLAUDE_CODE_OAUTH_TOKEN). Claude Code's other secrets (`KEPT_SECRET_KEYS`) stay:
    it reads them only from that file and nothing else can carry them. They are
    reported by name (`Detection.kept`), never by value. Other keys stay as well.
  * `~/.claude.json`, its legacy `.config.json` and its backups: `primaryApiKey` moves;
    every other setting stays byte for byte.
  * Claude Code's `settings.json` / `settings.local.json`: `env.ANTHROPIC_API_KEY`,
    `env.ANTHROPIC_AUTH_TOKEN` and `env.CLAUDE_CODE_OAUTH_TOKEN` move; the rest of
    `env` and of the file stays byte for byte.
  * `.env`-style lines: `ANTHROPIC_API_KEY=...`, `CLAUDE_CODE_OAUTH_TOKEN=...`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import envfile
from ..model import ApiKey, ClaudeLogin, ClaudeToken, Credential, OAuthTokens
from ..secret import Secret
from . import jsonedit

SUBSCRIPTION_KEYS = ("claudeAiOauth",)  # what moves out of Claude Code's credentials file
# Claude Code's other secrets in that file: they stay (see KEPT_REASON).
KEPT_SECRET_KEYS = (
    "mcpOAuth",
    "mcpOAuthClientConfig",
    "pluginSecrets",
    "designOauth",
    "chatHistoryOauth",
    "cloudSessionsOauth",
)
KEPT_REASON = (
    "Claude Code reads it only from this file and nothing else can carry it, "
    "so cclogin leaves it in place"
)
# `env` of Claude Code's settings: variable -> (kind, profile name).
# ANTHROPIC_AUTH_TOKEN is a bearer token (gateways, proxies): the `oauth` kind is the
# one cclogin hands back as ANTHROPIC_AUTH_TOKEN; with no expiry and no refresh token
# it is never refreshed, only handed out.
SETTINGS_ENV = {
    "ANTHROPIC_API_KEY": ("api_key", "claude-api-key"),
    "ANTHROPIC_AUTH_TOKEN": ("oauth", "claude-auth-token"),
    "CLAUDE_CODE_OAUTH_TOKEN": ("claude_token", "claude-oauth-token"),
}
ENV_VARIABLES = {"ANTHROPIC_API_KEY": "api_key", "CLAUDE_CODE_OAUTH_TOKEN": "claude_token"}
_MARKERS = (
    b"claudeAiOauth",
    b"primaryApiKey",
    b"sk-ant-",
    b"ANTHROPIC_API_KEY",
    b"ANTHROPIC_AUTH_TOKEN",
    b"CLAUDE_CODE_OAUTH_TOKEN",
    *(k.encode() for k in KEPT_SECRET_KEYS),
)

# The top-level members detection decodes; every other member is only checked (jsonedit).
JSON_WANT = frozenset(("claudeAiOauth", "primaryApiKey", "env", *KEPT_SECRET_KEYS))
# Markers that name a credential migrate would move, for a file too large to parse.
_MOVED_NAMES = (
    (b"primaryApiKey", "primaryApiKey"),
    (b"claudeAiOauth", "claudeAiOauth (a Claude subscription login)"),
    *((v.encode(), v) for v in SETTINGS_ENV),
)
MAX_TEXT = 16 << 20  # a .env-style file (or any text not JSON) larger than this is no .env
_LEADING_WS = re.compile(rb"[ \t\n\r\x0b\x0c]*")

Shape = Literal["json", "dotenv"]


@dataclass(frozen=True)
class Hit:
    """One credential found in a file, before it is given a profile name."""

    cred: Credential
    label: str  # for people: "Claude subscription login", ...
    base_name: str  # the profile name it wants
    shape: Shape
    keys: tuple[str, ...] = ()  # JSON members to remove
    within: tuple[str, ...] = ()  # JSON: the keys of the object holding them ("env",)
    line: int = -1  # dotenv: the 1-based line the entry starts on
    variable: str = ""  # dotenv: the variable's name
    span: tuple[int, int] = (-1, -1)  # dotenv: the entry's lines (envfile.Entry offsets)
    value_span: tuple[int, int] = (-1, -1)  # dotenv: the value as written, inside quotes


@dataclass
class Detection:
    hits: list[Hit] = field(default_factory=list)
    problem: str | None = None  # why a credential-looking file could not be used
    warnings: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # KEPT_SECRET_KEYS present (names only)
    hint: str | None = None  # what to do about `problem`, when there is a better fix
    notes: list[str] = field(default_factory=list)  # said, not failed: "nothing to migrate"
    index: jsonedit.Index | None = field(default=None, repr=False)  # a JSON file's, parsed once

    @property
    def looks_secret(self) -> bool:
        return bool(self.hits) or self.problem is not None or bool(self.kept)


def kept_lines(path: Path, kept: list[str]) -> list[str]:
    """One line per secret key left in Claude Code's credentials file, by name."""
    return [
        f"{path}: {key} stays in the file: {KEPT_REASON}"
        + (" (moving it would disconnect Claude Code's MCP servers)" if key == "mcpOAuth" else "")
        for key in kept
    ]


def kept_secret_keys(values: dict[str, Any] | Any) -> list[str]:
    """The KEPT_SECRET_KEYS that hold something (not empty), of a decoded JSON object
    (or `jsonedit.Index.values` of one parsed with JSON_WANT)."""
    if not isinstance(values, dict):
        return []
    return [k for k in KEPT_SECRET_KEYS if values.get(k) not in (None, "", {}, [])]


def parse_json(data: bytes) -> jsonedit.Index:
    """A JSON file indexed for detection and planning (ValueError if it is not JSON)."""
    return jsonedit.parse(data, JSON_WANT)


def detect(path: Path, data: bytes) -> Detection:
    start = len(jsonedit.BOM) if data.startswith(jsonedit.BOM) else 0
    at = _LEADING_WS.match(data, start).end()  # type: ignore[union-attr]
    first = data[at : at + 1]
    if first in (b"{", b"["):
        return _detect_json(path, data)
    if len(data) > MAX_TEXT:
        names = [name for marker, name in _MOVED_NAMES if marker in data]
        if not names and b"sk-ant-" not in data:
            return Detection()
        return Detection(
            problem=f"{path} is not JSON and larger than a .env file can be "
            f"({len(data) >> 20} MiB); {' and '.join(names) or 'an sk-ant- key'} in it is "
            "still plaintext; left as it is",
            hint="remove the credential from it by hand, or split the file",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if any(m in data for m in _MARKERS):
            return Detection(problem=f"{path} is not valid UTF-8 text; left as it is")
        return Detection()
    return _detect_dotenv(path, text)


def credential_names(path: Path) -> tuple[list[str], bool]:
    """(the credentials migrate would move that `path` names, whether it names any of
    Claude Code's kept secrets), read in blocks: for a file too large to parse.

    By marker, not by structure: "primaryApiKey" anywhere counts."""
    wanted = [*_MOVED_NAMES, (b"sk-ant-", "a key starting sk-ant-")]
    kept_markers = [k.encode() for k in KEPT_SECRET_KEYS]
    found: set[bytes] = set()
    overlap = max(len(m) for m, _n in wanted + [(k, "") for k in kept_markers]) - 1
    tail = b""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return [], False
    try:
        while block := os.read(fd, 1 << 20):
            window = tail + block
            found.update(m for m, _n in wanted if m in window)
            found.update(k for k in kept_markers if k in window)
            tail = window[-overlap:]
    except OSError:
        pass
    finally:
        os.close(fd)
    names = [n for m, n in _MOVED_NAMES if m in found]
    if not names and b"sk-ant-" in found:
        names = ["a key starting sk-ant-"]
    return names, any(k in found for k in kept_markers)


def _unparsable(path: Path, data: bytes, exc: ValueError) -> Detection:
    """A file that is no JSON text: a problem if it looks like it holds a credential."""
    if not any(m in data for m in _MARKERS):
        return Detection()
    if isinstance(exc, UnicodeDecodeError):
        return Detection(problem=f"{path} is not valid UTF-8 text; left as it is")
    if "RFC 8259" in str(exc):
        return Detection(
            problem=f"{path} looks like a credential file but holds NaN or Infinity, "
            "which JSON does not allow; left as it is",
            hint="replace them with numbers (or null) and run migrate again",
        )
    return Detection(
        problem=f"{path} looks like a credential file but is not valid JSON "
        "(truncated?); left as it is"
    )


def _detect_json(path: Path, data: bytes) -> Detection:
    try:
        index = parse_json(data)
    except ValueError as exc:
        return _unparsable(path, data, exc)
    if index.members is None:
        return Detection()
    doc = dict(index.values)
    out = Detection(index=index)
    if "claudeAiOauth" in doc:
        _subscription(path, data, index, doc, out)
    out.kept = kept_secret_keys(doc)
    if "primaryApiKey" in doc:
        key = doc["primaryApiKey"]
        if isinstance(key, str) and key.strip():
            out.hits.append(
                Hit(
                    ApiKey(Secret(key.strip())),
                    "Console API key (primaryApiKey)",
                    "claude-api-key",
                    "json",
                    keys=("primaryApiKey",),
                )
            )
        elif key not in (None, ""):
            out.problem = f"{path}: primaryApiKey is a {type(key).__name__}, not a string"
    if isinstance(doc.get("env"), dict):
        _settings_env(path, doc["env"], out)
    return out


def _settings_env(path: Path, env: dict[str, Any], out: Detection) -> None:
    """`"env": {"ANTHROPIC_API_KEY": ...}` in Claude Code's settings."""
    for variable, (kind, base_name) in SETTINGS_ENV.items():
        value = env.get(variable)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not value.strip():
            out.problem = f"{path}: env.{variable} is not a string; left as it is"
            continue
        secret = Secret(value.strip())
        cred: Credential = (
            ApiKey(secret)
            if kind == "api_key"
            else ClaudeToken(secret)
            if kind == "claude_token"
            else OAuthTokens(access_token=secret)
        )
        out.hits.append(
            Hit(cred, f"env.{variable}", base_name, "json", keys=(variable,), within=("env",))
        )


def _subscription(
    path: Path, data: bytes, index: jsonedit.Index, doc: dict[str, Any], out: Detection
) -> None:
    oauth = doc["claudeAiOauth"]
    token = oauth.get("accessToken") if isinstance(oauth, dict) else None
    if isinstance(oauth, dict) and token == "":
        # What Claude Code leaves when a login ended (`/logout`, "loginEnded": "time_limit").
        ended = oauth.get("loginEnded")
        why = f" ({ended})" if isinstance(ended, str) and ended.isprintable() else ""
        out.notes.append(
            f"{path}: a login Claude Code already ended{why[:60]}; nothing to migrate; "
            "run `claude /login` or `cclogin login --claude`"
        )
        return
    if not isinstance(oauth, dict) or not isinstance(token, str) or not token:
        out.problem = (
            f"{path}: claudeAiOauth has the wrong shape (no accessToken string); left as it is"
        )
        return
    raw = jsonedit.value_bytes(data, index, "claudeAiOauth")
    raw_value = raw.decode("utf-8") if raw else json.dumps(oauth)
    expires = oauth.get("expiresAt")
    expires_at: float | None = None
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        expires_at = float(expires) / 1000.0  # Claude Code writes epoch milliseconds
    elif expires is not None:
        out.warnings.append(f"{path}: expiresAt is not a number; stored without an expiry")
    keys = tuple(k for k in SUBSCRIPTION_KEYS if k in doc)
    out.hits.append(
        Hit(
            ClaudeLogin(raw=Secret(raw_value), access_token=Secret(token), expires_at=expires_at),
            "Claude subscription login (claudeAiOauth)",
            "claude",
            "json",
            keys=keys,
        )
    )


def _detect_dotenv(path: Path, text: str) -> Detection:
    """`ANTHROPIC_API_KEY=` / `CLAUDE_CODE_OAUTH_TOKEN=` entries, read by the one `.env`
    parser `cclogin run` loads with (envfile.py). A `cclogin://` reference is no secret;
    a credential line the parser cannot read is a problem, never a guess."""
    out = Detection()
    stem = env_profile_stem(path)
    parsed = envfile.parse(text)
    for problem in parsed.problems:
        if problem.name in ENV_VARIABLES:
            out.problem = f"{path}:{problem.line}: {problem.message}; left as it is"
            return out
    for entry in parsed.entries:
        name, value = entry.name, entry.value
        if name not in ENV_VARIABLES or not value.strip() or value.startswith(envfile.SCHEME):
            continue
        cred: Credential = (
            ApiKey(Secret(value)) if name == "ANTHROPIC_API_KEY" else ClaudeToken(Secret(value))
        )
        suffix = "" if name == "ANTHROPIC_API_KEY" else "-oauth-token"
        out.hits.append(
            Hit(
                cred,
                f"{name} line",
                f"env-{stem}{suffix}",
                "dotenv",
                line=entry.line,
                variable=name,
                span=(entry.start, entry.end),
                value_span=(entry.value_start, entry.value_end),
            )
        )
    return out


def env_profile_stem(path: Path) -> str:
    """`~/proj/.env` -> `proj`; `~/keys/work.env` -> `work`; made a valid profile name."""
    base = path.parent.name if path.name.startswith(".env") or path.stem == "" else path.stem
    base = path.parent.name if base in ("", ".env") else base
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "file"
    return cleaned[:40]
