"""The secret goes where it was asked for and nowhere else, even with --verbose.

Every command runs with `--verbose` (tracebacks on errors), failing ones included. The
secrets carry a marker in their middle ("leak-a"), a part redaction never shows, so a
half-redacted copy is caught too. Allowed: `token`'s stdout and an `exec` child's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cclogin.accounts.login import clean_secret
from cclogin.errors import CcloginError, InvalidInput
from cclogin.model import (
    ApiKey,
    ClaudeLogin,
    ClaudeToken,
    OAuthTokens,
    dump_credential,
    load_credential,
)
from cclogin.secret import Secret
from support.cli import BACKENDS, Result, World, files_containing, open_world

KEY = "sk-ant-api03-leak-a-0031"
OAT = "sk-ant-oat01-leak-b-0032"
ARGV_KEY = "sk-ant-api03-leak-c-0033"
MARKERS = ("leak-a", "leak-b", "leak-c")


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


def leaked(text: str) -> list[str]:
    return [m for m in MARKERS if m in text]


class Recorder:
    def __init__(self, world: World) -> None:
        self.world = world
        self.problems: list[str] = []
        self.ran: list[Result] = []

    def run(self, *args: str, stdout_may_hold: str | None = None, **kw) -> Result:  # type: ignore[no-untyped-def]
        out = self.world.cclogin("--verbose", *args, **kw)
        self.ran.append(out)
        allowed_out = out.stdout.replace(stdout_may_hold, "") if stdout_may_hold else out.stdout
        for where, text in (("stdout", allowed_out), ("stderr", out.stderr)):
            if leaked(text):
                self.problems.append(f"{' '.join(args)}: {where} holds {leaked(text)}")
        for marker in MARKERS:
            for root in (self.world.home, self.world.root / "home"):
                for path in files_containing(root, marker.encode()):
                    self.problems.append(f"after {' '.join(args)}: {path} holds {marker}")
        return out


def test_no_command_leaks_a_secret(world: World, tmp_path: Path) -> None:
    r = Recorder(world)
    # Logins, good and bad.
    assert r.run("login", "--with-api-key", "-p", "api", input=KEY + "\n").rc == 0
    assert r.run("login", "--with-oauth-token", "-p", "oat", input=OAT + "\n").rc == 0
    assert r.run("login", "--with-api-key", "-p", "api", input=KEY + "\n").rc == 1  # exists
    assert r.run("login", "--with-api-key", "-p", "x", input="").rc == 1  # empty
    assert r.run("login", "--with-api-key", "-p", "x", input=f"{KEY}\n{OAT}\n").rc == 1
    assert r.run("login", "--with-api-key", "-p", "x", input=f"{KEY} extra\n").rc == 1
    assert r.run("login", "--with-api-key", ARGV_KEY).rc == 2  # key on argv
    # A key pasted where the profile name goes is neither stored nor echoed.
    assert r.run("login", "--with-api-key", "--profile", ARGV_KEY, input=KEY + "\n").rc == 1
    # Reading, good and bad.
    assert r.run("token", stdout_may_hold=OAT).stdout == OAT + "\n"
    assert r.run("token", "-p", "api", stdout_may_hold=KEY).stdout == KEY + "\n"
    assert r.run("token", "-p", "nope").rc == 3
    assert r.run("token", "-p", KEY).rc != 0  # a pasted key where a profile name goes
    assert r.run("status").rc == 0
    assert r.run("status", "--json").rc == 0
    assert r.run("status", "-p", "nope").rc == 3
    assert r.run("switch", "api").rc == 0
    assert r.run("switch", "nope").rc == 3
    assert r.run("doctor").rc in (0, 1, 3, 4)
    assert r.run("doctor", "--json").rc in (0, 1, 3, 4)
    assert r.run("backends").rc in (0, 1)
    # exec: the child may print it; cclogin itself may not.
    child = r.run("exec", "--", "sh", "-c", 'printf "%s\\n" "$ANTHROPIC_API_KEY"', stdout_may_hold=KEY)
    assert child.stdout == KEY + "\n"
    assert r.run("exec", "-p", "nope", "--", "true").rc == 3
    assert r.run("exec", "--", "sh", "-c", "exit 9").rc == 9
    # A store that is locked (keychain) or a passphrase that is wrong (encrypted file).
    if world.daemon is not None:
        world.daemon.lock()
        assert r.run("token").rc == 4
        assert r.run("status").rc == 4
        assert r.run("exec", "--", "true").rc == 4
        world.daemon.unlock()
    else:
        wrong = tmp_path / "wrong-passphrase"
        wrong.write_text("not the passphrase\n")
        wrong.chmod(0o600)
        env = {"CCLOGIN_PASSPHRASE_FILE": str(wrong)}
        assert r.run("token", extra=env).rc == 1
        assert r.run("exec", "--", "true", extra=env).rc == 1
        assert r.run("login", "--with-api-key", "-p", "y", input=OAT + "\n", extra=env).rc == 1
    # Broken metadata: the error names the file, never what is stored.
    good = world.metadata_file.read_bytes()
    world.metadata_file.write_bytes(b"{broken")
    assert r.run("token").rc == 1
    assert r.run("logout", "--all").rc == 1
    world.metadata_file.write_bytes(good)
    # Logout, one then all.
    assert r.run("logout", "-p", "api").rc == 0
    assert r.run("logout", "--all").rc == 0

    assert r.problems == []
    # Sanity: the failing runs really printed errors (with tracebacks where verbose).
    assert any("Traceback" in res.stderr for res in r.ran)
    assert world.traces(KEY) == [] and world.traces(OAT) == []


def test_credential_objects_never_show_their_secret() -> None:
    creds = [
        ApiKey(Secret(KEY)),
        ClaudeToken(Secret(OAT)),
        OAuthTokens(
            access_token=Secret(KEY),
            refresh_token=Secret(OAT),
            id_token=Secret(ARGV_KEY),
            expires_at=1.0,
            scopes=("a",),
        ),
        ClaudeLogin(raw=Secret('{"accessToken": "%s"}' % OAT), access_token=Secret(OAT)),  # noqa: UP031
    ]
    for cred in creds:
        for text in (repr(cred), str(cred), f"{cred}", f"{cred!r}", repr([cred]), repr({"c": cred})):
            assert leaked(text) == [], text
        # Round trip through the stored form keeps the value (the redaction is display-only).
        again = load_credential(dump_credential(cred))
        assert type(again) is type(cred)
        assert leaked(repr(again)) == []


@pytest.mark.parametrize(
    "raw", ["", f"{KEY}\n{OAT}", f"{KEY} {OAT}", f"{KEY}\x00", f"{KEY}é", "leak-a"]
)
def test_input_errors_never_echo_the_input(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        clean_secret(raw, "API key")
    exc: CcloginError = caught.value
    for text in (exc.message, exc.hint, str(exc), repr(exc), repr(exc.args)):
        assert leaked(text) == [], text
