"""Reading the policy file: the file checks, then the schema (docs/policy.md).

The file is honoured only when it is owned by root and not writable by group or
others, every folder above it is too, and no symlink is anywhere on its path; it is a
regular file of at most 64 KiB, UTF-8 TOML, `schema = 1`, and only known keys with
the right types. Anything else stops cclogin (PolicyUnusable, exit 9), naming the file
and, for the schema, the line.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from typing import Any

from ..errors import PolicyUnusable
from ..fsio import read_at_most
from . import SCHEMA, TEST_ENV
from .rules import KNOWN_BACKENDS, TEAM_SERVER, KdfMinimum, Policy, url_parts

MAX_SIZE = 64 * 1024
# The encrypted file's own ceiling (store/kdf.py CEILING): a minimum above it could
# never be met. tests/test_policy.py keeps the two equal.
KDF_CEILING = {"min_memory_kib": 1 << 20, "min_iterations": 10, "min_lanes": 16}
MAX_UNLOCK_SECONDS = 2**32 - 1  # the kernel keyring's timeout is an unsigned int

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted there must not hang us
_OWNER_FIX = "chown root:root {p} && chmod {m} {p}"


def load_file(path: str, *, moved: bool = False) -> Policy:
    return parse(path, read_checked(path, moved=moved))


# --- the file -------------------------------------------------------------------------


def _unusable(path: str, why: str, hint: str | None = None) -> PolicyUnusable:
    return PolicyUnusable(f"the admin policy {path} {why}; cclogin refuses to run under it", hint)


def read_checked(path: str, *, moved: bool = False) -> bytes:
    if moved and (not os.path.isabs(path) or os.path.normpath(path) != path):
        raise PolicyUnusable(
            f"{TEST_ENV}={path[:200]!r} is not a plain absolute path",
            f"name the test policy file by its absolute path, or unset {TEST_ENV}",
        )
    posix = os.name == "posix"
    if posix:
        _check_folders(path)
    elif os.path.islink(path):  # Windows: no O_NOFOLLOW, so look first
        raise _unusable(path, "is a symlink", "replace the symlink with the file itself")
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise _unusable(path, "is a symlink", "replace the symlink with the file itself") from None
        if exc.errno == errno.ENOENT and moved:
            raise PolicyUnusable(
                f"{TEST_ENV} names {path}, which does not exist", f"create it, or unset {TEST_ENV}"
            ) from None
        raise _unusable(
            path,
            f"cannot be read ({exc.strerror or exc})",
            f"an administrator must make it readable by everyone: `chmod 644 {path}`",
        ) from None
    try:
        _check_file(path, os.fstat(fd), posix)
        data = read_at_most(fd, MAX_SIZE + 1)
    except OSError as exc:
        raise _unusable(path, f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SIZE:
        raise _unusable(path, f"grew past {MAX_SIZE} bytes while being read")
    return data


def _check_file(path: str, st: os.stat_result, posix: bool) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode):
        raise _unusable(path, "is not a regular file", "replace it with a regular file")
    if posix and st.st_uid != 0:
        raise _unusable(
            path,
            f"belongs to uid {st.st_uid}, not root, who could change it",
            "an administrator must run `" + _OWNER_FIX.format(p=path, m=644) + "`",
        )
    if posix and mode & 0o022:
        raise _unusable(
            path,
            f"is writable by group or others (mode {mode:03o}), who could change it",
            "an administrator must run `" + _OWNER_FIX.format(p=path, m=644) + "`",
        )
    if st.st_size > MAX_SIZE:
        raise _unusable(path, f"is larger than {MAX_SIZE} bytes", "this is not a policy file")


def _check_folders(path: str) -> None:
    """Every folder from / down to the file's: root's, not group/other-writable, no
    symlink. Nobody but root can then swap the file or a folder under us."""
    folder = os.path.dirname(path)
    chain = [folder]
    while os.path.dirname(chain[-1]) != chain[-1]:
        chain.append(os.path.dirname(chain[-1]))
    for part in reversed(chain):
        try:
            st = os.lstat(part)
        except OSError as exc:
            raise _unusable(path, f"cannot be checked: {part}: {exc.strerror or exc}") from None
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            raise _unusable(
                path,
                f"is not safe: {part} on its path is a symlink",
                "put the policy at its real path, with no symlink on the way",
            )
        if not stat.S_ISDIR(st.st_mode):
            raise _unusable(path, f"is not safe: {part} is not a folder")
        if st.st_uid != 0:
            raise _unusable(
                path,
                f"is not safe: {part} belongs to uid {st.st_uid}, not root, who could replace the file",
                "an administrator must run `" + _OWNER_FIX.format(p=part, m=755) + "`",
            )
        if mode & 0o022:
            raise _unusable(
                path,
                f"is not safe: {part} is writable by group or others (mode {mode:03o}), "
                "who could replace the file",
                "an administrator must run `" + _OWNER_FIX.format(p=part, m=755) + "`",
            )


# --- the schema ---------------------------------------------------------------------

LIST = "a list of strings"
INT = "an integer"
BOOL = "true or false"
SCHEMA_KEYS: dict[str, dict[str, str]] = {
    "backends": {"allowed": LIST, "require_team_server": LIST},
    "encrypted_file": {"min_memory_kib": INT, "min_iterations": INT, "min_lanes": INT},
    "passphrase": {"allow_environment": BOOL},
    "oauth": {"allowed_issuers": LIST},
    "vault": {"allowed_addresses": LIST},
    "logout": {"require_revoke": BOOL},
    "migrate": {"require_clean": BOOL},
    "unlock_cache": {"max_seconds": INT},
}


class _Checker:
    def __init__(self, path: str, lines: dict[str, int]) -> None:
        self.path = path
        self.lines = lines

    def line(self, key: str) -> int | None:
        probe = key
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe.rpartition(".")[0]
        return None

    def error(self, key: str, what: str, hint: str | None = None) -> PolicyUnusable:
        line = self.line(key)
        at = f" line {line}" if line else ""
        return PolicyUnusable(
            f"the admin policy {self.path}{at}: {what}; cclogin refuses to run under it",
            hint or "an administrator must fix it (docs/policy.md lists every key and its type)",
        )


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a " + type(value).__name__


def _typed(check: _Checker, key: str, value: Any, want: str) -> Any:
    ok = (
        (want == LIST and isinstance(value, list) and all(isinstance(v, str) for v in value))
        or (want == INT and isinstance(value, int) and not isinstance(value, bool))
        or (want == BOOL and isinstance(value, bool))
    )
    if not ok:
        got = _type_name(value)
        if want == LIST and isinstance(value, list):
            got = "a list with a non-string in it"
        raise check.error(key, f"{key} must be {want}, not {got}")
    return value


def parse(path: str, data: bytes) -> Policy:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _unusable(path, "is not UTF-8 text") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _unusable(path, f"is not valid TOML ({exc})") from None
    check = _Checker(path, key_lines(text))
    schema = doc.get("schema")
    if schema is None:
        raise check.error("schema", f"it has no `schema = {SCHEMA}` line")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise check.error("schema", f"schema must be an integer, not {_type_name(schema)}")
    if schema != SCHEMA:
        raise check.error(
            "schema",
            f"schema {schema} is not one this cclogin understands (it knows {SCHEMA})",
            "upgrade cclogin, or write the policy in schema 1 (docs/policy.md)"
            if schema > SCHEMA
            else None,
        )
    values: dict[str, Any] = {}
    for table, body in doc.items():
        if table == "schema":
            continue
        if table not in SCHEMA_KEYS:
            raise check.error(
                table, f"unknown key {table} (known: schema, {', '.join(SCHEMA_KEYS)})"
            )
        if not isinstance(body, dict):
            raise check.error(table, f"{table} must be a table ([{table}]), not {_type_name(body)}")
        for key, value in body.items():
            dotted = f"{table}.{key}"
            want = SCHEMA_KEYS[table].get(key)
            if want is None:
                known = ", ".join(SCHEMA_KEYS[table])
                raise check.error(dotted, f"unknown key {dotted} (known in [{table}]: {known})")
            values[dotted] = _typed(check, dotted, value, want)
    return _build(path, data, check, values)


def _build(path: str, data: bytes, check: _Checker, v: dict[str, Any]) -> Policy:
    allowed = v.get("backends.allowed")
    if allowed is not None:
        if not allowed:
            raise check.error("backends.allowed", "backends.allowed lists no backend at all")
        for name in allowed:
            if name not in KNOWN_BACKENDS:
                raise check.error(
                    "backends.allowed",
                    f"backends.allowed names {name[:60]!r}, not a backend "
                    f"(known: {', '.join(KNOWN_BACKENDS)})",
                )
    team = tuple(v.get("backends.require_team_server", ()))
    for pattern in team:
        if not pattern.strip() or any(c.isspace() or not c.isprintable() for c in pattern):
            raise check.error(
                "backends.require_team_server",
                f"backends.require_team_server has the pattern {pattern[:60]!r}: profile "
                "names and globs have no spaces",
            )
    if team and allowed is not None and TEAM_SERVER not in allowed:
        raise check.error(
            "backends.require_team_server",
            f"backends.require_team_server needs {TEAM_SERVER!r} in backends.allowed",
        )
    minimum: dict[str, int | None] = {}
    for key, ceiling in KDF_CEILING.items():
        value = v.get(f"encrypted_file.{key}")
        if value is not None and not 1 <= value <= ceiling:
            raise check.error(
                f"encrypted_file.{key}",
                f"encrypted_file.{key} = {value} is outside 1..{ceiling} "
                "(cclogin's own ceiling: no store could meet it)",
            )
        minimum[key.removeprefix("min_")] = value
    for key in ("oauth.allowed_issuers", "vault.allowed_addresses"):
        for url in v.get(key, ()):
            _check_url(check, key, url)
    seconds = v.get("unlock_cache.max_seconds")
    if seconds is not None and not 0 <= seconds <= MAX_UNLOCK_SECONDS:
        raise check.error(
            "unlock_cache.max_seconds",
            f"unlock_cache.max_seconds = {seconds} is outside 0..{MAX_UNLOCK_SECONDS}",
        )
    return Policy(
        path,
        data,
        check.lines,
        v,
        allowed_backends=tuple(allowed) if allowed is not None else None,
        team_server_profiles=team,
        kdf_minimum=KdfMinimum(**minimum),
        allow_env_passphrase=v.get("passphrase.allow_environment", True),
        allowed_issuers=_opt_tuple(v.get("oauth.allowed_issuers")),
        allowed_vault_addresses=_opt_tuple(v.get("vault.allowed_addresses")),
        require_revoke=v.get("logout.require_revoke", False),
        require_clean=v.get("migrate.require_clean", False),
        unlock_max_seconds=seconds,
    )


def _opt_tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _check_url(check: _Checker, key: str, url: str) -> None:
    parts = url_parts(url)
    if parts is None:
        raise check.error(
            key,
            f"{key} has {url[:80]!r}, not an http(s) URL without credentials, query or fragment",
        )
    if key == "vault.allowed_addresses" and parts[3] != "/":
        raise check.error(key, f"{key} has {url[:80]!r}: a server address has no path")


# --- where each key is ----------------------------------------------------------------

_KEY = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_DOTTED = rf"{_KEY}(?:[ \t]*\.[ \t]*{_KEY})*"
_TABLE = re.compile(rf"[ \t]*\[\[?[ \t]*({_DOTTED})[ \t]*\]\]?[ \t]*(?:#.*)?$")
_ASSIGN = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")


def _dotted(raw: str) -> str:
    return ".".join(k.strip("\"'") for k in re.findall(_KEY, raw))


def key_lines(text: str) -> dict[str, int]:
    """The line each table and key is first defined on, by dotted name.

    A line scanner beside tomllib (which keeps no positions): table headers, `key =`
    at the start of a line, dotted keys; lines inside multi-line strings are skipped.
    """
    lines: dict[str, int] = {}
    table = ""
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if in_string is not None:
            if line.count(in_string) % 2:
                in_string = None
            continue
        header = _TABLE.match(line)
        if header:
            table = _dotted(header.group(1))
            lines.setdefault(table, number)
        else:
            assign = _ASSIGN.match(line)
            if assign:
                name = _dotted(assign.group(1))
                full = f"{table}.{name}" if table else name
                lines.setdefault(full, number)
                head = full.partition(".")[0]  # `backends.allowed = ...` also opens backends
                lines.setdefault(head, number)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2:
                in_string = quote
                break
    return lines
