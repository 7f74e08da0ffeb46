"""Authorization code with PKCE: in the system browser, or by pasting the answer.

Both flows check the one-time `state` and, where the server sends it (RFC 9207), the
`iss` of the answer before the code is exchanged. In the browser flow an answer with
another `state` is refused and the login keeps waiting for its own (a stranger's
answer must not be able to end it); an `iss` mismatch or an error from the server
stops the login with nothing returned. What the loopback listener does against other
local users is described in `loopback.py`. The device flow lives in `device.py`.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..claude_handover import CREDENTIAL_VARIABLES
from ..errors import CcloginError, OAuthError
from ..model import OAuthTokens
from ..secret import Secret
from ..store.passphrase import VARIABLE_PREFIX
from .errors import AuthorizationDenied, FlowNotSupported, IssuerMismatch, StateMismatch
from .http import HttpClient
from .loopback import LoopbackServer
from .pkce import Pkce, new_pkce, new_state
from .provider import Flow, Provider
from .tokens import Clock, clean, client_for, parse_tokens, token_request

DEFAULT_LOGIN_TIMEOUT = 300.0
Opener = Callable[[str], object]
Reader = Callable[[str], str]


def _require(provider: Provider, flow: Flow) -> str:
    if not provider.supports(flow) or provider.authorization_endpoint is None:
        if provider.code_flow_refused:
            hint = (
                "use --device, which this provider offers"
                if provider.supports("device")
                else "ask the provider's administrator to enable PKCE with S256"
            )
            raise FlowNotSupported(provider.code_flow_refused, hint)
        raise FlowNotSupported(f"{provider.name} does not offer the {flow} sign-in")
    return provider.authorization_endpoint


def authorization_url(provider: Provider, *, redirect_uri: str, state: Secret,
                      pkce: Pkce) -> str:
    endpoint = _require(provider, "browser")
    params: dict[str, str] = dict(provider.authorize_params)
    params.update({
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "state": state.reveal(),
        "code_challenge": pkce.challenge,
        "code_challenge_method": pkce.method,
    })
    if provider.scopes:
        params["scope"] = " ".join(provider.scopes)
    sep = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{sep}{urlencode(params)}"


def check_callback(  # noqa: PLR0911 - one return per way a callback can be wrong
    provider: Provider, state: Secret, params: dict[str, str]
) -> CcloginError | None:
    """The error a callback's parameters amount to, or None if the code may be used."""
    got = params.get("state", "")
    if not hmac.compare_digest(got.encode(), state.reveal().encode()):
        return StateMismatch(
            "the sign-in answer does not belong to this login (state mismatch); "
            "nothing was stored"
        )
    iss = params.get("iss")
    if iss is not None and iss != provider.issuer:
        return IssuerMismatch(
            f"the sign-in answer came from {clean(iss, 100)!r}, not {provider.issuer!r}; "
            "nothing was stored"
        )
    if iss is None and provider.require_iss:
        return IssuerMismatch(
            f"the sign-in answer did not say it came from {provider.issuer} (RFC 9207); "
            "nothing was stored"
        )
    error = params.get("error")
    if error:
        desc = clean(params.get("error_description", ""))
        if error == "access_denied":
            return AuthorizationDenied(
                f"sign-in to {provider.name} was denied or cancelled"
                + (f" ({desc})" if desc else "")
            )
        return OAuthError(f"{provider.name} refused the sign-in: {clean(error, 64)}"
                          + (f" ({desc})" if desc else ""))
    if not params.get("code"):
        return OAuthError("the sign-in answer carries no authorization code")
    return None


def exchange_code(provider: Provider, *, code: str, redirect_uri: str, pkce: Pkce,
                  http_client: HttpClient | None = None, clock: Clock = time.time) -> OAuthTokens:
    http, own = client_for(provider, http_client)
    try:
        doc = token_request(provider, http, {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pkce.verifier.reveal(),
        }, "the sign-in (code exchange)")
    finally:
        if own:
            http.close()
    return parse_tokens(doc, requested_scopes=provider.scopes, clock=clock)


# The BROWSER child opens the address; the address travels in its environment (only
# our uid can read /proc/PID/environ, while argv is public) and is removed there before
# the browser starts.
_URL_VARIABLE = "CCLOGIN_OPEN_URL"
_OPEN_IN_CHILD = f"import os, webbrowser; webbrowser.open(os.environ.pop({_URL_VARIABLE!r}))"


# The Vault / OpenBao CLIs' token variables: a browser has no use for them either (the
# Vault OIDC sign-in opens one, vault/auth.py).
VAULT_TOKEN_VARIABLES = ("VAULT_TOKEN", "BAO_TOKEN")


def browser_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without what unlocks the store or carries a credential, as for `exec`.

    The browser, whatever BROWSER starts, and everything they start (extensions,
    crash reporters, a shell wrapper) have no need of either.
    """
    return {
        k: v for k, v in environ.items()
        if not k.startswith(VARIABLE_PREFIX)
        and k not in CREDENTIAL_VARIABLES
        and k not in VAULT_TOKEN_VARIABLES
    }


def system_browser(url: str) -> None:
    """Open `url` with webbrowser (honours BROWSER), in a thread: it may block.

    webbrowser runs in a Python child of its own, so that the browser it starts
    inherits `browser_environment`, not ours.
    """
    env = browser_environment(os.environ)
    env[_URL_VARIABLE] = url

    def run() -> None:
        # The address is printed already, so a browser that fails to open is no error.
        with contextlib.suppress(Exception):
            subprocess.run([sys.executable, "-I", "-c", _OPEN_IN_CHILD], env=env, check=False)

    threading.Thread(target=run, name="cclogin-browser", daemon=True).start()


def browser_login(
    provider: Provider,
    *,
    http_client: HttpClient | None = None,
    timeout: float = DEFAULT_LOGIN_TIMEOUT,
    open_browser: Opener | None = None,
    stderr: TextIO | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Sign in through the system browser and a loopback redirect (RFC 8252)."""
    _require(provider, "browser")
    out = stderr or sys.stderr
    pkce, state = new_pkce(), new_state()
    # The listener exists before the browser opens, so the answer cannot arrive early.
    with LoopbackServer(lambda p: check_callback(provider, state, p)) as server:
        url = authorization_url(provider, redirect_uri=server.redirect_uri,
                                state=state, pkce=pkce)
        server.set_authorization_url(url)
        host = urlsplit(provider.authorization_endpoint or "").netloc
        print(f"Opening your browser to sign in to {provider.name} at {host}.", file=out)
        print(f"If it does not open, visit this address on this machine:\n  "
              f"{server.start_url}", file=out, flush=True)
        (open_browser or system_browser)(server.start_url)
        result = server.wait(timeout)
        if result.problem is not None:
            raise result.problem
        # The browser's page waits for this: it says "Signed in" only once we have
        # the tokens, and says what failed otherwise.
        try:
            tokens = exchange_code(provider, code=result.params["code"],
                                   redirect_uri=server.redirect_uri, pkce=pkce,
                                   http_client=http_client, clock=clock)
        except CcloginError as exc:
            server.finish(exc)
            raise
        server.finish(None)
    return tokens


_system_browser = system_browser  # the name tests and older callers use


def parse_pasted(text: str) -> dict[str, str]:
    """The callback parameters from what the user pasted: the address, or `code#state`."""
    text = text.strip()
    if "?" in text:
        return dict(parse_qsl(urlsplit(text).query, keep_blank_values=True))
    if "code=" in text:
        return dict(parse_qsl(text.lstrip("?&#"), keep_blank_values=True))
    if "#" in text:
        code, _, state = text.partition("#")
        return {"code": code, "state": state}
    raise OAuthError(
        "that is not the address the browser ended on",
        "paste the whole address from the browser's address bar (it contains "
        "code= and state=)",
    )


def _read_answer(prompt: str) -> str:
    import getpass

    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)  # hidden: the address holds the code
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise OAuthError("nothing was pasted (end of input)",
                         "run `cclogin login --paste` on a terminal, or pipe the address in")
    return line


def paste_login(
    provider: Provider,
    *,
    http_client: HttpClient | None = None,
    read_answer: Reader | None = None,
    stderr: TextIO | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Sign in on another machine's browser and paste the address it ends on."""
    _require(provider, "paste")
    out = stderr or sys.stderr
    pkce, state = new_pkce(), new_state()
    redirect_uri = provider.paste_redirect_uri
    url = authorization_url(provider, redirect_uri=redirect_uri, state=state, pkce=pkce)
    print(f"Open this address in any browser and sign in to {provider.name}:\n  {url}\n"
          "The browser then tries to open a 127.0.0.1 page that may not load; that is "
          "expected. Copy the whole address from its address bar.", file=out, flush=True)
    params = parse_pasted((read_answer or _read_answer)("Paste the address here: "))
    problem = check_callback(provider, state, params)
    if problem is not None:
        raise problem
    return exchange_code(provider, code=params["code"], redirect_uri=redirect_uri,
                         pkce=pkce, http_client=http_client, clock=clock)
