"""Which secret a command should use right now: the `token` and `exec` hot path.

`ANTHROPIC_API_KEY` in the environment wins over everything stored, as Claude Code
users expect. Otherwise: `--profile`, then `CCLOGIN_PROFILE`, then the active profile.
Keep imports here lean: `cclogin token` runs many times a minute.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from ..errors import NeedsRelogin
from ..model import ClaudeLogin, Credential, OAuthTokens, Profile, VaultToken, primary_secret
from ..secret import Secret
from .context import AppContext
from .credentials import read_credential
from .policy_gate import check_profile_use
from .profiles import read_metadata, resolve_name

ENV_OVERRIDE = "ANTHROPIC_API_KEY"
REFRESH_MARGIN = 60.0  # seconds: refresh a token that expires within the minute

VARIABLE_BY_KIND = {
    "api_key": "ANTHROPIC_API_KEY",
    "claude_token": "CLAUDE_CODE_OAUTH_TOKEN",
    "claude_login": "CLAUDE_CODE_OAUTH_TOKEN",
    "oauth": "ANTHROPIC_AUTH_TOKEN",
    "vault_token": "VAULT_TOKEN",
}


class Resolved(NamedTuple):
    secret: Secret
    variable: str  # the environment variable this secret belongs in
    profile: Profile | None  # None when the secret came from the environment
    base_url: str | None = None
    expires_at: float | None = None  # of the secret itself, after any refresh

    @property
    def from_env(self) -> bool:
        return self.profile is None


def env_override(ctx: AppContext) -> Secret | None:
    value = ctx.environ.get(ENV_OVERRIDE, "").strip()
    return Secret(value) if value else None


def resolve_profile(ctx: AppContext, explicit: str | None) -> Profile:
    meta = read_metadata(ctx.paths)
    return meta.get(resolve_name(meta, explicit or ctx.profile_env()))


def resolve_secret(
    ctx: AppContext, explicit: str | None, valid_for: float = REFRESH_MARGIN
) -> Resolved:
    override = env_override(ctx)
    if override is not None:
        if explicit or ctx.profile_env():
            ctx.notify(
                f"cclogin: note: {ENV_OVERRIDE} is set in the environment and wins over "
                "the stored profile; unset it to use the profile"
            )
        ctx.debug(f"using {ENV_OVERRIDE} from the environment (it wins over profiles)")
        return Resolved(override, ENV_OVERRIDE, None)
    return resolve_stored(ctx, explicit, valid_for)


def resolve_stored(
    ctx: AppContext, explicit: str | None, valid_for: float = REFRESH_MARGIN
) -> Resolved:
    """The stored profile's secret, ignoring the environment override."""
    profile = resolve_profile(ctx, explicit)
    how = "--profile" if explicit else "CCLOGIN_PROFILE" if ctx.profile_env() else "active"
    ctx.debug(f"profile {profile.name!r} ({how}): {profile.kind} in {profile.backend}")
    check_profile_use(profile)  # the admin policy: where it lives, who issued it
    cred = usable_credential(ctx, profile, valid_for)
    expires = cred.expires_at if isinstance(cred, OAuthTokens | ClaudeLogin | VaultToken) else None
    return Resolved(
        primary_secret(cred), VARIABLE_BY_KIND[profile.kind], profile, profile.base_url, expires
    )


def usable_credential(
    ctx: AppContext, profile: Profile, valid_for: float = REFRESH_MARGIN
) -> Credential:
    """The profile's credential, refreshed if it is a provider token that expires
    within `valid_for` seconds (Claude Code's helper asks for its cache lifetime); a
    Vault login's token is renewed when due (accounts/vault_renew.py)."""
    if profile.needs_login:
        raise NeedsRelogin(
            f"profile {profile.name!r} needs a new login (the server no longer accepts "
            "its refresh token)",
            f"run `cclogin login --profile {profile.name}` with the same provider",
        )
    cred = read_credential(ctx, profile)
    now = time.time()
    if isinstance(cred, ClaudeLogin):
        _check_claude_login(cred, profile, now)
    margin = max(REFRESH_MARGIN, valid_for)
    if isinstance(cred, OAuthTokens) and cred.refresh_token is None:
        # Nothing to refresh with: hand the token out for every second it is valid
        # (the caller sees `expires_at`), then say plainly that it is over.
        check_unrenewable(cred, profile, now)
        return cred
    if isinstance(cred, VaultToken):
        from .vault_renew import usable_vault_token

        return usable_vault_token(ctx, profile, cred, margin)
    if isinstance(cred, OAuthTokens) and cred.expires_within(margin, now):
        from .refresh import fresh_tokens

        ctx.debug(f"the access token of {profile.name!r} expires within {margin:g} s: refreshing")
        cred = fresh_tokens(ctx, profile, margin, held=cred)
    return cred


def when(timestamp: float) -> str:
    """A moment for messages, in UTC so it reads the same in every log."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_unrenewable(cred: OAuthTokens, profile: Profile, now: float) -> None:
    """A login without a refresh token: usable until its access token expires."""
    if cred.expires_at is None or cred.expires_at > now:
        return
    provider = profile.extra.get("oauth.name") or profile.provider or "its provider"
    raise NeedsRelogin(
        f"the access token of profile {profile.name!r} expired at {when(cred.expires_at)}; "
        f"{provider} issued no refresh token, so it cannot be renewed",
        f"log in again with `cclogin login --profile {profile.name} --force` and the "
        f"same provider ({provider}); ask its admin for offline_access to stay signed in",
    )


INFERENCE_SCOPE = "user:inference"  # Claude Code ignores a login without it


def _check_claude_login(cred: ClaudeLogin, profile: Profile, now: float) -> None:
    # cclogin never refreshes a Claude subscription login (Anthropic's terms).
    if cred.expires_at is not None and cred.expires_at <= now:
        raise NeedsRelogin(
            f"the Claude login in profile {profile.name!r} has expired",
            "run `cclogin login --claude` to store a long-lived token from Claude Code",
        )
    scopes = claude_login_scopes(cred)
    if scopes is not None and INFERENCE_SCOPE not in scopes:
        raise NeedsRelogin(
            f"the Claude login in profile {profile.name!r} lacks the {INFERENCE_SCOPE} "
            "scope, so Claude Code would ignore it",
            "run `cclogin login --claude` to store a token made for Claude Code",
        )


def claude_login_scopes(cred: ClaudeLogin) -> list[str] | None:
    """The `scopes` of a migrated claudeAiOauth object, or None when it names none."""
    import json

    try:
        doc = json.loads(cred.raw.reveal())
    except ValueError:
        return None
    scopes = doc.get("scopes") if isinstance(doc, dict) else None
    if not isinstance(scopes, list):
        return None
    return [s for s in scopes if isinstance(s, str)]
