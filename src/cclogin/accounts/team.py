"""Team profiles: a local link to a secret a team keeps on Vault / OpenBao.

A team profile holds no secret of its own. Its metadata names the server, the KV
mount, the path and field of the shared key, and the user's Vault login; every
`token`, `exec` and Claude Code hand-over reads the key through Vault with the
user's own token, so a rotation by the admin reaches everyone at their next call.
Logging out of a team profile removes the link (and the user's Vault login when no
other profile needs it), never the shared secret: `team rm` is the explicit way.
"""

from __future__ import annotations

import time

from ..errors import InvalidInput, SecretNotFound, StoreConflict
from ..model import Profile, ProfileName
from ..secret import Secret
from ..store.vault import SharedSecretStore
from ..vault.settings import clean_path
from .context import AppContext
from .credentials import ensure_replaceable
from .profiles import metadata_lock, read_metadata, write_metadata
from .vault_login import client_for, find_login, login_settings

DEFAULT_FIELD = "api_key"
PATH_KEY, FIELD_KEY, LOGIN_KEY, MOUNT_KEY = "vault_path", "vault_field", "vault_login", "vault_mount"


def is_team(profile: Profile) -> bool:
    return PATH_KEY in profile.extra


def shared_store(ctx: AppContext, profile: Profile) -> SharedSecretStore:
    """The shared secret behind a team profile, read with the user's Vault login."""
    login = find_login(ctx, profile.extra.get(LOGIN_KEY))
    client = client_for(ctx, login, mount=profile.extra.get(MOUNT_KEY))
    return SharedSecretStore(client, profile.extra[PATH_KEY], profile.extra.get(FIELD_KEY, DEFAULT_FIELD))


def no_shared_secret(profile: Profile) -> SecretNotFound:
    """What a teammate hears when the key a team profile points at is gone."""
    return SecretNotFound(
        f"there is no shared secret at {profile.account or profile.extra[PATH_KEY]} any more "
        f"(profile {profile.name!r} links to it; an admin removed it, or never put it)",
        f"ask the admin to put it again (`cclogin team put {profile.extra[PATH_KEY]}`); "
        f"`cclogin logout --profile {profile.name}` removes the link",
    )


def link(
    ctx: AppContext,
    name: str,
    path: str,
    *,
    field: str = DEFAULT_FIELD,
    login_name: str | None = None,
    mount: str | None = None,
    force: bool = False,
    switch: bool = True,
    base_url: str | None = None,
) -> Profile:
    """Make profile `name` a link to the shared secret at `path` (read once to check)."""
    kv_path = clean_path(path)
    if not kv_path:
        raise InvalidInput("--vault needs the path of the shared secret", "e.g. --vault team/anthropic")
    pname = ensure_replaceable(ctx, name, force, None)
    login = find_login(ctx, login_name)
    settings = login_settings(ctx, login, mount=mount)
    store = SharedSecretStore(client_for(ctx, login, mount=mount), kv_path, field)
    if store.read_value() is None:  # readable with this token, and there
        raise SecretNotFound(
            f"there is no shared secret at {store.where} on {settings.address}",
            "ask the admin to put it: `cclogin team put PATH` (key on stdin)",
        )
    profile = Profile(
        name=pname,
        kind="api_key",
        backend="vault",
        storage_class="secret-server",
        created_at=time.time(),
        account=f"{store.where} on {settings.address}",
        provider=settings.address,
        base_url=base_url,
        extra={
            PATH_KEY: kv_path,
            FIELD_KEY: field,
            LOGIN_KEY: login.name,
            MOUNT_KEY: settings.mount,
        },
    )
    with metadata_lock(ctx.paths):
        meta = read_metadata(ctx.paths)
        meta.put(profile)
        if switch or meta.active is None:
            meta.active = pname
        write_metadata(ctx.paths, meta)
    return profile


def put(
    ctx: AppContext,
    path: str,
    value: Secret,
    *,
    field: str = DEFAULT_FIELD,
    login_name: str | None = None,
    mount: str | None = None,
) -> int:
    """Put or rotate the shared key (check-and-set: a concurrent rotation is not lost).

    Other fields at the path are kept. Returns the new version.
    """
    kv_path = clean_path(path)
    login = find_login(ctx, login_name)
    client = client_for(ctx, login, mount=mount)
    current = client.kv_read(kv_path)
    data = dict(current.data) if current is not None else {}
    data[field] = value.reveal()
    version = client.kv_write(kv_path, data, cas=current.version if current else 0)
    back = client.kv_read(kv_path)
    if back is None or back.version < version or (
        back.version == version and back.data.get(field) != value.reveal()
    ):
        raise StoreConflict(f"{client.settings.mount}/{kv_path} did not read back as written")
    return version


def remove(ctx: AppContext, path: str, *, login_name: str | None = None, mount: str | None = None) -> bool:
    """Destroy the shared secret, every version and its metadata (needs write rights)."""
    kv_path = clean_path(path)
    client = client_for(ctx, find_login(ctx, login_name), mount=mount)
    existed = client.kv_destroy(kv_path)
    if client.kv_read(kv_path) is not None:
        raise StoreConflict(f"{client.settings.mount}/{kv_path} is still there after destroy")
    return existed


def users_of_login(ctx: AppContext, login: ProfileName, besides: ProfileName) -> list[str]:
    """Other team profiles that read through Vault login `login`."""
    meta = read_metadata(ctx.paths)
    return sorted(
        p.name
        for p in meta.profiles.values()
        if p.name != besides and is_team(p) and p.extra.get(LOGIN_KEY) == login
    )

