"""The user's own Vault / OpenBao token, kept as a profile of kind `vault_token`.

A Vault login is a profile like any other (default name `vault`): its token lives in
the local keychain or encrypted file, never in `~/.vault-token`; its metadata records
the server (`extra["vault_addr"]`, `extra["vault_namespace"]`) and how the token was
obtained. Team profiles and `--backend vault` read the team's server with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidInput, NotLoggedIn, ProfileNotFound, UsageError
from ..model import Profile, ProfileName, VaultToken, profile_name
from ..secret import Secret
from ..store.base import SecretStore
from ..vault.client import VaultClient
from ..vault.settings import VaultSettings, parse_addresses, resolve_settings
from .context import AppContext
from .credentials import read_credential, save_credential
from .profiles import read_metadata

DEFAULT_LOGIN = "vault"


def settings_for(ctx: AppContext, **flags: Any) -> VaultSettings:
    from ..config import load_config

    return resolve_settings(ctx.environ, load_config(ctx.paths, ctx.environ), **flags)


def login_settings(ctx: AppContext, login: Profile, **flags: Any) -> VaultSettings:
    """The server a Vault login belongs to, with mount/prefix from flags or config."""
    recorded = login.extra.get("vault_addr")
    settings = settings_for(ctx, address=flags.pop("address", None) or recorded, **flags)
    ns = login.extra.get("vault_namespace")
    return settings._replace(namespace=ns) if ns and not flags.get("namespace") else settings


def login_for_address(ctx: AppContext, address: str) -> Profile | None:
    """The Vault login recorded for `address` (any of a cluster's nodes), or None."""
    wanted = set(parse_addresses(address))
    for p in sorted(read_metadata(ctx.paths).profiles.values(), key=lambda p: p.name):
        recorded = p.extra.get("vault_addr") if p.kind == "vault_token" else None
        if recorded and wanted & set(parse_addresses(recorded)):
            return p
    return None


def find_login(ctx: AppContext, name: str | None, address: str | None = None) -> Profile:
    """The Vault login named `name`, or the one for `address`, or `vault`."""
    meta = read_metadata(ctx.paths)
    logins = [p for p in meta.profiles.values() if p.kind == "vault_token"]
    if name:
        profile = meta.profiles.get(profile_name(name))
        if profile is None or profile.kind != "vault_token":
            raise ProfileNotFound(
                f"no Vault login named {name!r}",
                f"log in with `cclogin vault login --profile {name}` (token on stdin)",
            )
        return profile
    if address:
        found = login_for_address(ctx, address)
        if found is not None:
            return found
    default = meta.profiles.get(ProfileName(DEFAULT_LOGIN))
    if default is not None and default.kind == "vault_token":
        return default
    if len(logins) == 1:
        return logins[0]
    raise NotLoggedIn(
        "not logged in to a Vault / OpenBao server",
        "log in with `cclogin vault login --vault-addr URL` (token on stdin)",
    )


def token_source(ctx: AppContext, login: Profile) -> Callable[[], Secret | None]:
    """Reads the login's token when a call needs it (once per process), renewed first
    when it is due (accounts/vault_renew.py); an expired one is VaultLoginNeeded."""
    held: list[Secret] = []

    def token() -> Secret:
        if not held:
            from .vault_renew import usable_vault_token

            cred = read_credential(ctx, login)
            if not isinstance(cred, VaultToken):
                raise InvalidInput(f"profile {login.name!r} is not a Vault login")
            held.append(usable_vault_token(ctx, login, cred).token)
        return held[0]

    return token


def client_for(ctx: AppContext, login: Profile, **flags: Any) -> VaultClient:
    return VaultClient(login_settings(ctx, login, **flags), token_source(ctx, login))


def describe_token(info: Mapping[str, Any], now: float) -> tuple[float | None, bool, float | None]:
    """(expires_at, renewable, lease) from a `lookup-self` answer; the lease is what a
    renewal asks for again: the period of a periodic token, else its creation TTL."""
    def seconds(key: str) -> float | None:
        value = info.get(key)
        return float(value) if isinstance(value, int | float) and value > 0 else None

    ttl = seconds("ttl")
    expires = _instant(info.get("expire_time")) or (now + ttl if ttl is not None else None)
    return expires, bool(info.get("renewable", False)), seconds("period") or seconds("creation_ttl")


def _instant(value: Any) -> float | None:
    """lookup-self's `expire_time` (RFC 3339, null for a token without a TTL): exact,
    where `ttl` is whole seconds and says 0 in a token's last second."""
    if not isinstance(value, str) or not value:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def save_token(
    ctx: AppContext,
    name: str,
    settings: VaultSettings,
    token: Secret,
    *,
    method: str,
    force: bool,
    confirm_replace: Callable[[Profile], bool] | None = None,
    details: Mapping[str, str] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Profile:
    """Check `token` against the server (lookup-self), then store it as profile `name`.

    `details`: more non-secret metadata (the auth path and role it came from); `info`:
    a lookup-self answer the caller already has."""
    now = time.time()
    if info is None:
        info = VaultClient(settings, lambda: token).lookup_self()
    expires, renewable, lease = describe_token(info, now)
    display = info.get("display_name")
    extra = {"vault_addr": ", ".join(settings.addresses), "auth_method": method}
    extra.update(details or {})
    if settings.namespace:
        extra["vault_namespace"] = settings.namespace
    policies = info.get("policies")
    if isinstance(policies, list):
        extra["policies"] = ",".join(str(p) for p in policies)[:200]
    target = ctx.select_store()
    if target.name == "vault":
        raise UsageError(
            "the Vault token itself cannot be kept on the Vault server",
            "pass --backend keychain (or encrypted-file) for the Vault login",
        )
    return save_credential(
        ctx,
        name,
        VaultToken(token, expires_at=expires, renewable=renewable, lease=lease),
        force=force,
        switch=False,  # a Vault login is a means, not the account Claude Code uses
        confirm_replace=confirm_replace,
        store=target,
        account=str(display)[:80] if display else None,
        provider=settings.address,
        expires_at=expires,
        extra=extra,
    )


def open_vault_store(ctx: AppContext) -> SecretStore:
    """`--backend vault`: the user's own secrets under `prefix`, with their Vault login."""
    from ..store.vault import VaultStore

    return VaultStore(client_for(ctx, find_login(ctx, ctx.environ.get("CCLOGIN_VAULT_LOGIN"))))


# --- logging in with an auth method ----------------------------------------------------

SECRET_FILE_MAX = 64 * 1024
METHODS = ("token", "approle", "jwt", "oidc")


def read_secret_file(path: str, what: str, flag: str) -> Secret:
    """A secret from a file only we can read (the passphrase file's rules: ours, mode
    0600, no symlink, bounded); surrounding whitespace goes, nothing else may be there."""
    from pathlib import Path

    from ..errors import CcloginError
    from ..fsio import read_private
    from .login import clean_secret

    where = Path(path).expanduser()
    try:
        data = read_private(where, max_size=SECRET_FILE_MAX)
    except CcloginError as exc:
        raise type(exc)(f"{flag}: {exc.message}", exc.hint) from None
    if data is None:
        raise InvalidInput(f"{flag} {where} does not exist")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{flag} {where} is not UTF-8 text") from None
    if not text.strip():
        raise InvalidInput(f"{flag} {where} is empty", f"write the {what} into it (one line)")
    return clean_secret(text, what, flag)


def method_login(
    ctx: AppContext,
    name: str,
    settings: VaultSettings,
    method: str,
    *,
    path: str | None = None,
    role: str | None = None,
    role_id: str | None = None,
    secret: Secret | None = None,
    redirect_uri: str | None = None,
    force: bool = False,
    confirm_replace: Callable[[Profile], bool] | None = None,
    open_browser: Callable[[str], object] | None = None,
) -> Profile:
    """Log in with an auth method (approle, jwt, oidc) and keep its token as `name`.

    The profile is checked first (a refused replacement costs no login); a token the
    store then cannot take is revoked again, best effort, so none is left behind."""
    from ..vault import auth
    from .credentials import ensure_replaceable

    ensure_replaceable(ctx, name, force, confirm_replace)
    client = VaultClient(settings)
    details: dict[str, str] = {}
    if method == "approle":
        if not role_id or secret is None:
            raise UsageError("--method approle needs --role-id and --secret-id-file")
        mount = auth.auth_path(path, "approle")
        token = auth.approle_login(client, role_id, secret, mount)
    elif method == "jwt":
        if not role or secret is None:
            raise UsageError("--method jwt needs --role and --jwt-file (- for stdin)")
        mount = auth.auth_path(path, "jwt")
        token = auth.jwt_login(client, role, secret, mount)
        details["auth_role"] = role
    elif method == "oidc":
        mount = auth.auth_path(path, "oidc")
        token = auth.oidc_login(client, role, mount,
                                redirect_uri=redirect_uri or auth.DEFAULT_REDIRECT_URI,
                                open_browser=open_browser)
        if role:
            details["auth_role"] = role
    else:
        raise UsageError(f"unknown auth method {method!r}", f"use one of {', '.join(METHODS)}")
    details["auth_path"] = mount
    try:
        return save_token(ctx, name, settings, token, method=method, force=True, details=details)
    except BaseException:
        _revoke_quietly(settings, token)
        raise


def _revoke_quietly(settings: VaultSettings, token: Secret) -> None:
    import contextlib

    from ..errors import CcloginError

    with contextlib.suppress(CcloginError):
        VaultClient(settings._replace(timeout=min(settings.timeout, 5.0)), lambda: token).revoke_self()


# --- cclogin as the Vault / OpenBao CLI's token helper ----------------------------------


def helper_address(environ: Mapping[str, str]) -> str:
    """The server the CLI is talking to: it sets BAO_ADDR and VAULT_ADDR for its helper."""
    raw = (environ.get("BAO_ADDR") or environ.get("VAULT_ADDR") or "").strip()
    if not raw:
        raise UsageError(
            "the token helper was run without BAO_ADDR / VAULT_ADDR",
            "the Vault / OpenBao CLI sets them; run `cclogin vault token-helper` only from "
            "its token_helper setting",
        )
    return parse_addresses(raw)[0]


def helper_get(ctx: AppContext) -> Secret | None:
    """`get`: the stored token for this server (renewed when due), None if none."""
    from .vault_renew import usable_vault_token

    login = login_for_address(ctx, helper_address(ctx.environ))
    if login is None:
        return None
    cred = read_credential(ctx, login)
    if not isinstance(cred, VaultToken):
        return None
    return usable_vault_token(ctx, login, cred).token


def _helper_name(ctx: AppContext, address: str) -> str:
    from urllib.parse import urlsplit

    taken = read_metadata(ctx.paths).profiles
    if ProfileName(DEFAULT_LOGIN) not in taken:
        return DEFAULT_LOGIN
    parts = urlsplit(address)
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in (parts.hostname or "server"))
    name = f"vault-{base}" + (f"-{parts.port}" if parts.port else "")
    return name[:64].rstrip("-.")


def helper_store(ctx: AppContext, token: Secret) -> Profile:
    """`store`: keep the token the CLI just obtained as this server's Vault login
    (replacing the one recorded for it, if any)."""
    from ..errors import VaultPermissionDenied

    address = helper_address(ctx.environ)
    login = login_for_address(ctx, address)
    name = login.name if login is not None else _helper_name(ctx, address)
    settings = settings_for(ctx, address=address)
    try:
        info: Mapping[str, Any] = VaultClient(settings, lambda: token).lookup_self()
    except VaultPermissionDenied:
        info = {}  # a token that may not look itself up: kept without an expiry
    return save_token(ctx, name, settings, token, method="token-helper", force=True, info=info)


def helper_erase(ctx: AppContext) -> str | None:
    """`erase`: forget this server's token here (no revocation: the CLI decides that).
    Returns the profile's name, None when there was none."""
    from .logout import logout

    login = login_for_address(ctx, helper_address(ctx.environ))
    if login is None:
        return None
    logout(ctx, login.name, revoke=False)
    return login.name
