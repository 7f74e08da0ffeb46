"""Logging in with a secret the user already has: an API key or a Claude Code token."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..errors import InvalidInput
from ..model import ApiKey, ClaudeToken, Profile
from ..secret import Secret, is_b64token
from .context import AppContext
from .credentials import save_credential

MIN_LEN, MAX_LEN = 8, 4096


def empty_input_hint(what: str, flag: str, platform: str | None = None) -> str:
    """How to give `what` to `login FLAG`, with this platform's clipboard tool."""
    plat = sys.platform if platform is None else platform
    file_way = f"`cclogin login {flag} < file`"
    if plat == "darwin":
        pipe = f"`pbpaste | cclogin login {flag}`"
    elif plat == "win32":
        pipe = f"`Get-Clipboard | cclogin login {flag}` (PowerShell)"
    else:
        pipe = f"`wl-paste | cclogin login {flag}` (or `xclip -o -selection clipboard |`)"
    return (
        f"pipe the {what} on stdin, e.g. {pipe} or {file_way}, or run "
        f"`cclogin login {flag}` on a terminal and paste it at the hidden prompt"
    )


def clean_secret(raw: str, what: str, flag: str = "--with-api-key") -> Secret:
    """Trim surrounding whitespace; refuse what cannot be a key. Never echo the input."""
    value = raw.strip()
    if not value:
        raise InvalidInput(f"no {what} was given", empty_input_hint(what, flag))
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidInput(
            f"the {what} contains spaces, line breaks or control characters",
            f"give exactly one {what}, on one line",
        )
    if not value.isascii():
        raise InvalidInput(
            f"the {what} contains non-ASCII characters", "copy the key again from its source"
        )
    if not is_b64token(value):
        raise InvalidInput(  # which characters is not said either: nothing of the value
            f"the {what} contains characters no token has; only letters, digits and "
            "- . _ ~ + / (then = padding) are allowed (RFC 6750)",
            "copy the key again from its source, without quotes or surrounding text",
        )
    if not MIN_LEN <= len(value) <= MAX_LEN:
        raise InvalidInput(
            f"the {what} is {len(value)} characters long, which no real key is",
            "copy the whole key again from its source",
        )
    return Secret(value)


def login_api_key(
    ctx: AppContext,
    name: str,
    raw: str,
    *,
    force: bool = False,
    switch: bool = True,
    confirm_replace: Callable[[Profile], bool] | None = None,
) -> Profile:
    key = clean_secret(raw, "API key")
    if not key.reveal().startswith("sk-ant-"):
        ctx.notify(
            "cclogin: note: this does not look like an Anthropic API key "
            "(sk-ant-...); storing it anyway"
        )
    return save_credential(
        ctx, name, ApiKey(key), force=force, switch=switch, confirm_replace=confirm_replace
    )


def login_claude_token(
    ctx: AppContext,
    name: str,
    raw: str,
    *,
    force: bool = False,
    switch: bool = True,
    confirm_replace: Callable[[Profile], bool] | None = None,
    account: str | None = None,
) -> Profile:
    """A long-lived token from `claude setup-token`, stored as a Claude-token profile."""
    token = clean_secret(raw, "Claude Code token", "--with-oauth-token")
    if not token.reveal().startswith("sk-ant-oat"):
        ctx.notify(
            "cclogin: note: this does not look like a token from "
            "`claude setup-token` (sk-ant-oat...); storing it anyway"
        )
    return save_credential(
        ctx,
        name,
        ClaudeToken(token),
        force=force,
        switch=switch,
        confirm_replace=confirm_replace,
        provider="claude",
        account=account,
    )
