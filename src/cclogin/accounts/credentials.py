"""Saving a credential into a profile, and reading it back."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import InvalidInput, ProfileExists, SecretNotFound
from ..model import (
    Credential,
    Profile,
    ProfileName,
    dump_credential,
    load_credential,
    profile_name,
    secret_key,
)
from ..policy import check_placement
from ..store.base import SecretStore
from .context import AppContext
from .profiles import (
    looks_like_key,
    metadata_lock,
    read_metadata,
    write_metadata,
)


def ensure_replaceable(
    ctx: AppContext,
    name: str,
    force: bool,
    confirm_replace: Callable[[Profile], bool] | None,
) -> ProfileName:
    """The validated profile name, if a new secret may be stored under it.

    Logins that cost the user something (a browser sign-in) call this before they start.
    """
    if looks_like_key(name):
        # It would be written in plaintext to the metadata file and the keychain index.
        raise InvalidInput(
            "the profile name looks like a key (sk-ant-...); it was not stored",
            "pass the key on stdin and a name with --profile, e.g. --profile work",
        )
    pname = profile_name(name)
    existing = read_metadata(ctx.paths).profiles.get(pname)
    if (
        existing is not None
        and not force
        and (confirm_replace is None or not confirm_replace(existing))
    ):
        raise ProfileExists(f"profile {pname!r} exists already")
    return pname


def save_credential(
    ctx: AppContext,
    name: str,
    cred: Credential,
    *,
    force: bool = False,
    switch: bool = True,
    confirm_replace: Callable[[Profile], bool] | None = None,
    store: SecretStore | None = None,
    account: str | None = None,
    provider: str | None = None,
    base_url: str | None = None,
    expires_at: float | None = None,
    source: str | None = None,
    extra: dict[str, str] | None = None,
) -> Profile:
    """Store `cred` as profile `name` and record its metadata; verified before it counts.

    An existing profile is replaced only with `force` or when `confirm_replace` agrees.
    If the new secret lands in another backend, the old copy is deleted afterwards.
    """
    pname = ensure_replaceable(ctx, name, force, confirm_replace)
    from ..store.batch import one_connection

    # One keychain connection for the whole login: the backend's selection (its round
    # trip), the write and its read-back, and a delete from the old backend.
    with one_connection():
        target = store or ctx.select_store()
        check_placement(pname, target.name)  # the admin policy: allowed backend, team server
        blob = dump_credential(cred)
        if expires_at is None:
            expires_at = getattr(cred, "expires_at", None)
        profile = Profile(
            name=pname,
            kind=cred.kind,
            backend=target.name,
            storage_class=target.storage_class,
            created_at=time.time(),
            account=account,
            provider=provider,
            base_url=base_url,
            expires_at=expires_at,
            source=source,
            extra=dict(extra or {}),
        )
        # One lock from the secret's write to the metadata naming it: `doctor --fix` and
        # `logout --all` judge "orphan" under this lock, so they never see the gap.
        with metadata_lock(ctx.paths):
            target.set(secret_key(pname), blob)  # verified by the store before it returns
            meta = read_metadata(ctx.paths)
            old = meta.profiles.get(pname)
            meta.put(profile)
            if switch or meta.active is None:
                meta.active = pname
            write_metadata(ctx.paths, meta)
        if old is not None and old.backend != target.name:
            # The secret moved backends: no copy may stay behind in the old one.
            ctx.store_named(old.backend).delete(secret_key(pname))
    return profile


def read_credential(ctx: AppContext, profile: Profile) -> Credential:
    blob = ctx.store_for(profile).get(secret_key(profile.name))
    if blob is None:
        if "vault_path" in profile.extra:  # a team profile: its link outlived the secret
            from .team import no_shared_secret

            raise no_shared_secret(profile)
        raise SecretNotFound(
            f"profile {profile.name!r} has no secret in {profile.backend}",
            f"log in again: `cclogin login --profile {profile.name}`",
        )
    return load_credential(blob)


def write_credential(ctx: AppContext, profile: Profile, cred: Credential) -> None:
    """Replace a profile's secret in place (refresh), in the backend it is pinned to."""
    ctx.store_for(profile).set(secret_key(profile.name), dump_credential(cred))
