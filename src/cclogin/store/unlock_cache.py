"""The unlock cache: the encrypted store's data key in the Linux kernel keyring.

`cclogin unlock` puts the unwrapped data key (never the passphrase) in a `user` key
under the *session* keyring, with the kernel's own timeout, so `token` (and Claude
Code's apiKeyHelper started from that session) opens the store without Argon2id
and without a passphrase source. Nothing of it reaches disk, argv or the
environment; the description is a hash.

    session keyring (_ses)                    inherited by what the session starts
      `- keyring "cclogin"   04 0b 00 00      possessor: write; user: view read search
           `- user "cclogin:unlock:v1:<hash>"  0b 01 00 00  possessor: view read search;
                                                            user: view; timeout set

Why the session keyring, not the user keyring (verified on Linux 6.18, see
tests/test_unlock_cache.py): every process of the uid can reach `@u` and `@us` by
their special ids, link them into a keyring of its own (or join `_uid_ses.UID` by
name) and so *possess* everything in them, whatever the key's permissions say. A
private session keyring is reachable only by inheritance: a process that was not
started inside it (another login, or the child of `exec`/`run`, which gets a fresh
one from `isolate()`) can at most see that the key exists. The key's permissions
give no one anything without possession: no read, no link elsewhere, no change of
its timeout or permissions.

Why the `cclogin` keyring between them: possession does not look at the uid, and a
session keyring survives setuid, so a process of *another* user started inside the
session (`sudo -u bob`, `su` without pam_keyinit) would possess the key too. The kernel
descends into a nested keyring only with search permission, and only the owner's uid
has it on `cclogin` (its possessor bits hold write alone): another uid possessing the
session never reaches the key.

Where the caller has no session keyring of its own (it runs on the user-session
keyring: most SSH logins without pam_keyinit, containers, cron), `store` gives its
parent (the shell) a new one, as `keyctl new_session` and pam_keyinit do.

Syscalls go through `_ctypes` directly (`import ctypes` costs 5-10 ms; `_ctypes` is
already loaded by cli/entry.py's prctl). Where the keyring is missing (another OS, a
seccomp filter: ENOSYS/EPERM), reads are silently a miss and `store` raises
`UnlockCacheUnavailable`.
"""

from __future__ import annotations

import os
import sys
import time
from hashlib import sha256
from pathlib import Path
from typing import Any

from ..errors import CcloginError

PREFIX = "cclogin:unlock:v1:"
# Possessor: view, read, search (search lets `lock` invalidate it). User (same uid,
# not possessing it): view only, so /proc/keys shows it exists and when it expires.
# No write, link or setattr for anyone: the payload, timeout and permissions are final.
PERM = 0x0B010000
RING = "cclogin"
# Possessor: write (to link keys in); user: view, read, search. Searching it needs the
# user bits, so a possessor of another uid cannot descend into it; no link or setattr.
RING_PERM = 0x040B0000
_PAYLOAD_VERSION = 1
_PAYLOAD_LEN = 1 + 8 + 32  # version, expiry (u64 seconds, big-endian), data key

# keyctl(2) operations and special keyring ids (linux/keyctl.h).
_GET_KEYRING_ID, _JOIN_SESSION, _SETPERM, _DESCRIBE, _LINK, _UNLINK = 0, 1, 5, 6, 8, 9
_READ, _SET_TIMEOUT, _SESSION_TO_PARENT, _INVALIDATE = 11, 15, 18, 21
THREAD, SESSION, USER, USER_SESSION = -1, -3, -4, -5
_LINK_OR_SETATTR = 0x30  # a non-possessor with either could make itself a possessor
# (add_key, request_key, keyctl) by machine; the generic table covers arm64, riscv64.
_SYSCALLS = {
    "x86_64": (248, 249, 250),
    "i686": (286, 287, 288),
    "i386": (286, 287, 288),
    "aarch64": (217, 218, 219),
    "riscv64": (217, 218, 219),
    "loongarch64": (217, 218, 219),
    "armv7l": (309, 310, 311),
    "armv8l": (309, 310, 311),
    "ppc64le": (269, 270, 271),
    "ppc64": (269, 270, 271),
    "s390x": (278, 279, 280),
}
_ENOENT, _EPERM, _ENOSYS = 2, 1, 38


class UnlockCacheUnavailable(CcloginError):
    default_hint = (
        "cclogin works without it, as before: each command asks CCLOGIN_PASSPHRASE_FILE, "
        "CCLOGIN_PASSPHRASE_COMMAND or the terminal for the passphrase"
    )


class KeyringError(OSError):
    """A keyctl call failed; `errno` says why."""


def admin_limit() -> int | None:
    """The admin policy's cap on the cache's lifetime, in seconds (`[unlock_cache]
    max_seconds`, docs/policy.md): None for no limit, 0 for no cache at all. The one
    place the cache asks the policy."""
    from ..policy import unlock_cache_limit

    return unlock_cache_limit()


def description(store_path: Path, header: bytes) -> str:
    """The key's name: a hash of the store's real path and its header (KDF cost,
    salt, wrapped key), so a moved, replaced or re-keyed store never finds the key of
    another. Not secret, and no path in clear."""
    real = os.fsencode(os.path.realpath(store_path))
    digest = sha256(b"cclogin unlock v1\0" + real + b"\0" + header).hexdigest()
    return PREFIX + digest[:32]


def load(desc: str) -> tuple[bytes, float] | None:
    """(data key, expires_at) of the cached key this process possesses, else None.

    Never raises: no keyring, no key, an expired, revoked or unreadable key and a
    payload of the wrong shape are all a miss, and the caller asks for the passphrase.
    """
    try:
        kernel = _kernel()
        serial = kernel.request_key(desc)
        payload = kernel.read(serial)
    except (KeyringError, UnlockCacheUnavailable):
        return None
    if len(payload) != _PAYLOAD_LEN or payload[0] != _PAYLOAD_VERSION:
        return None
    return payload[9:], float(int.from_bytes(payload[1:9], "big"))


def expires_at(desc: str) -> float | None:
    found = load(desc)
    return None if found is None else found[1]


def store(desc: str, data_key: bytes, seconds: int) -> str:
    """Cache `data_key` for `seconds` in the session keyring; says where it went.

    An older key of the same description is displaced in one step (a link replaces
    it), so a re-unlock never leaves a gap. The key is made in this thread's keyring
    and linked into the session keyring only once its timeout is set, so a cclogin
    killed half-way leaves no key without a timeout behind.
    """
    if len(data_key) != 32 or not 1 <= seconds < 1 << 32:
        raise ValueError("a 32-byte data key and 1 s .. 2^32-1 s")
    check_available()
    kernel = _kernel()
    try:
        where = _session_for_parent(kernel)
        ring = _ring(kernel, create=True)
        expiry = int(time.time()) + seconds
        payload = bytes([_PAYLOAD_VERSION]) + expiry.to_bytes(8, "big") + data_key
        serial = kernel.add_key("user", desc, payload, THREAD)
        try:
            kernel.keyctl(_SET_TIMEOUT, serial, seconds)
            kernel.keyctl(_LINK, serial, ring)
            kernel.keyctl(_SETPERM, serial, PERM)
        finally:
            kernel.keyctl(_UNLINK, serial, THREAD)
    except KeyringError as exc:
        raise UnlockCacheUnavailable(
            f"the kernel keyring refused the unlock cache ({os.strerror(exc.errno or 0)})"
        ) from None
    return where


def drop(desc: str) -> bool:
    """Invalidate this store's cached key, where this process possesses it."""
    try:
        kernel = _kernel()
        kernel.keyctl(_INVALIDATE, kernel.request_key(desc))
    except (KeyringError, UnlockCacheUnavailable):
        return False
    return True


def drop_all() -> int:
    """Invalidate every cclogin unlock key in the session keyring: how many went."""
    try:
        kernel = _kernel()
        mine = _ours(kernel)
    except (KeyringError, UnlockCacheUnavailable):
        return 0
    dropped = 0
    for serial in mine:
        try:
            kernel.keyctl(_INVALIDATE, serial)
            dropped += 1
        except KeyringError:
            continue
    return dropped


def isolate() -> bool:
    """Before `exec`/`run` replace cclogin with a child: where the session keyring
    holds an unlock key, join a fresh session keyring (the user keyring linked in, as
    pam_keyinit does), so the child and everything it starts no longer possesses the
    key. Elsewhere nothing changes (AFS or Kerberos keys in the session stay shared).
    True when the child was isolated."""
    try:
        kernel = _kernel()
        if not _ours(kernel):
            return False
        kernel.keyctl(_JOIN_SESSION, 0)
        kernel.keyctl(_LINK, USER, SESSION)
    except (KeyringError, UnlockCacheUnavailable):
        return False
    return True


def check_available() -> None:
    """Raise UnlockCacheUnavailable, saying why, where the kernel keyring cannot be used."""
    kernel = _kernel()
    try:
        kernel.keyctl(_GET_KEYRING_ID, SESSION, 0)
    except KeyringError as exc:
        raise _unavailable(exc.errno or 0) from None


def unavailable_reason() -> str | None:
    """None where the cache can be used here, else why not (status, doctor)."""
    try:
        check_available()
    except UnlockCacheUnavailable as exc:
        return exc.message
    return None


# --- internals -------------------------------------------------------------------------


def _ours(kernel: _Kernel) -> list[int]:
    """Serials of the unlock keys in the session's `cclogin` keyring."""
    ring = _ring(kernel, create=False)
    if ring is None:
        return []
    found = []
    for serial in kernel.keyring_members(ring):
        try:
            kind, _uid, _gid, _perm, name = kernel.describe(serial)
        except KeyringError:
            continue
        if kind == "user" and name.startswith(PREFIX):
            found.append(serial)
    return found


def _ring(kernel: _Kernel, *, create: bool) -> int | None:
    """The session keyring's `cclogin` keyring: ours, with exactly RING_PERM. One
    that is not (planted by a process of another uid that possesses the session) is
    never used; a new one displaces it."""
    me = os.geteuid()
    for serial in kernel.keyring_members(SESSION):
        try:
            kind, uid, _gid, perm, name = kernel.describe(serial)
        except KeyringError:
            continue
        if kind == "keyring" and name == RING and uid == me and perm == RING_PERM:
            return serial
    if not create:
        return None
    serial = kernel.add_key("keyring", RING, None, SESSION)
    kernel.keyctl(_SETPERM, serial, RING_PERM)
    return serial


def _session_for_parent(kernel: _Kernel) -> str:
    """Make sure the key lands in a session keyring of the caller's own, not the
    user-session keyring every process of the uid can reach; returns where."""
    session = kernel.keyctl(_GET_KEYRING_ID, SESSION, 0)
    shared = kernel.keyctl(_GET_KEYRING_ID, USER_SESSION, 0)
    if session != shared:
        perm = kernel.describe(SESSION)[3]
        if perm & (_LINK_OR_SETATTR << 16 | _LINK_OR_SETATTR << 8 | _LINK_OR_SETATTR):
            raise UnlockCacheUnavailable(
                f"this session keyring lets processes that do not possess it link it "
                f"(permissions {perm:08x}): a cached key would not stay private",
                "start a new session keyring first (`keyctl new_session`, or log in again)",
            )
        return "in this session's keyring"
    parent = _parent_name()
    try:
        kernel.keyctl(_JOIN_SESSION, 0)
        kernel.keyctl(_LINK, USER, SESSION)
        kernel.keyctl(_SESSION_TO_PARENT)
    except KeyringError as exc:
        raise UnlockCacheUnavailable(
            f"{parent} has no session keyring of its own, and cclogin cannot give it "
            f"one ({os.strerror(exc.errno or 0)}: its parent must be a single-threaded "
            "process of the same user, such as bash)",
            "run `cclogin unlock` from bash or zsh directly (not from fish, a wrapper or "
            "a program's own shell tool), or start a session keyring first: "
            "`keyctl session - $SHELL`",
        ) from None
    return f"in a new session keyring given to {parent}, which ran this"


def _parent_name() -> str:
    ppid = os.getppid()
    try:
        name = Path(f"/proc/{ppid}/comm").read_text().strip()
    except OSError:
        name = "the parent process"
    return f"{name} (pid {ppid})"


def _unavailable(err: int) -> UnlockCacheUnavailable:
    if err in (_ENOSYS, _EPERM):
        why = "the kernel refused keyctl(2) (a container's seccomp filter blocks it?)"
    else:
        why = f"keyctl(2) failed: {os.strerror(err)}"
    return UnlockCacheUnavailable(f"the Linux kernel keyring is not available here: {why}")


_bound: list[_Kernel] = []


def _kernel() -> _Kernel:
    if not sys.platform.startswith("linux"):
        raise UnlockCacheUnavailable(
            "the unlock cache needs the Linux kernel keyring",
            "macOS and Windows have a keychain that cclogin uses instead of the encrypted file",
        )
    if not _bound:
        _bound.append(_Kernel())
    return _bound[0]


class _Kernel:
    """add_key(2), request_key(2) and keyctl(2) through libc's syscall(2)."""

    def __init__(self) -> None:
        numbers = _SYSCALLS.get(os.uname().machine)
        if numbers is None:
            raise UnlockCacheUnavailable(
                f"cclogin does not know the keyctl syscalls of {os.uname().machine}"
            )
        self._add, self._request, self._keyctl = numbers
        try:
            import _ctypes

            class _Long(_ctypes._SimpleCData):  # type: ignore[type-arg]
                _type_ = "l"

            class _Ptr(_ctypes._SimpleCData):  # type: ignore[type-arg]
                _type_ = "P"

            class _Char(_ctypes._SimpleCData):  # type: ignore[type-arg]
                _type_ = "c"

            class _Buffer(_ctypes.Array):  # type: ignore[type-arg]
                _type_ = _Char
                _length_ = 4096

            class _Func(_ctypes.CFuncPtr):
                _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
                _restype_ = _Long

            libc = _ctypes.dlopen(None)  # type: ignore[arg-type]  # the running process
            self._fn: Any = _Func(_ctypes.dlsym(libc, "syscall"))
            self._fn.argtypes = (_Long, _Ptr, _Ptr, _Ptr, _Ptr, _Ptr)
            self._errno: Any = _ctypes.get_errno
            self._buffer: Any = _Buffer
        except Exception:  # no _ctypes, no libc symbol
            raise UnlockCacheUnavailable("cclogin cannot call keyctl(2) from this Python") from None

    def _call(self, number: int, *args: object) -> int:
        padded = (*args, 0, 0, 0, 0, 0)[:5]
        result = int(self._fn(number, *padded))
        if result == -1:
            raise KeyringError(int(self._errno()), "keyctl")
        return result

    def keyctl(self, op: int, *args: object) -> int:
        return self._call(self._keyctl, op, *args)

    def add_key(self, kind: str, desc: str, payload: bytes | None, keyring: int) -> int:
        size = 0 if payload is None else len(payload)
        return self._call(self._add, kind.encode(), desc.encode(), payload, size, keyring)

    def request_key(self, desc: str) -> int:
        """Search this process's thread, process and session keyrings; no upcall."""
        return self._call(self._request, b"user", desc.encode(), None, 0)

    def read(self, serial: int) -> bytes:
        buf = self._buffer()
        size = self._call(self._keyctl, _READ, serial, buf, len(buf))
        if size > len(buf):
            raise KeyringError(_ENOENT, "payload larger than expected")
        return bytes(buf.raw[:size])

    def describe(self, serial: int) -> tuple[str, int, int, int, str]:
        """(type, uid, gid, permissions, description) of a key."""
        buf = self._buffer()
        size = self._call(self._keyctl, _DESCRIBE, serial, buf, len(buf))
        text = bytes(buf.raw[: min(size, len(buf))]).rstrip(b"\0").decode("utf-8", "replace")
        kind, uid, gid, perm, name = text.split(";", 4)
        return kind, int(uid), int(gid), int(perm, 16), name

    def keyring_members(self, keyring: int) -> list[int]:
        data = self.read(keyring)
        return [
            int.from_bytes(data[i : i + 4], sys.byteorder, signed=True)
            for i in range(0, len(data) - 3, 4)
        ]
