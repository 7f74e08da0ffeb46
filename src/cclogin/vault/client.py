"""Talking to HashiCorp Vault / OpenBao: the one module that imports `hvac`.

hvac is the well-kept client; what it does not do for us is done here and in
`transport.py` (trust, proxies, per-request timeouts, read-your-writes), once:
- **no redirects**: a redirect would carry `X-Vault-Token` to wherever it points.
- **a whole-call deadline**: each call runs under one total deadline
  (`VAULT_CLIENT_TIMEOUT`, default 15 s), whatever the server trickles.
- **several nodes**: with more than one address, cclogin talks to the active node
  (sys/health says which): OpenBao's standbys answer reads from a copy that lags,
  and one cut off from its leader keeps answering from it (a key "not found" that
  is there, a check-and-set refused against an old version). A node that refuses
  connections, is sealed, is a standby or hangs is skipped for the next; the call
  retries until the deadline, so an election is a stall, not an error. One address
  (a single server, or a load balancer) is used as it is.
- **errors** mapped to cclogin's classes: permission denied (the policy) and a
  token the server no longer accepts are told apart by asking `lookup-self`.

Nothing here logs: requests and answers carry tokens and secrets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import hvac
import hvac.exceptions as hv

from ..errors import (
    CcloginError,
    InvalidInput,
    StoreConflict,
    VaultLoginNeeded,
    VaultNoLeader,
    VaultPermissionDenied,
    VaultSealed,
    VaultTimeout,
    VaultUnreachable,
)
from ..secret import Secret
from .settings import VaultSettings
from .transport import Consistency, RequestError, Session, clean, network_error, ssl_context

T = TypeVar("T")
RETRY_PAUSE = 0.2  # between rounds over the nodes, while a cluster elects a leader
MIN_NODE_SHARE = 2.0  # seconds one node of several may take before the next is tried
_clean = clean  # the name auth.py imports


class KvEntry(NamedTuple):
    data: dict[str, Any]
    version: int


class _NotActive(Exception):
    """A node that answered sys/health, but is not the one to ask (standby, sealed)."""

    def __init__(self, error: CcloginError) -> None:
        super().__init__(error.message)
        self.error = error


class VaultClient:
    """One server (or cluster), one token source; each method is one bounded call."""

    def __init__(
        self, settings: VaultSettings, token: Callable[[], Secret | None] | None = None
    ) -> None:
        self.settings = settings
        self._token = token
        self._context = ssl_context(settings)
        self._clients: dict[str, hvac.Client] = {}
        self._sessions: dict[str, Session] = {}
        self._preferred = 0  # the node that answered last
        self._active: int | None = None  # the node sys/health last called active
        self._attempt = threading.local()  # `end`: when the current attempt must give up
        self._seen = Consistency()

    def __repr__(self) -> str:
        return f"VaultClient({self.settings.describe()})"

    # --- KV version 2 ---------------------------------------------------------

    def kv_read(self, path: str) -> KvEntry | None:
        """The newest version's data, or None when there is none (or it was deleted)."""

        def read(c: hvac.Client) -> KvEntry | None:
            try:
                answer = c.secrets.kv.v2.read_secret_version(
                    path, mount_point=self.settings.mount, raise_on_deleted_version=True
                )
            except hv.InvalidPath:
                return None
            data = answer.get("data") or {}
            meta = data.get("metadata") or {}
            payload = data.get("data")
            if not isinstance(payload, dict):
                return None
            return KvEntry(payload, int(meta.get("version") or 0))

        return self._call(f"read {self._where(path)}", read)

    def kv_write(self, path: str, data: dict[str, Any], cas: int) -> int:
        """Write a new version only if the newest is still `cas` (0: none yet).

        Returns the new version. A retry after an answer that never came may find its
        own write already there; that counts as written, anything else as a conflict.
        """
        attempts = [0]

        def write(c: hvac.Client) -> int:
            attempts[0] += 1
            try:
                answer = c.secrets.kv.v2.create_or_update_secret(
                    path, secret=data, cas=cas, mount_point=self.settings.mount
                )
            except hv.InvalidRequest as exc:
                if "check-and-set" not in str(exc):
                    raise
                # An earlier attempt may have landed before its answer was lost: then
                # version cas + 1 is ours (whatever was written after it).
                if attempts[0] > 1 and self._version_holds(c, path, cas + 1, data):
                    return cas + 1
                raise StoreConflict(
                    f"{self._where(path)} was changed by someone else since it was read; "
                    "nothing was overwritten"
                ) from None
            return int((answer.get("data") or {}).get("version") or 0)

        return self._call(f"write {self._where(path)}", write)

    def _version_holds(self, c: hvac.Client, path: str, version: int, data: dict[str, Any]) -> bool:
        try:
            answer = c.secrets.kv.v2.read_secret_version(
                path, version=version, mount_point=self.settings.mount,
                raise_on_deleted_version=False,
            )
        except hv.InvalidPath:
            return False
        return bool((answer.get("data") or {}).get("data") == data)

    def kv_version(self, path: str) -> int:
        """The newest version number (0 when the secret does not exist)."""

        def version(c: hvac.Client) -> int:
            try:
                answer = c.secrets.kv.v2.read_secret_metadata(path, mount_point=self.settings.mount)
            except hv.InvalidPath:
                return 0
            return int((answer.get("data") or {}).get("current_version") or 0)

        return self._call(f"read the history of {self._where(path)}", version)

    def kv_destroy(self, path: str) -> bool:
        """Every version and the metadata: nothing of the secret stays on the server."""

        def destroy(c: hvac.Client) -> bool:
            try:
                c.secrets.kv.v2.read_secret_metadata(path, mount_point=self.settings.mount)
            except hv.InvalidPath:
                return False
            c.secrets.kv.v2.delete_metadata_and_all_versions(path, mount_point=self.settings.mount)
            return True

        return self._call(f"destroy {self._where(path)}", destroy)

    def kv_list(self, path: str) -> list[str]:
        def listing(c: hvac.Client) -> list[str]:
            try:
                answer = c.secrets.kv.v2.list_secrets(path, mount_point=self.settings.mount)
            except hv.InvalidPath:
                return []
            keys = (answer.get("data") or {}).get("keys") or []
            return [str(k) for k in keys]

        return self._call(f"list {self._where(path)}/", listing)

    # --- the token itself -----------------------------------------------------

    def lookup_self(self) -> dict[str, Any]:
        return self._call("look up the token", lambda c: dict(c.auth.token.lookup_self()["data"]))

    def renew_self(self, increment: int | None = None) -> dict[str, Any]:
        return self._call(
            "renew the token",
            lambda c: dict(c.auth.token.renew_self(increment=increment)["auth"]),
        )

    def revoke_self(self) -> None:
        self._call("revoke the token", lambda c: c.auth.token.revoke_self())

    def raw_login(self, what: str, fn: Callable[[hvac.Client], dict[str, Any]]) -> dict[str, Any]:
        """An auth method's login (no token needed); returns the `auth` block."""
        return self._call(what, fn, needs_token=False)

    # --- plumbing ---------------------------------------------------------------

    def _where(self, path: str) -> str:
        return f"{self.settings.mount}/{path}"

    def _client_for(self, address: str, token: Secret | None) -> hvac.Client:
        client = self._clients.get(address)
        if client is None:
            session = self._sessions[address] = Session(self._context, self._attempt_end, self._seen)
            client = hvac.Client(
                url=address,
                session=session,
                namespace=self.settings.namespace,
                allow_redirects=False,
            )
            self._clients[address] = client
        client.token = token.reveal() if token is not None else ""  # "": none, no header
        return client

    def _attempt_end(self) -> float:
        end: float | None = getattr(self._attempt, "end", None)
        return end if end is not None else time.monotonic() + self.settings.timeout

    def _call(
        self, what: str, fn: Callable[[hvac.Client], T], *, needs_token: bool = True
    ) -> T:
        deadline = time.monotonic() + self.settings.timeout
        token = self._token() if (needs_token and self._token is not None) else None
        if needs_token and token is None:
            raise VaultLoginNeeded(f"not logged in to the secret server at {self.settings.address}")
        done = threading.Event()
        box: list[Any] = []

        def work() -> None:
            try:
                box.append((True, self._rounds(what, fn, token, deadline)))
            except BaseException as exc:  # handed to the caller's thread
                box.append((False, exc))
            finally:
                done.set()

        threading.Thread(target=work, name=f"cclogin-vault:{what}", daemon=True).start()
        if not done.wait(self.settings.timeout + 1.0):  # an answer trickling in forever
            raise self._timed_out(what)
        ok, value = box[0]
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def _rounds(
        self, what: str, fn: Callable[[hvac.Client], T], token: Secret | None, deadline: float
    ) -> T:
        """Try each node in turn, the last good one first, until one answers.

        One node may take at most its share of the deadline (a hung node must leave
        time for the others); a single node gets all of it.
        """
        nodes = self.settings.addresses
        share = self.settings.timeout if len(nodes) == 1 else max(
            MIN_NODE_SHARE, self.settings.timeout / len(nodes)
        )
        seen: dict[type[CcloginError], CcloginError] = {}  # the latest error of each kind
        while True:
            sealed = 0
            for step in range(len(nodes)):
                index = (self._preferred + step) % len(nodes)
                now = time.monotonic()
                if now >= deadline:
                    raise self._gave_up(what, seen)
                self._attempt.end = min(deadline, now + share)
                try:
                    client = self._client_for(nodes[index], token)
                    if len(nodes) > 1 and self._active != index:
                        self._require_active(nodes[index])
                        self._active = index
                    result = fn(client)
                except CcloginError:
                    raise
                except Exception as exc:
                    if self._active == index:
                        self._active = None
                    err = (exc.error if isinstance(exc, _NotActive)
                           else self._translate(what, nodes[index], exc, token))
                    if not isinstance(err, _NEXT_NODE):
                        raise err from None
                    seen[type(err)] = err
                    sealed += isinstance(err, VaultSealed)
                    continue
                finally:
                    self._attempt.end = None
                self._preferred = index
                return result
            # Every node sealed: only an operator changes that, not another round.
            if sealed == len(nodes) or time.monotonic() + RETRY_PAUSE >= deadline:
                raise self._gave_up(what, seen)
            time.sleep(RETRY_PAUSE)

    def _require_active(self, node: str) -> None:
        """Raise _NotActive unless sys/health calls `node` the active node."""
        status = self._sessions[node].health(node)
        if status == 200:
            return
        if status in (429, 472, 473):  # standby, DR secondary, performance standby
            raise _NotActive(VaultNoLeader(f"{node} is a standby, and no other node is active"))
        if status in (501, 503):
            raise _NotActive(VaultSealed(f"the secret server at {node} is sealed or not initialised"))
        raise _NotActive(VaultNoLeader(f"the secret server at {node} is unavailable (status {status})"))

    def _timed_out(self, what: str) -> VaultTimeout:
        return VaultTimeout(
            f"the secret server did not answer within {self.settings.timeout:g} s ({what})"
        )

    def _gave_up(self, what: str, seen: dict[type[CcloginError], CcloginError]) -> CcloginError:
        """The deadline passed: the most telling of what the nodes said. A node that
        answered "sealed" or "no leader" says more than one that did not answer."""
        for kind in (VaultSealed, VaultNoLeader, VaultTimeout, VaultUnreachable):
            if kind in seen:
                return self._timed_out(what) if kind is VaultTimeout else seen[kind]
        return self._timed_out(what)

    def _translate(
        self, what: str, node: str, exc: Exception, token: Secret | None
    ) -> CcloginError:
        if isinstance(exc, RequestError):
            return network_error(what, node, exc)
        if isinstance(exc, hv.Forbidden | hv.Unauthorized):
            if token is not None and not self._token_works(node, token):
                return VaultLoginNeeded(
                    f"the secret server at {node} no longer accepts your Vault token "
                    "(expired or revoked)"
                )
            return VaultPermissionDenied(f"permission denied: {what}")
        if isinstance(exc, hv.VaultError):
            return _server_error(what, node, exc)
        if isinstance(exc, ValueError | KeyError | TypeError):
            return VaultUnreachable(f"{node} answered something that is not Vault's API ({what})")
        return VaultUnreachable(f"{what} at {node} failed: {type(exc).__name__}")

    def _token_works(self, node: str, token: Secret) -> bool:
        try:
            self._client_for(node, token).auth.token.lookup_self()
        except (hv.Forbidden, hv.Unauthorized):
            return False
        except Exception:
            return True  # cannot tell: say "permission denied", never blank anything
        return True


# What makes a call try the next node (and, once round, all of them again).
_NEXT_NODE = (VaultUnreachable, VaultSealed, VaultNoLeader, VaultTimeout)


def _server_error(what: str, node: str, exc: hv.VaultError) -> CcloginError:
    """What an answer with an error status means for the user."""
    text = str(exc).lower()
    if isinstance(exc, hv.VaultDown | hv.VaultNotInitialized):
        if "sealed" in text or isinstance(exc, hv.VaultNotInitialized):
            return VaultSealed(f"the secret server at {node} is sealed or not initialised")
        return VaultNoLeader(f"the secret server at {node} is unavailable ({_clean(exc, 80)})")
    if isinstance(exc, hv.InternalServerError | hv.BadGateway | hv.RateLimitExceeded) or (
        # A standby whose copy of a new KV mount is not upgraded yet: it will be soon.
        isinstance(exc, hv.InvalidRequest) and "waiting for the primary to upgrade" in text
    ):
        if any(word in text for word in ("active", "leader", "standby")):
            return VaultNoLeader(f"the cluster behind {node} has no active node right now")
        return VaultNoLeader(f"the secret server at {node} failed: {_clean(exc, 80)}")
    if isinstance(exc, hv.InvalidRequest | hv.InvalidPath | hv.UnsupportedOperation):
        return InvalidInput(f"the secret server refused to {what}: {_clean(exc)}")
    return VaultUnreachable(f"unexpected answer from {node} ({what}): {_clean(exc, 80)}")
