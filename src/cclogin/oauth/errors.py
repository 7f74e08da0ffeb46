"""The errors the OAuth client raises, all inside cclogin's one hierarchy.

Network failures say which step failed (DNS, connect, TLS, proxy, timeout, HTTP
status) because each has a different fix. No message ever holds a token, a code,
a PKCE verifier or a `state`: they name hosts and OAuth error codes only.
"""

from __future__ import annotations

from ..errors import NeedsRelogin, NetworkError, OAuthError

# --- network (exit code 6) ------------------------------------------------------


class DnsError(NetworkError):
    default_hint = "check the host name and your DNS; behind a proxy set HTTPS_PROXY"


class ConnectFailed(NetworkError):
    default_hint = (
        "the server is down or unreachable; check the URL, a firewall, or set HTTPS_PROXY"
    )


class TlsError(NetworkError):
    default_hint = (
        "the server's certificate was not trusted: point SSL_CERT_FILE (or the "
        "provider's ca_bundle) at your company's CA bundle"
    )


class ProxyFailed(NetworkError):
    default_hint = "check HTTPS_PROXY / HTTP_PROXY, or add the host to NO_PROXY"


class RequestTimeout(NetworkError):
    default_hint = "the server did not answer in time; check the network or try again"


class HttpStatusError(NetworkError):
    default_hint = "the server answered with an error; try again later or check the URL"

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


# --- OAuth protocol (exit code 1, or 5 for a refresh the server refuses) ---------


class DiscoveryError(OAuthError):
    default_hint = "check --issuer: it must be the exact issuer URL of your identity provider"


class ProviderNotFound(OAuthError):
    default_hint = "define it under [providers.NAME] in config.toml, or pass --issuer and --client-id"


class ProviderConfigError(OAuthError):
    default_hint = "fix the [providers.NAME] table in config.toml"


class ClaudeProviderRefused(OAuthError):
    default_hint = "sign in to a Claude account with `cclogin login --claude`"


class FlowNotSupported(OAuthError):
    default_hint = "choose another sign-in method (--device, --paste, or the browser)"


class StateMismatch(OAuthError):
    default_hint = "start `cclogin login` again and finish it in the browser window it opens"


class IssuerMismatch(OAuthError):
    default_hint = "the answer came from another server; start `cclogin login` again"


class AuthorizationDenied(OAuthError):
    default_hint = "sign in again and approve the access request"


class LoginTimeout(OAuthError):
    default_hint = (
        "start `cclogin login` again; with no browser here use --device or --paste"
    )


class DeviceCodeExpired(OAuthError):
    default_hint = "start `cclogin login --device` again and enter the code sooner"


class TokenRequestFailed(OAuthError):
    """The token endpoint answered an OAuth error; `error` is its code (RFC 6749 5.2)."""

    default_hint = "start `cclogin login` again; if it keeps failing, ask your identity-provider admin"

    def __init__(self, message: str, error: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.error = error


class InvalidTokenResponse(OAuthError):
    default_hint = "the server's answer was not a valid OAuth token response; ask your admin"


class RefreshRejected(NeedsRelogin):
    """The server answered invalid_grant to a refresh: the refresh token is dead.

    The refresh single-flight catches this to re-read the store and adopt a newer
    token another process may have written before declaring the profile logged out.
    """

    default_hint = "log in again with `cclogin login`"
