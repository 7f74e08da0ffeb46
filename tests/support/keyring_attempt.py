"""Try every way to read a kernel key this process may not possess; print what worked.

    python3 keyring_attempt.py DESCRIPTION SERIAL SESSION_KEYRING

Standalone (stdlib only, any python3), so it runs as the child of `cclogin exec`, as
another user, or directly as the control. Prints one JSON object: attempt -> "read:<hex
of the payload>" when it got the payload, "done" when a call that must be refused
succeeded, "errno:N" when the kernel said no. The attempts are what a same-uid process
can do without ptrace: look the key up by name in its own keyrings, read it by serial,
link it (or the keyring that holds it, or the user and user-session keyrings, which
every process of the uid can reach) into its own session keyring, join the user-session
keyring or a keyring of the same name by name, and change the key's permissions or
timeout so that it could.
"""

import ctypes
import json
import os
import sys

NUMBERS = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}
ADD, REQUEST, KEYCTL = NUMBERS[os.uname().machine]
GET_ID, JOIN, SETPERM, LINK, SEARCH, READ, SET_TIMEOUT = 0, 1, 5, 8, 10, 11, 15
THREAD, SESSION, USER, USER_SESSION = -1, -3, -4, -5

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def call(number, *args):
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = libc.syscall(ctypes.c_long(number), *conv)
    if result == -1:
        raise OSError(ctypes.get_errno(), "")
    return result


def read(serial):
    buf = ctypes.create_string_buffer(4096)
    size = call(KEYCTL, READ, serial, buf, ctypes.c_size_t(4096))
    return "read:" + buf.raw[:size].hex()


def attempt(results, name, fn):
    try:
        results[name] = fn()
    except OSError as exc:
        results[name] = f"errno:{exc.errno}"


def main():
    desc, serial, session = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])
    results = {}

    def found(keyring):
        return read(call(KEYCTL, SEARCH, keyring, b"user", desc, 0))

    attempt(results, "request_key", lambda: read(call(REQUEST, b"user", desc, None, 0)))
    attempt(results, "search @s", lambda: found(SESSION))
    attempt(results, "search @u", lambda: found(USER))
    attempt(results, "search @us", lambda: found(USER_SESSION))
    attempt(results, "search the holding keyring", lambda: found(session))
    attempt(results, "read by serial", lambda: read(serial))
    attempt(
        results,
        "search @u into @s",
        lambda: str(call(KEYCTL, SEARCH, USER, b"user", desc, SESSION)),
    )
    attempt(
        results,
        "link the key into @s",
        lambda: (call(KEYCTL, LINK, serial, SESSION), read(serial))[1],
    )
    attempt(
        results,
        "link the holding keyring",
        lambda: (call(KEYCTL, LINK, session, SESSION), read(serial))[1],
    )
    attempt(
        results, "link @u into @s", lambda: (call(KEYCTL, LINK, USER, SESSION), read(serial))[1]
    )
    attempt(
        results,
        "link @us into @s",
        lambda: (call(KEYCTL, LINK, USER_SESSION, SESSION), read(serial))[1],
    )
    attempt(
        results, "set permissions", lambda: (call(KEYCTL, SETPERM, serial, 0x3F3F3F3F), "done")[1]
    )
    attempt(results, "set timeout", lambda: (call(KEYCTL, SET_TIMEOUT, serial, 0), "done")[1])
    uid_session = f"_uid_ses.{os.getuid()}".encode()
    attempt(
        results,
        "join _uid_ses by name",
        lambda: (call(KEYCTL, JOIN, uid_session), found(SESSION))[1],
    )
    attempt(results, "join _ses by name", lambda: (call(KEYCTL, JOIN, b"_ses"), found(SESSION))[1])
    attempt(results, "read after all that", lambda: read(serial))
    print(json.dumps(results))


main()
