"""Placeholder until provider logins land (issue #5): nothing can be revoked yet."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import OAuthError
from ..model import Credential, Profile
from .context import AppContext


def revoke_profile_tokens(ctx: AppContext, profile: Profile, cred: Credential) -> bool:
    return False


def login_with_claude(
    ctx: AppContext,
    name: str,
    *,
    force: bool,
    switch: bool,
    confirm_replace: Callable[[Profile], bool] | None,
) -> Profile:
    raise OAuthError("`login --claude` is not available in this build")


def login_with_provider(
    ctx: AppContext,
    name: str,
    *,
    provider: str | None,
    issuer: str | None,
    client_id: str | None,
    scope: str | None,
    base_url: str | None,
    mode: str,
    force: bool,
    switch: bool,
    confirm_replace: Callable[[Profile], bool] | None,
) -> Profile:
    raise OAuthError("provider logins are not available in this build")
