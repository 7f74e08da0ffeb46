"""One Secret Service read over the session bus socket, in two round trips.

A D-Bus client of its own (the wire format of the D-Bus specification, little or big
endian), because jeepney costs ~6 ms of imports and a thread for its deadline ~2 ms,
on every `cclogin token`. It does exactly what keyring's SecretService backend does to
read an entry (keyring/backends/SecretService.py `get_password`, with cclogin's
collection: store/os_keyring.py `_instantiate`), and what store/secret_service_reader.py
does for the full path:

    round trip 1, in one write: AUTH EXTERNAL + BEGIN (pipelined, as sd-bus clients
        do with dbus-daemon and dbus-broker),
        Hello, Service.OpenSession("plain"), and SearchItems({"service": "cclogin",
        "username": KEY}) on the collection /org/freedesktop/secrets/aliases/default
    round trip 2, in one write: Item.GetSecret(session) on the first item found, and
        Session.Close

It leaves only once every call it made has been answered (Close included): a client
that vanishes while gnome-keyring still works on one of its calls can make the daemon
abort (gnome-keyring 42.1 here; upstream's "assertion 'client' failed" races, met by
any short-lived client), so it never disconnects in the middle of a call, except when
the deadline has passed, and then only after `linger()`.

Every step is bounded by the socket's timeout, set to what is left of one deadline,
so there is no thread. The outcome is the entry's text, `None` (no such item), or an
exception: `Timeout` (the daemon did not answer in time: the same StoreTimeout as the
full path) or `Fallback` (anything else: no bus, an error reply such as IsLocked or
NoSuchObject, an odd message); the caller then asks the full path, which knows how to
unlock and how to report each.

Nothing here logs; the secret only ever sits in this process's memory.
"""

import _socket
import os
import time

SERVICE = "org.freedesktop.secrets"
SERVICE_PATH = "/org/freedesktop/secrets"
DEFAULT_COLLECTION = "/org/freedesktop/secrets/aliases/default"
KEYRING_SERVICE = "cclogin"  # keyring's `service` attribute (store/os_keyring.py SERVICE)
MAX_MESSAGE = 1 << 22  # our replies are a few KB; a larger one is not ours to parse
CLOSE_WAIT = 0.5  # seconds at most for Close's reply once the answer is in hand

_BUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
_FIXED = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "h": 4, "x": 8, "t": 8}
_ALIGN = {**_FIXED, "s": 4, "o": 4, "a": 4, "g": 1, "v": 1, "(": 8, "{": 8}


class Fallback(Exception):
    """The lean path cannot answer; the full path will. Carries a reason, never a secret."""


class Timeout(Exception):
    """The keychain did not answer within the deadline."""


# --- the wire format -------------------------------------------------------------------


def _pad(buf: bytearray, align: int) -> None:
    buf.extend(bytes(-len(buf) % align))


def _put_str(buf: bytearray, text: str) -> None:  # `s` and `o`
    _pad(buf, 4)
    data = text.encode()
    buf += len(data).to_bytes(4, "little")
    buf += data
    buf.append(0)


def _put_sig(buf: bytearray, sig: str) -> None:  # `g`
    buf.append(len(sig))
    buf += sig.encode()
    buf.append(0)


def method_call(
    serial: int,
    dest: str,
    path: str,
    iface: str,
    member: str,
    sig: str = "",
    body: bytes = b"",
    flags: int = 0,
) -> bytes:
    """One METHOD_CALL message, little endian. Header fields start at offset 16 and the
    body at a multiple of 8, so alignment within each part is alignment in the message."""
    fields = bytearray()
    for code, kind, value in ((1, "o", path), (2, "s", iface), (3, "s", member), (6, "s", dest)):
        _pad(fields, 8)
        fields.append(code)
        _put_sig(fields, kind)
        _put_str(fields, value)
    if sig:
        _pad(fields, 8)
        fields.append(8)
        _put_sig(fields, "g")
        _put_sig(fields, sig)
    head = bytearray(b"l")
    head += bytes((1, flags, 1))
    head += len(body).to_bytes(4, "little")
    head += serial.to_bytes(4, "little")
    head += len(fields).to_bytes(4, "little")
    head += fields
    _pad(head, 8)
    return bytes(head) + body


def string_dict(items: dict[str, str]) -> bytes:
    """A body of signature `a{ss}`."""
    buf = bytearray(4)  # the array's length, filled in below
    _pad(buf, 8)  # dict entries align to 8; the length does not count this padding
    start = len(buf)
    for key, value in items.items():
        _pad(buf, 8)
        _put_str(buf, key)
        _put_str(buf, value)
    buf[0:4] = (len(buf) - start).to_bytes(4, "little")
    return bytes(buf)


def _skip(sig: str, i: int) -> int:
    """The index just after the complete type that starts at sig[i]."""
    while sig[i] == "a":
        i += 1
    if sig[i] not in "({":
        return i + 1
    depth = 0
    while True:
        if sig[i] in "({":
            depth += 1
        elif sig[i] in ")}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


def read_value(  # noqa: PLR0911, PLR0912, PLR0915 - one branch per D-Bus type reads best
    data: bytes, pos: int, sig: str, i: int, order: str, depth: int = 0
) -> tuple[object, int, int]:
    """(value, position after it, index after its type) of the value of type sig[i] at
    `pos`. Positions count from the start of the message (alignment is relative to it).
    Any defect raises ValueError or IndexError; the caller falls back."""
    if depth > 16:
        raise ValueError("nested too deep")
    code = sig[i]
    size = _FIXED.get(code)
    if size is not None:
        pos += -pos % size
        end = pos + size
        if end > len(data):
            raise ValueError("truncated")
        number = int.from_bytes(data[pos:end], order, signed=code in "nix")  # type: ignore[arg-type]
        return (bool(number) if code == "b" else number), end, i + 1
    if code in "so":
        pos += -pos % 4
        length = int.from_bytes(data[pos : pos + 4], order)  # type: ignore[arg-type]
        start = pos + 4
        end = start + length
        if end >= len(data) or data[end] != 0:
            raise ValueError("bad string")
        return data[start:end].decode(), end + 1, i + 1
    if code == "g":
        length = data[pos]
        end = pos + 1 + length
        if end >= len(data) or data[end] != 0:
            raise ValueError("bad signature")
        return data[pos + 1 : end].decode("ascii"), end + 1, i + 1
    if code == "v":
        inner, pos, _ = read_value(data, pos, "g", 0, order)
        assert isinstance(inner, str)  # noqa: S101 - read_value("g") returns a str
        value, pos, j = read_value(data, pos, inner, 0, order, depth + 1)
        if j != len(inner):
            raise ValueError("a variant holds more than one value")
        return (inner, value), pos, i + 1
    if code == "a":
        pos += -pos % 4
        length = int.from_bytes(data[pos : pos + 4], order)  # type: ignore[arg-type]
        pos += 4
        element = i + 1
        after = _skip(sig, element)
        if sig[element] == "y":
            if pos + length > len(data):
                raise ValueError("truncated")
            return data[pos : pos + length], pos + length, after
        pos += -pos % _ALIGN[sig[element]]
        end = pos + length
        if end > len(data):
            raise ValueError("truncated")
        items: list[object] = []
        while pos < end:
            value, pos, _ = read_value(data, pos, sig, element, order, depth + 1)
            items.append(value)
        if pos != end:
            raise ValueError("array length mismatch")
        if sig[element] == "{":
            return dict(items), pos, after  # type: ignore[arg-type]  # (key, value) pairs
        return items, pos, after
    if code in "({":
        pos += -pos % 8
        close = ")" if code == "(" else "}"
        i += 1
        fields: list[object] = []
        while sig[i] != close:
            value, pos, i = read_value(data, pos, sig, i, order, depth + 1)
            fields.append(value)
        return tuple(fields), pos, i + 1
    raise ValueError(f"unsupported D-Bus type {code!r}")


class Message:
    """A received message: its type, the serial it answers, error name and body."""

    __slots__ = ("body", "error", "kind", "reply_to")

    def __init__(self, data: bytes) -> None:
        order = "little" if data[0:1] == b"l" else "big"
        if data[0:1] not in (b"l", b"B") or data[3] != 1:
            raise ValueError("not a D-Bus 1 message")
        self.kind = data[1]
        fields_end = 16 + int.from_bytes(data[12:16], order)  # type: ignore[arg-type]
        fields: dict[int, object] = {}
        pos = 16
        while pos < fields_end:
            pos += -pos % 8
            code = data[pos]
            variant, pos, _ = read_value(data, pos + 1, "v", 0, order)
            fields[code] = variant[1]  # type: ignore[index]  # (signature, value)
        reply_to = fields.get(5)
        self.reply_to = reply_to if isinstance(reply_to, int) else None
        error = fields.get(4)
        self.error = error if isinstance(error, str) else None
        sig = fields.get(8, "")
        body_start = fields_end + (-fields_end % 8)
        self.body: object = None
        if isinstance(sig, str) and sig:
            value, end, j = read_value(data, body_start, f"({sig})", 0, order)
            if j != len(sig) + 2 or end != len(data):
                raise ValueError("body and signature disagree")
            self.body = value


# --- the connection --------------------------------------------------------------------


def session_bus_path(environ: "os._Environ[str] | dict[str, str]") -> str:
    """The socket of DBUS_SESSION_BUS_ADDRESS, chosen as jeepney does (bus.py): the first
    `unix:` address with `abstract=` (else `path=`), every value %-unescaped; an entry
    jeepney cannot parse before that one is a Fallback, as it is an error there."""
    address = environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address is None:
        raise Fallback("no DBUS_SESSION_BUS_ADDRESS")
    for entry in address.split(";"):
        transport, colon, info = entry.partition(":")
        pairs: dict[str, str] = {}
        for item in info.split(","):
            key, equals, value = item.partition("=")
            if not colon or not equals:
                raise Fallback("a session bus address jeepney cannot parse")
            pairs[key] = _unescape(value)
        if transport != "unix":
            continue
        if "abstract" in pairs:
            return "\0" + pairs["abstract"]
        if "path" in pairs:
            return pairs["path"]
    raise Fallback("no unix: address for the session bus")


_HEX = frozenset("0123456789abcdefABCDEF")


def _unescape(value: str) -> str:
    """`%XX` (two hex digits) to its character; any other `%` stays (jeepney's rule)."""
    if "%" not in value:
        return value
    parts = value.split("%")
    out = [parts[0]]
    for part in parts[1:]:
        if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
            out.append(chr(int(part[:2], 16)) + part[2:])
        else:
            out.append("%" + part)
    return "".join(out)


class Connection:
    """One authenticated session-bus connection whose every wait ends at `deadline`."""

    def __init__(self, path: str, deadline: float) -> None:
        self._deadline = deadline
        self._buf = bytearray()
        self._replies: dict[int, Message] = {}
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            self._bound()
            self._sock.connect(path)
        except TimeoutError:
            self.close()
            raise Timeout from None
        except Timeout:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise Fallback(f"cannot connect to the session bus ({type(exc).__name__})") from None

    def _bound(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise Timeout
        self._sock.settimeout(left)

    def send(self, data: bytes) -> None:
        self._bound()
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise Timeout from None
        except OSError as exc:
            raise Fallback(f"the session bus closed ({type(exc).__name__})") from None

    def _fill(self) -> None:
        self._bound()
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            raise Timeout from None
        except OSError as exc:
            raise Fallback(f"the session bus closed ({type(exc).__name__})") from None
        if not chunk:
            raise Fallback("the session bus closed the connection")
        self._buf += chunk

    def auth_line(self) -> bytes:
        """The server's answer to AUTH (one CRLF-terminated line)."""
        while b"\r\n" not in self._buf:
            if len(self._buf) > 512:
                raise Fallback("an odd answer to AUTH")
            self._fill()
        line, _, rest = bytes(self._buf).partition(b"\r\n")
        self._buf = bytearray(rest)
        return line

    def _message(self) -> Message:
        while len(self._buf) < 16:
            self._fill()
        order = "little" if self._buf[0:1] == b"l" else "big"
        body = int.from_bytes(self._buf[4:8], order)  # type: ignore[arg-type]
        fields = int.from_bytes(self._buf[12:16], order)  # type: ignore[arg-type]
        total = 16 + fields + (-(16 + fields) % 8) + body
        if total > MAX_MESSAGE:
            raise Fallback("a message larger than cclogin's entries")
        while len(self._buf) < total:
            self._fill()
        data = bytes(self._buf[:total])
        del self._buf[:total]
        try:
            return Message(data)
        except (ValueError, IndexError, UnicodeDecodeError, TypeError):
            raise Fallback("a message cclogin cannot read") from None

    def reply(self, serial: int) -> Message:
        """The METHOD_RETURN or ERROR answering `serial`; signals are skipped."""
        while serial not in self._replies:
            msg = self._message()
            if msg.kind in (2, 3) and msg.reply_to is not None:
                self._replies[msg.reply_to] = msg
        return self._replies.pop(serial)

    def close(self) -> None:
        self._sock.close()


def _body(msg: Message, what: str) -> tuple[object, ...]:
    if msg.kind == 3:
        # IsLocked, NoSuchObject (no default alias), ServiceUnknown, ...: the full path
        # knows how to unlock or report each.
        raise Fallback(f"{what}: D-Bus error {msg.error}")
    if not isinstance(msg.body, tuple):
        raise Fallback(f"{what}: an empty reply")
    return msg.body


class SecretRead:
    """The read of one entry. `run()` returns its text or None; after a Timeout,
    `linger()` lets an OpenSession in flight finish before the connection closes."""

    def __init__(self, environ: "os._Environ[str] | dict[str, str]", timeout: float) -> None:
        self._path = session_bus_path(environ)
        self._deadline = time.monotonic() + timeout
        self._conn: Connection | None = None
        self._session: str | None = None
        self._session_pending = False
        self._closing: int | None = None  # the serial of a Close whose reply is due

    def run(self, username: str) -> str | None:
        try:
            text = self._run(username)
        except Timeout:
            if not self._session_pending:
                self.close()
            raise  # the caller reports it, then calls linger()
        except BaseException:
            self.close()
            raise
        self.close()
        return text

    def _run(self, username: str) -> str | None:
        conn = self._conn = Connection(self._path, self._deadline)
        uid = str(os.geteuid()).encode().hex().encode()
        search = {"service": KEYRING_SERVICE, "username": username}
        plain = bytearray()  # OpenSession("plain", <"">): no encryption on a local socket
        _put_str(plain, "plain")
        _put_sig(plain, "s")
        _put_str(plain, "")
        conn.send(
            b"\0AUTH EXTERNAL "
            + uid
            + b"\r\nBEGIN\r\n"
            + method_call(1, *_BUS, "Hello")
            + method_call(
                2,
                SERVICE,
                SERVICE_PATH,
                "org.freedesktop.Secret.Service",
                "OpenSession",
                "sv",
                bytes(plain),
            )
            + method_call(
                3,
                SERVICE,
                DEFAULT_COLLECTION,
                "org.freedesktop.Secret.Collection",
                "SearchItems",
                "a{ss}",
                string_dict(search),
            )
        )
        if not conn.auth_line().startswith(b"OK "):
            raise Fallback("the session bus refused AUTH EXTERNAL")  # nothing was delivered
        self._session_pending = True
        hello = conn.reply(1)
        opened = conn.reply(2)  # always awaited: never leave in the middle of OpenSession
        self._session_pending = False
        found = conn.reply(3)
        _body(hello, "Hello")
        session = _body(opened, "OpenSession")
        if len(session) != 2 or not isinstance(session[1], str):
            raise Fallback("OpenSession: an odd reply")
        self._session = session[1]
        result = _body(found, "SearchItems")
        items = result[0] if len(result) == 1 else None
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            raise Fallback("SearchItems: an odd reply")
        if not items:
            return None
        get = method_call(
            4,
            SERVICE,
            str(items[0]),
            "org.freedesktop.Secret.Item",
            "GetSecret",
            "o",
            _str_body(self._session),
        )
        conn.send(get + self._close_message(5))
        self._session = None  # closed by the message just sent; close() awaits its reply
        self._closing = 5
        answer = _body(conn.reply(4), "GetSecret")
        secret = answer[0] if len(answer) == 1 else None
        if not isinstance(secret, tuple) or len(secret) != 4 or not isinstance(secret[2], bytes):
            raise Fallback("GetSecret: an odd reply")
        try:
            return secret[2].decode("utf-8")
        except UnicodeDecodeError:
            raise Fallback("the item is not UTF-8 text") from None

    def _close_message(self, serial: int) -> bytes:
        assert self._session is not None  # noqa: S101 - only called with a session
        return method_call(
            serial,
            SERVICE,
            self._session,
            "org.freedesktop.Secret.Session",
            "Close",
        )

    def linger(self, grace: float) -> None:
        """After a Timeout: wait up to `grace` seconds for an OpenSession in flight (a
        client that vanishes in its middle has crashed gnome-keyring 42.1; see
        store/deadline.py), close that session, then the connection."""
        conn = self._conn
        if conn is None or not self._session_pending:
            self.close()
            return
        conn._deadline = time.monotonic() + grace
        try:
            opened = conn.reply(2)
            self._session_pending = False
            session = opened.body if opened.kind == 2 else None
            if isinstance(session, tuple) and len(session) == 2 and isinstance(session[1], str):
                self._session = session[1]  # close() sends its Close
        except (Timeout, Fallback):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Close the session (and wait, briefly, for Close's reply), then the socket."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._session is not None:
                conn.send(self._close_message(6))
                self._session, self._closing = None, 6
            if self._closing is not None:
                conn._deadline = min(conn._deadline, time.monotonic() + CLOSE_WAIT)
                conn.reply(self._closing)
        except (Timeout, Fallback):
            pass  # the answer is not at stake; closing the socket ends the session too
        finally:
            self._closing = None
            conn.close()


def _str_body(text: str) -> bytes:
    buf = bytearray()
    _put_str(buf, text)
    return bytes(buf)
