"""One error hierarchy: every failure carries a one-line message, a hint and an exit code.

Exit codes are part of the public contract (README, "Exit codes"):
  0  success / logged in and usable
  1  generic failure (bad input, corrupt data, an operation that could not finish)
  2  usage error (click's own code for bad flags)
  3  not logged in (no profile, unknown profile, no credential stored)
  4  store locked, unavailable or timed out
  5  login needs to be done again (a refresh token the server no longer accepts)
  6  network error talking to an authorization server or a secret server
  7  permission denied by a secret server's policy (the token is fine, the policy says no)
  8  `scan` found plaintext credentials (the scan itself worked)
  9  refused by the admin policy, or its file cannot be honoured (docs/policy.md)
 10  `report`: not compliant with the admin policy (docs/report.md)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_LOGGED_IN = 3
EXIT_STORE_UNAVAILABLE = 4
EXIT_RELOGIN = 5
EXIT_NETWORK = 6
EXIT_PERMISSION_DENIED = 7
EXIT_PLAINTEXT_FOUND = 8
EXIT_POLICY = 9
EXIT_NONCOMPLIANT = 10


class CcloginError(Exception):
    """Base of every error cclogin reports. Messages never contain secrets."""

    exit_code: int = EXIT_FAILURE
    default_hint: str = "run `cclogin doctor` for a full diagnosis"

    def __init__(self, message: str, hint: str | None = None) -> None:
        # One line each: the CLI prints them as `cclogin: error:` / `cclogin: hint:`.
        self.message = " ".join(message.split())
        self.hint = " ".join((hint or self.default_hint).split())
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class UsageError(CcloginError):
    exit_code = EXIT_USAGE
    default_hint = "see `cclogin --help`"


class InvalidInput(CcloginError):
    default_hint = "check the value and try again"


# --- accounts -----------------------------------------------------------------


class NotLoggedIn(CcloginError):
    exit_code = EXIT_NOT_LOGGED_IN
    default_hint = "log in with `cclogin login --with-api-key` (key on stdin)"


class ProfileNotFound(NotLoggedIn):
    default_hint = "list profiles with `cclogin status`"


class ProfileExists(CcloginError):
    default_hint = "pass --force to replace it, or choose another --profile"


class MetadataCorrupt(CcloginError):
    default_hint = "move the metadata file aside and log in again; stored secrets are untouched"


class UnsafeFile(CcloginError):
    default_hint = "fix the file's owner and mode (chmod 600) or remove the symlink"


class NeedsRelogin(CcloginError):
    exit_code = EXIT_RELOGIN
    default_hint = "log in again with `cclogin login`"


# --- stores -------------------------------------------------------------------


class StoreError(CcloginError):
    """A problem with the place secrets live, as opposed to with the secret."""

    exit_code = EXIT_STORE_UNAVAILABLE


class SecretNotFound(StoreError):
    exit_code = EXIT_NOT_LOGGED_IN
    default_hint = "log in again; `cclogin doctor` lists profiles whose secret is missing"


class StoreLocked(StoreError):
    default_hint = (
        "unlock the login keyring from the desktop (log in there, or unlock it in "
        "Passwords and Keys), then try again; over SSH or headless see the README's "
        "\"Headless servers and SSH\" (a keyring started there can be unlocked with "
        "`gnome-keyring-daemon --replace --unlock` and the password on stdin)"
    )


class StoreUnavailable(StoreError):
    default_hint = (
        "no keychain is reachable: set CCLOGIN_PASSPHRASE_FILE / CCLOGIN_PASSPHRASE_COMMAND "
        "to use the encrypted file; on a headless Linux machine a keychain is "
        "gnome-keyring in a D-Bus session (`dbus-run-session`, see the README's "
        "\"Headless servers and SSH\"); in CI export ANTHROPIC_API_KEY instead"
    )


class StoreTimeout(StoreError):
    default_hint = (
        "the keychain did not answer in time; check that its daemon is running "
        "(raise the limit with CCLOGIN_KEYCHAIN_TIMEOUT=SECONDS)"
    )


class StoreCorrupt(StoreError):
    exit_code = EXIT_FAILURE
    default_hint = "restore the store from a backup or log in again"


class WrongPassphrase(StoreCorrupt):
    """Deliberately one opaque error: we cannot and must not tell which it was."""

    default_hint = (
        "check CCLOGIN_PASSPHRASE_FILE / CCLOGIN_PASSPHRASE_COMMAND or retype the "
        "passphrase; if it is right, the file is damaged: restore it from a backup"
    )


class UnsupportedVersion(StoreCorrupt):
    default_hint = "this file was written by a newer cclogin; upgrade cclogin"


class MalformedStore(StoreCorrupt):
    default_hint = "the encrypted file is not in cclogin's format; restore it from a backup"


class CostTooHigh(StoreCorrupt):
    default_hint = (
        "the file asks for more memory or time than cclogin allows; it was not "
        "written by cclogin, restore it from a backup"
    )


class PassphraseUnavailable(StoreUnavailable):
    default_hint = (
        "set CCLOGIN_PASSPHRASE_FILE (mode 600) or CCLOGIN_PASSPHRASE_COMMAND, "
        "or run cclogin on a terminal"
    )


class StoreConflict(StoreError):
    """A check-and-set write lost: someone else wrote the key first. Nothing of
    theirs was overwritten, and nothing of ours was written."""

    exit_code = EXIT_FAILURE
    default_hint = "someone else changed it first; read it again and retry if it still applies"


class ValueTooLarge(StoreError):
    exit_code = EXIT_FAILURE
    default_hint = "the value exceeds what this backend can hold"


# --- network ------------------------------------------------------------------


class NetworkError(CcloginError):
    exit_code = EXIT_NETWORK
    default_hint = "check the network, HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE"


class OAuthError(CcloginError):
    default_hint = "try `cclogin login` again"


# --- secret servers (HashiCorp Vault / OpenBao) ------------------------------------


class VaultUnreachable(NetworkError):
    default_hint = (
        "check the server address (VAULT_ADDR / BAO_ADDR or the profile's), the network, "
        "HTTPS_PROXY/NO_PROXY and VAULT_CACERT"
    )


class VaultSealed(StoreUnavailable):
    default_hint = "the server is sealed: an operator must unseal it (`bao operator unseal`)"


class VaultNoLeader(StoreUnavailable):
    default_hint = (
        "the cluster has no active node right now (an election, or too few nodes up); "
        "retry in a moment, or ask the operator"
    )


class VaultTimeout(StoreTimeout):
    default_hint = (
        "the secret server did not answer in time; check it is up "
        "(raise the limit with VAULT_CLIENT_TIMEOUT=SECONDS)"
    )


class VaultPermissionDenied(CcloginError):
    exit_code = EXIT_PERMISSION_DENIED
    default_hint = "your Vault token is valid but its policy does not allow this; ask the team's Vault admin"


class VaultLoginNeeded(NeedsRelogin):
    default_hint = "log in to Vault again: `cclogin vault login`"


# --- the admin policy (docs/policy.md) ----------------------------------------------


class PolicyRefused(CcloginError):
    """The admin policy forbids this; the message names the policy file and its line."""

    exit_code = EXIT_POLICY
    default_hint = "the machine's admin policy decides this; ask your administrator (docs/policy.md)"
    rule: str | None = None  # the policy key, e.g. "backends.allowed"
    line: int | None = None  # its line in the policy file
    detail: str = ""  # what violates it, without the "refused by ..." prefix


class PolicyUnusable(PolicyRefused):
    """A policy file exists but cannot be honoured (unsafe owner or mode, a symlink,
    bad TOML, an unknown key): cclogin stops rather than run without it."""

    default_hint = (
        "an administrator must fix the policy file (owned by root, not writable by group "
        "or others, no symlink on its path, a valid schema: see docs/policy.md)"
    )
