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


BOM = "\ufeff"  # editors on Windows write one; RFC 8259 section 8.1 lets a parser ignore it


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def loads_legacy(text: str) -> Any:
    """A legacy file's text as RFC 8259 JSON: a leading BOM is tolerated, NaN and
    Infinity (which Python's json accepts) are refused. ValueError otherwise."""
    return json.loads(text.removeprefix(BOM), parse_constant=_refuse_constant)


def kept_secret_keys(text: str) -> list[str]:
    """The KEPT_SECRET_KEYS in a JSON object text that hold something (not empty)."""
    try:
        doc = loads_legacy(text)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    return [k for k in KEPT_SECRET_KEYS if doc.get(k) not in (None, "", {}, [])]


def detect(path: Path, data: bytes) -> Detection:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if any(m in data for m in _MARKERS):
            return Detection(problem=f"{path} is not valid UTF-8 text; left as it is")
        return Detection()
    stripped = text.removeprefix(BOM).lstrip()
    if stripped.startswith(("{", "[")):
        return _detect_json(path, text)
    return _detect_dotenv(path, text)


def _detect_json(path: Path, text: str) -> Detection:
    try:
        doc = loads_legacy(text)
    except ValueError as exc:
        if any(m.decode() in text for m in _MARKERS):
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
        return Detection()
    if not isinstance(doc, dict):
        return Detection()
    out = Detection()
    if "claudeAiOauth" in doc:
        _subscription(path, text, doc, out)
    out.kept = kept_secret_keys(text)
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


def _subscription(path: Path, text: str, doc: dict[str, Any], out: Detection) -> None:
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
    raw_value = jsonedit.value_text(text, "claudeAiOauth") or json.dumps(oauth)
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
