"""Is an OS keychain usable? Two answers, for two kinds of command (issue 13.2).

- `probe` reads and writes nothing: what `status`, `doctor` and `backends` use, so a
  command that only reports never creates or deletes a keychain item and never asks
  for an unlock. Secret Service (and libsecret, the same daemon): over jeepney, no
  session, the default collection's `Locked` property and a SearchItems for cclogin's
  items; locked, absent (no daemon, no bus, no default collection) and hung stay
  distinct errors. KWallet, macOS Keychain, Windows Credential Manager: keyring's
  viability check, then a read of an entry cclogin never writes (KWallet may open its
  wallet to answer, as any read does; that is the one prompt left).
- `round_trip` writes a throwaway entry, reads it back and deletes it: for the choice
  of a backend for a secret about to be written (login, migrate), where a keychain that
  reads but refuses writes must fall through to the next choice. Its entry is named
  with the pid and listed in the index first, so one left by a killed process is
  deleted by the next round trip.

Both are the `OsKeyringStore` methods of the same names; they live here to keep
os_keyring.py to the store itself. Everything runs under the store's deadline, after
its `_prepare` has imported what the call needs.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from ..errors import StoreError, StoreUnavailable
from .os_keyring import BindingsMissing, missing_module

if TYPE_CHECKING:
    from .os_keyring import OsKeyringStore

# Never a real key ('#'), never written: what a read-only probe reads where the keychain
# offers no cheaper way to say whether it answers.
ABSENT_ENTRY = "cclogin-probe#read"
PROBE_PREFIX = "cclogin-probe#"


def probe(store: OsKeyringStore) -> None:
    store._check_bindings()
    name = store.name
    if name == "secret-service" and missing_module("secretstorage"):
        # keyring's Secret Service backend writes through it: without it, login could
        # not store what this read-only check finds reachable.
        raise StoreUnavailable(f"{name}: SecretStorage required")
    if name in ("secret-service", "libsecret"):
        if name == "libsecret":
            store._prepare()
            store._run("probe", lambda: _viable(store._backend))
        store._prepare(fast=True, backend=False)
        if not store._fast:
            raise BindingsMissing(f"{name}: jeepney is not installed")
        store._run("probe", lambda: _check(store))
        return
    store._prepare()
    store._run("probe", lambda: _read_absent(store))


def _viable(backend: Any) -> None:
    type(backend).priority  # noqa: B018 - raises RuntimeError saying why not viable


def _check(store: OsKeyringStore) -> None:
    from .secret_service_reader import NeedsFallbackError

    try:
        with store._reader(session=False) as reader:
            reader.check()
    except NeedsFallbackError as exc:  # no bus, no jeepney: nothing to ask
        raise StoreUnavailable(f"{store.name}: {exc}") from None
    except StoreError as exc:
        raise type(exc)(f"{store.name}: {exc.message}", exc.hint) from None


def _read_absent(store: OsKeyringStore) -> None:
    _viable(store._backend)
    if store._slots().read(ABSENT_ENTRY) is not None:  # pragma: no cover - never written
        raise StoreError(f"{store.name}: an entry cclogin never writes is there")


def round_trip(store: OsKeyringStore) -> None:
    import secrets

    store._check_bindings()
    store._prepare()
    # '#': never a real key; the pid lets a later probe tell a dead one's entry.
    name = f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    text = "probe-" + secrets.token_hex(4)
    store._run("probe", lambda: _round_trip(store, name, text))


def _round_trip(store: OsKeyringStore, name: str, text: str) -> None:
    _viable(store._backend)
    slots = store._slots()
    _sweep_probes(store)
    store._index.add(name)  # listed first, so an interrupted probe's entry is found
    try:
        slots.write(name, text)
        if slots.read(name) != text:
            raise StoreError(f"{store.name}: a test entry did not read back intact")
    finally:
        with contextlib.suppress(StoreError):
            slots.remove(name)
    if slots.read(name) is not None:
        raise StoreError(f"{store.name}: a test entry could not be deleted")
    store._index.discard(name)


def _sweep_probes(store: OsKeyringStore) -> None:
    """Delete test entries that round trips of dead processes left behind."""
    slots = store._slots()
    for name in store._index.names():
        if not name.startswith(PROBE_PREFIX):
            continue
        pid = name[len(PROBE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue  # a round trip running right now
        with contextlib.suppress(StoreError):
            slots.remove(name)
            store._index.discard(name)


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # os.kill(pid, 0) is Ctrl-C on Windows: never sweep there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
