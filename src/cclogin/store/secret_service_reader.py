"""Read cclogin's Secret Service items straight over D-Bus, for the `token` hot path and
for the read-only checks of `status`, `doctor` and `backends`.

keyring + secretstorage cost ~150 ms of imports per call; jeepney alone costs ~20 ms.
This reader does only the happy path: session bus, OpenSession("plain") (the bus is a
local socket to our own user's daemon), SearchItems on the default collection with the
attributes keyring's SecretService backend writes, GetSecret, close. Anything unusual
(locked collection or item, no default alias, an unexpected reply) raises
`NeedsFallbackError`, and the caller retries through keyring, which knows how to unlock and
how to report. It never imports keyring, secretstorage or cryptography.

Without a session (`session=False`) it reads no secret: `check()` (the default
collection's `Locked` property and a search, never `Unlock`, never a write) and
`usernames()` need none, and a client that opens no session cannot be the one that
leaves gnome-keyring in the middle of `OpenSession` (store/deadline.py).
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

from ..errors import StoreError, StoreLocked, StoreTimeout, StoreUnavailable
from .deadline import given_up

SERVICE_NAME = "org.freedesktop.secrets"
SERVICE_PATH = "/org/freedesktop/secrets"
DEFAULT_COLLECTION = "/org/freedesktop/secrets/aliases/default"
KEYRING_SERVICE = "cclogin"


class NeedsFallbackError(Exception):
    """The fast path cannot answer; ask keyring. Carries a reason, never a secret."""

    def __init__(self, reason: str, dbus_error: str | None = None) -> None:
        super().__init__(reason)
        self.dbus_error = dbus_error  # the D-Bus error name, when the daemon sent one


def preload() -> bool:
    """Import what the reader uses (before a deadline's clock starts); False: no jeepney."""
    import importlib

    try:
        for module in ("jeepney", "jeepney.io.blocking", "jeepney.wrappers"):
            importlib.import_module(module)
    except ImportError:
        return False
    return True


class SecretServiceReader:
    """One D-Bus connection and, unless `session=False`, one plain session; use as a
    context manager."""

    def __init__(self, timeout: float, *, session: bool = True) -> None:
        self._timeout = timeout
        self._want_session = session
        self._conn: Any = None
        self._session: str | None = None

    def __enter__(self) -> SecretServiceReader:
        try:
            from jeepney import DBusAddress
            from jeepney.io.blocking import open_dbus_connection
        except ImportError:
            raise NeedsFallbackError("jeepney is not installed") from None
        try:
            self._conn = open_dbus_connection(bus="SESSION", auth_timeout=self._timeout)
        except TimeoutError:
            raise StoreTimeout("the D-Bus session bus did not answer in time") from None
        except (KeyError, OSError, ValueError) as exc:
            raise NeedsFallbackError(f"no session bus ({type(exc).__name__})") from None
        if self._want_session:
            service = DBusAddress(SERVICE_PATH, SERVICE_NAME, "org.freedesktop.Secret.Service")
            try:
                _output, session = self._call(service, "OpenSession", "sv", ("plain", ("s", "")))
            except BaseException:
                self.close()
                raise
            self._session = str(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the session, then the connection. Never in the middle of a call: every
        call has had its reply (or its timeout) by the time this runs. Given up on, the
        session's Close is skipped; closing the connection ends the session as well."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._session and not given_up():
                from jeepney import DBusAddress

                addr = DBusAddress(self._session, SERVICE_NAME, "org.freedesktop.Secret.Session")
                with contextlib.suppress(Exception):  # closing is a courtesy
                    self._call(addr, "Close", "", (), conn=conn)
        finally:
            self._session = None
            conn.close()

    def check(self) -> None:
        """Is the default collection there, unlocked, and answering searches? A read:
        its `Locked` property and a SearchItems for cclogin's items; never Unlock.

        Raises StoreLocked, StoreUnavailable, StoreTimeout or StoreError, without the
        backend's name (the caller adds it)."""
        from jeepney import DBusAddress

        collection = DBusAddress(DEFAULT_COLLECTION, SERVICE_NAME)
        try:
            (variant,) = self._call(
                collection.with_interface("org.freedesktop.DBus.Properties"),
                "Get", "ss", ("org.freedesktop.Secret.Collection", "Locked"),
            )
            if variant[1]:
                raise StoreLocked("the Secret Service collection is locked")
            self._call(
                collection.with_interface("org.freedesktop.Secret.Collection"),
                "SearchItems", "a{ss}", ({"service": KEYRING_SERVICE},),
            )
        except NeedsFallbackError as exc:
            raise _checked(exc) from None

    def read(self, username: str) -> str | None:
        """The text keyring stored for (service "cclogin", `username`), or None."""
        from jeepney import DBusAddress

        collection = DBusAddress(
            DEFAULT_COLLECTION, SERVICE_NAME, "org.freedesktop.Secret.Collection"
        )
        attrs = {"service": KEYRING_SERVICE, "username": username}
        (items,) = self._call(collection, "SearchItems", "a{ss}", (attrs,))
        if not items:
            return None
        item = DBusAddress(str(items[0]), SERVICE_NAME, "org.freedesktop.Secret.Item")
        (secret,) = self._call(item, "GetSecret", "o", (self._session,))
        _session, _params, value, _content_type = secret
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise NeedsFallbackError("the item is not UTF-8 text") from None

    def usernames(self) -> list[str]:
        """The `username` of every item keyring stored under the service "cclogin" in the
        default collection (for `doctor`: items the index lost). Reads no secret."""
        from jeepney import DBusAddress

        collection = DBusAddress(
            DEFAULT_COLLECTION, SERVICE_NAME, "org.freedesktop.Secret.Collection"
        )
        (items,) = self._call(collection, "SearchItems", "a{ss}", ({"service": KEYRING_SERVICE},))
        names: list[str] = []
        for path in items:
            props = DBusAddress(str(path), SERVICE_NAME, "org.freedesktop.DBus.Properties")
            (variant,) = self._call(
                props, "Get", "ss", ("org.freedesktop.Secret.Item", "Attributes")
            )
            attrs = variant[1] if isinstance(variant, tuple) else variant
            name = attrs.get("username") if isinstance(attrs, dict) else None
            if isinstance(name, str):
                names.append(name)
        return sorted(set(names))

    def _call(
        self, addr: Any, method: str, signature: str, body: tuple[Any, ...], conn: Any = None
    ) -> Any:
        from jeepney import new_method_call
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        if given_up():  # the caller stopped waiting: start nothing new
            raise StoreTimeout(f"given up before {method} was sent")
        msg = new_method_call(addr, method, signature or None, body)
        try:
            reply = (conn or self._conn).send_and_get_reply(msg, timeout=self._timeout)
        except TimeoutError:
            raise StoreTimeout(
                f"the Secret Service did not answer {method} within {self._timeout:g} s"
            ) from None
        except OSError as exc:
            raise NeedsFallbackError(f"D-Bus connection failed ({type(exc).__name__})") from None
        try:
            return unwrap_msg(reply)
        except DBusErrorResponse as exc:
            # IsLocked, NoSuchObject (no default alias), ServiceUnknown, ...: keyring
            # knows how to unlock or report each; we only name it.
            name = str(exc.name)
            raise NeedsFallbackError(f"D-Bus error {name}", name) from None


def _checked(exc: NeedsFallbackError) -> StoreError:
    """What a failed read-only check means, for `status`, `doctor` and `backends`."""
    name = exc.dbus_error
    if name is None:
        return StoreUnavailable(f"cannot reach the Secret Service ({exc})")
    if name.endswith((".IsLocked", ".AccessDenied")):
        return StoreLocked("the Secret Service collection is locked")
    if name.endswith((".ServiceUnknown", ".NameHasNoOwner", ".Spawn.ExecFailed")):
        return StoreUnavailable("no Secret Service daemon on the session bus")
    if name.endswith((".NoSuchObject", ".UnknownObject", ".UnknownMethod")):
        # No object at the alias: nothing is the default collection. keyring would
        # create one, which prompts; we never do (store/os_keyring.py, _instantiate).
        return StoreUnavailable("the Secret Service has no default collection")
    if name.endswith((".NoReply", ".Timeout", ".TimedOut")):
        return StoreTimeout("the Secret Service did not answer in time")
    return StoreError(f"D-Bus error {name}")
