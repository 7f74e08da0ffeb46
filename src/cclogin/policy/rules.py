"""The parsed admin policy and its rules: what each key forbids (docs/policy.md).

Every refusal names the policy file and the line of the key that forbids it:
`refused by /etc/cclogin/policy.toml line 3 (backends.allowed): ...`.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..errors import PolicyRefused

# Every backend name cclogin knows (store/os_keyring.py's, the encrypted file, the
# team server, and the alias for "any OS keychain"); tests/test_policy.py keeps it so.
OS_KEYCHAINS = ("secret-service", "libsecret", "kwallet", "macos-keychain", "windows-credential-manager")
KEYCHAIN_ALIAS = "keychain"
TEAM_SERVER = "vault"
KNOWN_BACKENDS = (*OS_KEYCHAINS, KEYCHAIN_ALIAS, "encrypted-file", TEAM_SERVER)


class KdfMinimum(NamedTuple):
    memory_kib: int | None = None
    iterations: int | None = None
    lanes: int | None = None


class Policy:
    """One policy file, validated. Absent keys restrict nothing (the defaults)."""

    def __init__(
        self,
        path: str,
        data: bytes,
        lines: Mapping[str, int],
        values: Mapping[str, Any] | None = None,
        *,
        allowed_backends: tuple[str, ...] | None = None,
        team_server_profiles: tuple[str, ...] = (),
        kdf_minimum: KdfMinimum = KdfMinimum(),  # noqa: B008 - an immutable NamedTuple
        allow_env_passphrase: bool = True,
        allowed_issuers: tuple[str, ...] | None = None,
        allowed_vault_addresses: tuple[str, ...] | None = None,
        require_revoke: bool = False,
        require_clean: bool = False,
        unlock_max_seconds: int | None = None,
    ) -> None:
        self.path = path
        self.data = data  # the file's bytes, for the report's digest
        self.lines = dict(lines)
        self.values = dict(values or {})  # the keys the file sets, dotted, validated
        self.allowed_backends = allowed_backends
        self.team_server_profiles = team_server_profiles
        self.kdf_minimum = kdf_minimum
        self.allow_env_passphrase = allow_env_passphrase
        self.allowed_issuers = allowed_issuers
        self.allowed_vault_addresses = allowed_vault_addresses
        self.require_revoke = require_revoke
        self.require_clean = require_clean
        self.unlock_max_seconds = unlock_max_seconds

    def __repr__(self) -> str:
        return f"Policy({self.path!r})"

    # --- naming the line ---------------------------------------------------------

    def line_of(self, key: str) -> int | None:
        """The line `key` (dotted) is set on; its table's line when set inline."""
        probe = key
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe.rpartition(".")[0]
        return None

    def where(self, key: str) -> str:
        line = self.line_of(key)
        return f"{self.path}{f' line {line}' if line else ''} ({key})"

    def refused(self, key: str, message: str, hint: str | None = None) -> PolicyRefused:
        exc = PolicyRefused(f"refused by {self.where(key)}: {message}", hint)
        exc.rule, exc.line, exc.detail = key, self.line_of(key), message
        return exc

    # --- backends ----------------------------------------------------------------

    def backend_allowed(self, name: str) -> bool:
        allowed = self.allowed_backends
        if allowed is None or name in allowed:
            return True
        if name == KEYCHAIN_ALIAS:  # "any keychain" when at least one is allowed
            return any(n in allowed for n in OS_KEYCHAINS)
        return name in OS_KEYCHAINS and KEYCHAIN_ALIAS in allowed

    def allowed_list(self) -> str:
        return ", ".join(self.allowed_backends or KNOWN_BACKENDS)

    def check_backend(self, name: str, chosen_by: str, hint: str | None = None) -> None:
        if not self.backend_allowed(name):
            first = self.allowed_backends[0] if self.allowed_backends else KEYCHAIN_ALIAS
            raise self.refused(
                "backends.allowed",
                f"the backend {name} ({chosen_by}) is not allowed on this machine; "
                f"allowed: {self.allowed_list()}",
                hint or f"choose an allowed backend (`--backend {first}`), or leave the choice to cclogin",
            )

    def team_server_glob(self, profile: str) -> str | None:
        """The `backends.require_team_server` pattern `profile` matches, if any."""
        for pattern in self.team_server_profiles:
            if fnmatchcase(profile, pattern):
                return pattern
        return None

    def check_placement(self, profile: str, backend: str, *, stored: bool = False) -> None:
        """A profile on a backend: on the team server if it must be, and on an allowed
        backend (`stored`: a profile that already exists, so the hints say how to move it)."""
        self.check_team_server(profile, backend, stored=stored)
        self.check_stored_backend(profile, backend, stored=stored)

    def check_team_server(self, profile: str, backend: str, *, stored: bool = False) -> None:
        pattern = self.team_server_glob(profile)
        if pattern is not None and backend != TEAM_SERVER:
            raise self.refused(
                "backends.require_team_server",
                f"profile {profile!r} matches {pattern!r} and must live on the team "
                f"server (backend {TEAM_SERVER}), not in {backend}",
                f"keep it on the team server: `cclogin --backend {TEAM_SERVER} login --profile "
                f"{profile} ...`, or `cclogin team use ...`"
                + (f"; `cclogin logout --profile {profile}` removes this copy" if stored else ""),
            )

    def check_stored_backend(self, profile: str, backend: str, *, stored: bool = False) -> None:
        if not self.backend_allowed(backend):
            raise self.refused(
                "backends.allowed",
                f"profile {profile!r} is {'stored' if stored else 'to be stored'} in {backend}, "
                f"which is not allowed on this machine; allowed: {self.allowed_list()}",
                f"move it: `cclogin logout --profile {profile}`, then log in again "
                "(new logins go to an allowed backend)"
                if stored
                else "choose an allowed backend, or leave the choice to cclogin",
            )

    # --- the encrypted file ------------------------------------------------------

    def kdf_shortfalls(self, memory_kib: int, iterations: int, lanes: int) -> list[tuple[str, int, int]]:
        """(key, have, need) for each minimum the given Argon2id parameters miss."""
        out = []
        m = self.kdf_minimum
        for key, have, need in (
            ("encrypted_file.min_memory_kib", memory_kib, m.memory_kib),
            ("encrypted_file.min_iterations", iterations, m.iterations),
            ("encrypted_file.min_lanes", lanes, m.lanes),
        ):
            if need is not None and have < need:
                out.append((key, have, need))
        return out

    # --- passphrase --------------------------------------------------------------

    def check_env_passphrase(self, variable: str) -> None:
        if not self.allow_env_passphrase:
            raise self.refused(
                "passphrase.allow_environment",
                f"the encrypted store's passphrase may not come from the environment ({variable})",
                f"unset {variable} and use CCLOGIN_PASSPHRASE_FILE (mode 600), "
                "CCLOGIN_PASSPHRASE_COMMAND or the terminal prompt",
            )

    # --- OAuth issuers and Vault addresses --------------------------------------

    def issuer_allowed(self, issuer: str) -> bool:
        if self.allowed_issuers is None:
            return True
        got = url_parts(issuer)
        if got is None:
            return False
        for entry in self.allowed_issuers:
            want = url_parts(entry)
            if want is None or want[:3] != got[:3]:
                continue
            if entry.endswith("/"):  # a prefix: that origin (and path) and below
                if (got[3].rstrip("/") + "/").startswith(want[3]):
                    return True
            elif got[3].rstrip("/") == want[3].rstrip("/"):
                return True
        return False

    def check_issuer(self, issuer: str, what: str = "the OAuth issuer") -> None:
        if not self.issuer_allowed(issuer):
            allowed = ", ".join(self.allowed_issuers or ()) or "none"
            raise self.refused(
                "oauth.allowed_issuers",
                f"{what} {safe(issuer)} is not allowed on this machine; allowed: {allowed}",
                "log in with an allowed provider (ask your administrator which one)",
            )

    def vault_address_allowed(self, address: str) -> bool:
        if self.allowed_vault_addresses is None:
            return True
        got = url_parts(address)
        wanted = [p[:3] for e in self.allowed_vault_addresses if (p := url_parts(e)) is not None]
        return got is not None and got[:3] in wanted

    def check_vault_addresses(self, addresses: tuple[str, ...]) -> None:
        for address in addresses:
            if not self.vault_address_allowed(address):
                allowed = ", ".join(self.allowed_vault_addresses or ()) or "none"
                raise self.refused(
                    "vault.allowed_addresses",
                    f"the secret server {safe(address)} is not allowed on this machine; "
                    f"allowed: {allowed}",
                    "use the team's server (check --vault-addr, VAULT_ADDR / BAO_ADDR and "
                    "[vault] in config.toml)",
                )

    # --- logout, migrate, unlock cache -------------------------------------------

    def check_no_revoke(self) -> None:
        if self.require_revoke:
            raise self.refused(
                "logout.require_revoke",
                "logout must revoke provider tokens at their server; --no-revoke is not allowed",
                "run `cclogin logout` without --no-revoke",
            )

    def check_unlock_seconds(self, seconds: float) -> None:
        limit = self.unlock_max_seconds
        if limit is not None and seconds > limit:
            raise self.refused(
                "unlock_cache.max_seconds",
                f"an unlock cache of {seconds:g} seconds is longer than the {limit} allowed"
                if limit
                else "the unlock cache is not allowed on this machine",
                f"ask for at most {limit} seconds" if limit else "type the passphrase each time",
            )


def url_parts(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of an http(s) URL without credentials, or None."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        return None
    if parts.query or parts.fragment:
        return None
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), parts.path or "/"


def safe(url: str) -> str:
    """A URL for messages: scheme, host, port and path, never credentials."""
    parts = url_parts(url)
    if parts is None:
        return repr(url[:80]) if "@" not in url else "(a URL with credentials)"
    scheme, host, port, path = parts
    return f"{scheme}://{host}:{port}{path if path != '/' else ''}"
