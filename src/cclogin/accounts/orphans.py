"""Entries no current profile uses, in every backend that holds cclogin entries.

The metadata says which backend holds each profile's secret; this module does not trust
it. It walks every backend usable here that may hold cclogin entries, whatever the
metadata says: the encrypted file when its file exists, each OS keychain named by the
keychain index or by a profile, and the Secret Service whenever its default collection
can be searched without a prompt (its items are enumerated through the read-only jeepney
reader, so items the index lost are found too). For a keychain it checks the index
(`keys()` of a keychain store is cclogin's own index file) against the keychain itself.

Three kinds of stray, each with a targeted repair (`doctor --fix`, `logout --all`):
- orphan:    an entry under the profile key prefix whose profile does not exist or is
             pinned to another backend (a backend move whose old delete failed): deleted;
- stale:     an index line naming an entry that is not there: the line is dropped;
- unindexed: an entry of a live profile that the index does not list: it is listed, so
             `keys()`, `logout` and the next write (which sweeps stray chunks) see it.
Nothing here reads a secret into a message; entries are named by key only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..errors import CcloginError, StoreError, StoreLocked, StoreTimeout
from ..model import PROFILE_KEY_PREFIX
from ..store.base import SecretStore
from .context import AppContext
from .profiles import metadata_lock, read_metadata

StrayKind = Literal["orphan", "stale", "unindexed"]
ENCRYPTED_FILE = "encrypted-file"
SECRET_SERVICE = "secret-service"
# keyring's libsecret backend writes the same Secret Service items (same attributes).
SAME_ITEMS = {"secret-service": "libsecret", "libsecret": "secret-service"}


@dataclass(frozen=True)
class Stray:
    backend: str
    key: str  # the store key the entry belongs to (chunk entries: their key)
    kind: StrayKind
    why: str  # one human sentence; never a secret
    names: tuple[str, ...] = ()  # keychain entry names involved (chunks included)

    def describe(self) -> str:
        return f"{self.backend} holds {self.key}: {self.why}"


@dataclass
class Walk:
    strays: list[Stray] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # backends walked
    # backend -> (message, hint): could not be checked (never counted as "clean")
    unreachable: dict[str, tuple[str, str | None]] = field(default_factory=dict)


@dataclass
class Repair:
    removed: list[str] = field(default_factory=list)  # human lines, exactly what went
    failed: list[str] = field(default_factory=list)
    failed_keys: set[tuple[str, str]] = field(default_factory=set)  # (backend, key)
    listed: list[str] = field(default_factory=list)  # unindexed entries now listed
    kept: list[str] = field(default_factory=list)  # orphans a profile took over meanwhile


def _owner(key: str) -> str | None:
    """The profile name a store key (or chunk entry name) belongs to, if any."""
    base = key.partition("#")[0]
    return base.removeprefix(PROFILE_KEY_PREFIX) if base.startswith(PROFILE_KEY_PREFIX) else None


def _orphan_reason(backend: str, name: str, pinned: dict[str, str]) -> str | None:
    where = pinned.get(name)
    if where is None:
        return f"no profile named {name!r} exists"
    if where != backend and SAME_ITEMS.get(where) != backend:
        return f"profile {name!r} is pinned to {where}"
    return None


def candidate_backends(ctx: AppContext) -> list[str]:
    """Backends that may hold cclogin entries here, whatever the metadata says."""
    from ..store.keychain_index import KeychainIndex
    from ..store.os_keyring import ALL_BACKEND_NAMES, platform_backend_names

    meta = read_metadata(ctx.paths)
    names = {p.backend for p in meta.profiles.values()} - {ENCRYPTED_FILE}
    for backend in ALL_BACKEND_NAMES:
        try:
            if KeychainIndex(ctx.paths, backend).names():
                names.add(backend)
        except CcloginError:
            names.add(backend)  # a corrupt index: the walk of the backend reports it
    if ctx.paths.encrypted_store.exists():
        names.add(ENCRYPTED_FILE)
    if SECRET_SERVICE in platform_backend_names():
        names.add(SECRET_SERVICE)  # enumerable: walked when its collection answers
    return sorted(names)


def walk(ctx: AppContext) -> Walk:
    meta = read_metadata(ctx.paths)
    pinned = {str(p.name): p.backend for p in meta.profiles.values()}
    named = {p.backend for p in meta.profiles.values()}
    out = Walk()
    for backend in candidate_backends(ctx):
        try:
            strays = _walk_one(ctx, backend, pinned, required=backend in named)
        except CcloginError as exc:
            out.unreachable[backend] = (exc.message, exc.hint)
            continue
        if strays is None:
            continue  # not present here (no bus, no Secret Service) and nothing says it was
        out.checked.append(backend)
        out.strays += strays
    return out


def _walk_one(
    ctx: AppContext, backend: str, pinned: dict[str, str], *, required: bool
) -> list[Stray] | None:
    store = ctx.store_named(backend)
    if backend == ENCRYPTED_FILE:
        return _walk_file(store, pinned)
    from ..store.keychain_index import KeychainIndex

    indexed = KeychainIndex(ctx.paths, backend).names()
    present = _enumerate(ctx, backend) if backend == SECRET_SERVICE else None
    if present is None and not indexed and not required:
        return None
    if present is None:
        return _walk_index_only(store, backend, indexed, pinned)
    other = SAME_ITEMS.get(backend)
    also = set(KeychainIndex(ctx.paths, other).names()) if other else set()
    strays = _walk_enumerated(backend, indexed, also, present, pinned)
    # An index line is dropped only if reading the key agrees that it is gone: another
    # Secret Service may hide items of a locked collection from the search. A locked
    # collection is not read (a read would unlock it: doctor never does): its index
    # lines stay unjudged until it is unlocked.
    unsure = [s for s in strays if s.kind == "stale" and s.key in s.names]
    if unsure and _locked(store):
        ctx.debug(f"{backend}: locked; index lines not checked: {len(unsure)}")
        return [s for s in strays if s not in unsure]
    return [s for s in strays if s not in unsure or store.get(s.key) is None]


def _locked(store: SecretStore) -> bool:
    try:
        probe = getattr(store, "probe", None)
        if callable(probe):
            probe()  # read-only (store/os_keyring.py)
    except StoreLocked:
        return True
    return False


def _enumerate(ctx: AppContext, backend: str) -> set[str] | None:
    """Entry names in the Secret Service's default collection; None: not reachable here."""
    from ..store.secret_service_reader import NeedsFallbackError, SecretServiceReader
    from ..store.select import keychain_timeout

    held = _listed_over_the_commands_connection(ctx, backend)
    if held is not None:
        return held
    try:
        with SecretServiceReader(keychain_timeout(ctx.environ), session=False) as reader:
            return set(reader.usernames())
    except NeedsFallbackError as exc:
        ctx.debug(f"{backend}: cannot enumerate items ({exc})")
        return None


def _listed_over_the_commands_connection(ctx: AppContext, backend: str) -> set[str] | None:
    """Within `logout --all`'s one connection (store/batch.py), the store lists its own
    entries over it rather than the reader opening another; None outside such a command
    or when that listing fails (the reader then answers as it always does), but a
    keychain that is locked or timed out is reported as such (unreachable: `logout`
    names the reason once), without a second connection."""
    names = getattr(ctx.store_named(backend), "entry_names", None)
    try:
        listed = names() if callable(names) else None
    except (StoreLocked, StoreTimeout):
        raise  # a locked or hung keychain: another connection would say the same
    except CcloginError as exc:
        ctx.debug(f"{backend}: cannot list entries over the command's connection ({exc})")
        return None
    return None if listed is None else set(listed)


def _walk_file(store: SecretStore, pinned: dict[str, str]) -> list[Stray]:
    strays = []
    for key in sorted(store.keys()):
        name = _owner(key)
        why = _orphan_reason(ENCRYPTED_FILE, name, pinned) if name is not None else None
        if why:
            strays.append(Stray(ENCRYPTED_FILE, key, "orphan", why, (key,)))
    return strays


def _walk_index_only(
    store: SecretStore, backend: str, indexed: list[str], pinned: dict[str, str]
) -> list[Stray]:
    """A keychain that cannot enumerate: read each indexed key to confirm it exists."""
    strays = []
    for key in (n for n in indexed if "#" not in n):
        try:
            exists = store.get(key) is not None  # the value is dropped unread
        except StoreError as exc:
            if type(exc).__name__ != "StoreCorrupt":
                raise
            exists = True  # damaged, but there: an orphan is still deleted
        chunks = tuple(n for n in indexed if n.startswith(f"{key}#"))
        name = _owner(key)
        why = _orphan_reason(backend, name, pinned) if name is not None else None
        if not exists:
            strays.append(Stray(backend, key, "stale", "the index lists it but no such entry exists",
                                (key, *chunks)))
        elif why:
            strays.append(Stray(backend, key, "orphan", why, (key, *chunks)))
    return strays


def _walk_enumerated(
    backend: str, indexed: list[str], also: set[str], present: set[str], pinned: dict[str, str]
) -> list[Stray]:
    strays: list[Stray] = []
    listed = set(indexed)
    stale = sorted(listed - present)
    if stale:
        for key in sorted({n.partition("#")[0] for n in stale}):
            names = tuple(n for n in stale if n.partition("#")[0] == key)
            strays.append(Stray(backend, key, "stale",
                                f"the index lists {_count(names)} that no longer exist", names))
    by_key: dict[str, list[str]] = {}
    for n in sorted(present):
        if _owner(n) is not None:  # only entries under the profile prefix are cclogin's
            by_key.setdefault(n.partition("#")[0], []).append(n)
    for key, entries in by_key.items():
        name = _owner(key)
        if name is None:
            continue
        why = _orphan_reason(backend, name, pinned)
        if why:
            strays.append(Stray(backend, key, "orphan", why, tuple(entries)))
            continue
        missing = tuple(n for n in entries if n not in listed and n not in also)
        if missing:
            strays.append(Stray(backend, key, "unindexed",
                                f"the index does not list {_count(missing)} of it", missing))
    return strays


def _count(names: tuple[str, ...]) -> str:
    chunks = sum("#" in n for n in names)
    parts = []
    if len(names) - chunks:
        parts.append("its entry")
    if chunks:
        parts.append(f"{chunks} chunk entr{'y' if chunks == 1 else 'ies'}")
    return " and ".join(parts)


def fix_hint(stray: Stray) -> str:
    if stray.kind == "orphan":
        return "run `cclogin doctor --fix` to delete it (or `cclogin logout --all`)"
    if stray.kind == "stale":
        return "run `cclogin doctor --fix` to drop the index line(s)"
    return "run `cclogin doctor --fix` to list it in the index"


def repair(ctx: AppContext, strays: list[Stray], *, kinds: tuple[StrayKind, ...]) -> Repair:
    """Apply the targeted repair of each stray of the given kinds; say exactly what went."""
    from ..migrate.pending import has_leftovers

    out = Repair()
    settling = has_leftovers(ctx.paths)
    for stray in strays:
        if stray.kind not in kinds:
            continue
        if stray.kind == "orphan" and settling:
            out.failed.append(f"{stray.describe()}; kept: a killed migrate is not settled yet "
                              "and may still need it (run `cclogin migrate` first)")
            out.failed_keys.add((stray.backend, stray.key))
            continue
        try:
            if stray.kind == "orphan":
                with metadata_lock(ctx.paths):  # no login can commit a profile meanwhile
                    line = _repair_orphan(ctx, stray)
            else:
                line = _repair_one(ctx, stray)
        except CcloginError as exc:
            out.failed.append(f"{stray.describe()}; not repaired: {exc.message}")
            out.failed_keys.add((stray.backend, stray.key))
            continue
        if line is None:
            out.kept.append(f"{stray.describe()}; kept: a profile uses it now")
        elif stray.kind == "unindexed":
            out.listed.append(line)
        else:
            out.removed.append(line)
    return out


def _repair_one(ctx: AppContext, stray: Stray) -> str:
    from ..store.keychain_index import KeychainIndex

    index = KeychainIndex(ctx.paths, stray.backend)
    if stray.kind == "stale":
        index.discard_all(list(stray.names))
        return f"index line(s) {', '.join(stray.names)} of {stray.backend} (no such entry)"
    index.add_all(list(stray.names))
    return f"{', '.join(stray.names)} in the {stray.backend} index (the entries exist)"


def _repair_orphan(ctx: AppContext, stray: Stray) -> str | None:
    """Delete an orphan, if it still is one (checked again under the metadata lock)."""
    meta = read_metadata(ctx.paths)
    pinned = {str(p.name): p.backend for p in meta.profiles.values()}
    name = _owner(stray.key)
    if name is None or _orphan_reason(stray.backend, name, pinned) is None:
        return None
    store = ctx.store_named(stray.backend)
    if stray.backend != ENCRYPTED_FILE:
        from ..store.keychain_index import KeychainIndex

        # Listed first, so the store's delete sweeps every chunk entry of the key too.
        KeychainIndex(ctx.paths, stray.backend).add_all(list(stray.names))
    store.delete(stray.key)
    if store.get(stray.key) is not None or stray.key in store.keys():
        raise StoreError(f"{stray.key} is still readable from {stray.backend} after deletion")
    return f"orphaned entry {stray.key} from {stray.backend} ({stray.why})"
