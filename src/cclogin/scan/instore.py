"""Is a found secret already in cclogin's store? Compared by SHA-256, in memory.

Every profile's credential is read through the accounts layer (its pinned backend);
each secret it holds (the key or token, and a login's refresh token) is hashed at
once and only the digest is kept. A profile that cannot be read (a locked keychain,
no passphrase, a server that does not answer) makes "not found" an "unknown": the
scan never fails on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..accounts.context import AppContext
from ..accounts.credentials import read_credential
from ..accounts.profiles import read_metadata
from ..errors import CcloginError
from ..model import secrets_of
from .findings import InStore, digest_of


@dataclass
class StoreView:
    digests: dict[bytes, list[str]] = field(default_factory=dict)  # digest -> profiles
    unreadable: list[str] = field(default_factory=list)  # profiles that could not be read
    error: str | None = None  # the metadata itself could not be read
    profiles: int = 0

    @property
    def state(self) -> str:
        if self.error is not None:
            return "unreadable"
        if self.profiles == 0:
            return "no profiles"
        if self.unreadable:
            return "partly unreadable" if len(self.unreadable) < self.profiles else "unreadable"
        return "checked"

    def lookup(self, digest: bytes) -> tuple[InStore, tuple[str, ...]]:
        names = self.digests.get(digest)
        if names:
            return "yes", tuple(sorted(names))
        if self.error is not None or self.unreadable:
            return "unknown", ()
        return "no", ()


def read_store(ctx: AppContext) -> StoreView:
    view = StoreView()
    try:
        meta = read_metadata(ctx.paths)
    except CcloginError as exc:
        view.error = exc.message
        return view
    view.profiles = len(meta.profiles)
    for name, profile in sorted(meta.profiles.items()):
        try:
            cred = read_credential(ctx, profile)
        except CcloginError as exc:
            ctx.debug(f"scan: profile {name} not compared: {exc.message}")
            view.unreadable.append(name)
            continue
        for secret in secrets_of(cred):
            names = view.digests.setdefault(digest_of(secret.reveal().encode()), [])
            if name not in names:
                names.append(name)
    return view
