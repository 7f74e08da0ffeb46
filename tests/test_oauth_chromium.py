"""The browser login with a real browser: Debian's Chromium, headless, as BROWSER.

Everything is real: `cclogin login` starts its loopback listener and runs BROWSER;
Chromium loads the sign-in page of the real oidc-provider, posts its login and consent
forms, and follows the redirect to cclogin's listener, which exchanges the code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.cli import World, make_encrypted_world
from support.oidc import SERVER_DIR, OidcServer, node_runtime

pytestmark = [pytest.mark.oidc, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture
def chromium_browser(tmp_path: Path) -> tuple[Path, Path]:
    # The same node >= 20.19 the test servers run on (system or the wheel's), not
    # whatever `node` PATH finds first (Debian 12's is 18).
    runtime = node_runtime()
    if not (os.path.exists(CHROMIUM) and runtime is not None):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} or node >= 20.19 is missing; scripts/test installs them")
        pytest.skip("Chromium or node is not installed (scripts/test installs them)")
    result = tmp_path / "browser-result.txt"
    wrapper = tmp_path / "chromium-browser"
    # webbrowser runs BROWSER as one executable with the URL appended.
    wrapper.write_text(
        "#!/bin/sh\n"
        f"RESULT_FILE='{result}' exec '{runtime.node}' '{SERVER_DIR / 'chromium_user.mjs'}' \"$@\"\n"
    )
    wrapper.chmod(0o700)
    return wrapper, result


def test_browser_login_through_headless_chromium(
    tmp_path: Path, oidc_server: OidcServer, chromium_browser: tuple[Path, Path]
) -> None:
    wrapper, result = chromium_browser
    world: World = make_encrypted_world(tmp_path)
    world.env["BROWSER"] = str(wrapper)
    login = world.cclogin("login", "--profile", "corp", "--issuer", oidc_server.issuer,
                          "--client-id", oidc_server.client_id)
    assert login.rc == 0, login
    # Chromium ended on cclogin's own success page, served by the loopback listener.
    assert result.read_text().strip() == "cclogin: Signed in"
    token = world.cclogin("token")
    assert token.rc == 0, token
    assert oidc_server.introspect(token.stdout.strip())["active"] is True
    status = world.cclogin("status", "--json")
    assert status.rc == 0, status
    assert '"kind": "oauth"' in status.stdout
