"""Run a command where the kernel keyring is blocked, as a container's seccomp profile does.

    python3 no_keyring.py ERRNO -- CMD [ARGS...]

Installs a seccomp filter (no_new_privs first, so no privilege is needed) that fails
add_key(2), request_key(2) and keyctl(2) with ERRNO (Docker's default profile: EPERM;
a kernel without CONFIG_KEYS: ENOSYS) and allows every other call, then execs CMD.
Standalone: stdlib only, x86_64 and aarch64.
"""

import ctypes
import os
import sys

ARCHES = {  # machine: (AUDIT_ARCH_*, add_key, request_key, keyctl)
    "x86_64": (0xC000003E, 248, 249, 250),
    "aarch64": (0xC00000B7, 217, 218, 219),
}
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
LD_ABS_W, JEQ_K, RET_K = 0x20, 0x15, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000


class Filter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]


def main():
    err = int(sys.argv[1])
    command = sys.argv[sys.argv.index("--") + 1 :]
    arch, add, request, keyctl = ARCHES[os.uname().machine]
    code = [
        (LD_ABS_W, 0, 0, 4),  # seccomp_data.arch
        (JEQ_K, 0, 4, arch),  # another ABI: allow
        (LD_ABS_W, 0, 0, 0),  # seccomp_data.nr
        (JEQ_K, 3, 0, add),
        (JEQ_K, 2, 0, request),
        (JEQ_K, 1, 0, keyctl),
        (RET_K, 0, 0, RET_ALLOW),
        (RET_K, 0, 0, RET_ERRNO | err),
    ]
    filters = (Filter * len(code))(*[Filter(*c) for c in code])
    prog = Program(len(code), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
    os.execvp(command[0], command)  # noqa: S606 - argv list, no shell


main()
