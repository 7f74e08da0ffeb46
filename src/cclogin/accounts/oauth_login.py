"""Logins that talk to someone else: a provider's OAuth flows, or `claude setup-token`.

Provider logins run cclogin's own OAuth client (`cclogin.oauth`) and keep the
provider's public description in `Profile.extra`, so refresh and revoke need no
config later. Claude logins only run Claude Code's own `claude setup-token`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace

from ..errors import UsageError
from ..model import Credential, OAuthTokens, Profile
from ..policy import check_issuer
from .context import AppContext
from .credentials import ensure_replaceable


def revoke_profile_tokens(ctx: AppContext, profile: Profile, cred: Credential) -> bool:
    """Best-effort RFC 7009 revocation of a provider login; never for Claude tokens."""
    if profile.kind != "oauth" or not isinstance(cred, OAuthTokens):
        return False
    from ..errors import CcloginError
    from ..oauth.provider import from_extra
    from ..oauth.revoke import revoke

    try:
        provider = from_extra(profile.extra)
    except CcloginError:  # an old or damaged record: logout still wipes
        return False
    return revoke(provider, cred)


def login_with_claude(
    ctx: AppContext,
    name: str,
    *,
    force: bool,
    switch: bool,
    confirm_replace: Callable[[Profile], bool] | None,
) -> Profile:
    from ..claude_setup import run_setup_token
    from .login import login_claude_token

    ensure_replaceable(ctx, name, force, confirm_replace)
    token = run_setup_token(environ=ctx.environ)
    return login_claude_token(ctx, name, token.reveal(), force=True, switch=switch)


def _account_label(tokens: OAuthTokens) -> str | None:
    """email / username from the ID token, for display only (not verified, not secret)."""
    if tokens.id_token is None:
        return None
    try:
        payload = tokens.id_token.reveal().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    for key in ("email", "preferred_username", "sub"):
        if isinstance(claims.get(key), str):
            return str(claims[key])[:200]
    return None


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
    from ..config import load_config
    from ..oauth import device, flows
    from ..oauth.provider import discover, load_provider, to_extra
    from .credentials import save_credential

    ensure_replaceable(ctx, name, force, confirm_replace)
    scopes = tuple(scope.split()) if scope else None
    if provider:
        p = load_provider(provider, load_config(ctx.paths, ctx.environ))
        if scopes is not None:
            params = tuple(kv for kv in p.authorize_params if kv[0] != "prompt")
            if "offline_access" in scopes:
                params = (*params, ("prompt", "consent"))
            p = replace(p, scopes=scopes, authorize_params=params)
        if base_url:
            p = replace(p, base_url=base_url)
    elif issuer:
        if not client_id:
            raise UsageError("--issuer needs --client-id", "ask your admin for the client id")
        p = discover(issuer, client_id, scopes=scopes, base_url=base_url)
    else:
        raise UsageError("name a --provider, or an --issuer with its --client-id")
    check_issuer(p.issuer)  # also for a provider table that needed no discovery
    if mode == "device":
        tokens = device.device_login(p)
    elif mode == "paste":
        tokens = flows.paste_login(p)
    else:
        tokens = flows.browser_login(p)
    account = _account_label(tokens)
    profile = save_credential(
        ctx, name, tokens, force=True, switch=switch, account=account,
        provider=p.name, base_url=p.base_url, expires_at=tokens.expires_at,
        extra=to_extra(p),
    )
    # Say who signed in, so a login that ended in someone else's account is noticed.
    if account:
        ctx.notify(f"cclogin: signed in to {p.name} as {_printable(account)}")
    else:
        ctx.notify(f"cclogin: signed in to {p.name} (it did not say which account)")
    return profile


def _printable(label: str) -> str:
    """The label without control characters (it comes from the server)."""
    return "".join(ch if ch.isprintable() else "?" for ch in label)
