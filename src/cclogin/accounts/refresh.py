"""Placeholder until the OAuth refresh single-flight lands (issue #5)."""

from __future__ import annotations

from ..errors import NeedsRelogin
from ..model import OAuthTokens, Profile
from .context import AppContext


def fresh_tokens(ctx: AppContext, profile: Profile) -> OAuthTokens:
    raise NeedsRelogin(f"the access token of profile {profile.name!r} has expired")
