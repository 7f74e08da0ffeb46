"""The Linux kernel keyring as the tests see it: /proc/keys, a session of their own,
and two standalone scripts for processes that must *not* get the unlock cache.

    with own_session():                  # this test's cclogin children share a fresh one
        ...
        [key] = unlock_keys()            # parsed from /proc/keys, as the kernel says
        assert key.timeout == "9m" and key.perm == 0x0B010000

- ATTEMPT (`python3 keyring_attempt.py DESC SERIAL SESSION`): every way a same-uid (or
  other-uid) process might reach a key it does not possess; prints JSON, one entry per
  attempt: `"read:<hex>"` when it got the payload, `"errno:N"` otherwise.
- WITHOUT_KEYRING (`python3 no_keyring.py ERRNO -- CMD ...`): CMD under a seccomp filter
  that fails add_key/request_key/keyctl with ERRNO, as a container's default profile does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ATTEMPT = HERE / "keyring_attempt.py"
WITHOUT_KEYRING = HERE / "no_keyring.py"
PREFIX = "cclogin:unlock:v1:"
SYSCALLS = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}
KEYCTL_JOIN_SESSION, KEYCTL_GET_KEYRING_ID, KEYCTL_READ = 1, 0, 11
SESSION = -3

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _nr(which: int) -> int:
    numbers = SYSCALLS.get(os.uname().machine)
    if numbers is None:
        raise OSError(f"no keyctl syscall numbers for {os.uname().machine}")
    return numbers[which]


def keyctl(op: int, *args: int | bytes | None) -> int:
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    conv += [ctypes.c_long(0)] * (4 - len(conv))
    result = _libc.syscall(ctypes.c_long(_nr(2)), ctypes.c_long(op), *conv)
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def add_key(desc: str, payload: bytes, keyring: int = SESSION) -> int:
    """A `user` key with the kernel's default permissions (possessor all, user view)."""
    result = _libc.syscall(
        ctypes.c_long(_nr(0)),
        b"user",
        desc.encode(),
        payload,
        ctypes.c_size_t(len(payload)),
        ctypes.c_long(keyring),
    )
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def session_id() -> int:
    return keyctl(KEYCTL_GET_KEYRING_ID, SESSION, 0)


def session_members() -> list[int]:
    """Serials linked directly in this process's session keyring."""
    buf = ctypes.create_string_buffer(4096)
    size = keyctl(KEYCTL_READ, SESSION, buf, 4096)
    return [int.from_bytes(buf.raw[i : i + 4], "little", signed=True) for i in range(0, size, 4)]


@contextlib.contextmanager
def own_session() -> Iterator[int]:
    """This process joins a fresh anonymous session keyring (so its cclogin children
    share one that no other test sees), and another one afterwards (the test's keyring
    and whatever it held are then dropped by the kernel once its children are gone)."""
    serial = keyctl(KEYCTL_JOIN_SESSION, None)
    try:
        yield serial
    finally:
        keyctl(KEYCTL_JOIN_SESSION, None)


@dataclass(frozen=True)
class ProcKey:
    serial: int
    flags: str
    timeout: str  # "perm", "expd", "59s", "9m", "7h", "2d", "1w": the kernel's own words
    perm: int
    uid: int
    gid: int
    type: str
    description: str


def proc_keys() -> list[ProcKey]:
    """Every key /proc/keys shows this process (those it may view)."""
    keys = []
    for line in Path("/proc/keys").read_text().splitlines():
        serial, flags, _usage, timeout, perm, uid, gid, kind, rest = line.split(None, 8)
        keys.append(
            ProcKey(
                int(serial, 16),
                flags,
                timeout,
                int(perm, 16),
                int(uid),
                int(gid),
                kind,
                rest.rsplit(":", 1)[0],
            )
        )
    return keys


def unlock_keys() -> list[ProcKey]:
    return [k for k in proc_keys() if k.type == "user" and k.description.startswith(PREFIX)]
