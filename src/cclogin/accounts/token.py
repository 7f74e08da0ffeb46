"""Which secret a command should use right now: the `token` and `exec` hot path.

`ANTHROPIC_API_KEY` in the environment wins over everything stored, as Claude Code
users expect. Otherwise: `--profile`, then `CCLOGIN_PROFILE`, then the active profile.
Keep imports here lean: `cclogin token` runs many times a minute.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from ..errors import NeedsRelogin
from ..model import ClaudeLogin, Credential, OAuthTokens, Profile, primary_secret
from ..secret import Secret
from .context import AppContext
from .credentials import read_credential
from .profiles import read_metadata, resolve_name

ENV_OVERRIDE = "ANTHROPIC_API_KEY"
REFRESH_MARGIN = 60.0  # seconds: refresh a token that expires within the minute

VARIABLE_BY_KIND = {
    "api_key": "ANTHROPIC_API_KEY",
    "claude_token": "CLAUDE_CODE_OAUTH_TOKEN",
    "claude_login": "CLAUDE_CODE_OAUTH_TOKEN",
    "oauth": "ANTHROPIC_AUTH_TOKEN",
}


class Resolved(NamedTuple):
    secret: Secret
    variable: str  # the environment variable this secret belongs in
    profile: Profile | None  # None when the secret came from the environment
    base_url: str | None = None

    @property
    def from_env(self) -> bool:
        return self.profile is None


def env_override(ctx: AppContext) -> Secret | None:
    value = ctx.environ.get(ENV_OVERRIDE, "").strip()
    return Secret(value) if value else None


def resolve_profile(ctx: AppContext, explicit: str | None) -> Profile:
    meta = read_metadata(ctx.paths)
    return meta.get(resolve_name(meta, explicit or ctx.profile_env()))


def resolve_secret(ctx: AppContext, explicit: str | None) -> Resolved:
    override = env_override(ctx)
    if override is not None:
        if explicit or ctx.profile_env():
            ctx.notify(
                f"cclogin: note: {ENV_OVERRIDE} is set in the environment and wins over "
                "the stored profile; unset it to use the profile"
            )
        ctx.debug(f"using {ENV_OVERRIDE} from the environment (it wins over profiles)")
        return Resolved(override, ENV_OVERRIDE, None)
    return resolve_stored(ctx, explicit)


def resolve_stored(ctx: AppContext, explicit: str | None) -> Resolved:
    """The stored profile's secret, ignoring the environment override."""
    profile = resolve_profile(ctx, explicit)
    how = "--profile" if explicit else "CCLOGIN_PROFILE" if ctx.profile_env() else "active"
    ctx.debug(f"profile {profile.name!r} ({how}): {profile.kind} in {profile.backend}")
    cred = usable_credential(ctx, profile)
    return Resolved(primary_secret(cred), VARIABLE_BY_KIND[profile.kind], profile, profile.base_url)


def usable_credential(ctx: AppContext, profile: Profile) -> Credential:
    """The profile's credential, refreshed if it is an expiring provider token."""
    if profile.needs_login:
        raise NeedsRelogin(
            f"profile {profile.name!r} needs a new login (the server no longer accepts "
            "its refresh token)",
            f"run `cclogin login --profile {profile.name}` with the same provider",
        )
    cred = read_credential(ctx, profile)
    now = time.time()
    if isinstance(cred, ClaudeLogin) and cred.expires_at is not None and cred.expires_at <= now:
        # cclogin never refreshes a Claude subscription login (Anthropic's terms).
        raise NeedsRelogin(
            f"the Claude login in profile {profile.name!r} has expired",
            "run `cclogin login --claude` to store a long-lived token from Claude Code",
        )
    if isinstance(cred, OAuthTokens) and cred.expires_within(REFRESH_MARGIN, now):
        from .refresh import fresh_tokens

        ctx.debug(f"the access token of {profile.name!r} expires within a minute: refreshing")
        cred = fresh_tokens(ctx, profile)
    return cred
