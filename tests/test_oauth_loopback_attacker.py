"""The browser login's loopback listener against another local user (issue 9, item 1).

Everything is real: the `cclogin` executable, the `oidc-provider` server, a BROWSER
command that plays the user, and an attacker running as a second local uid
(`cclogin-attacker`, created once; the tests run as root). The attacker reads the
browser's argv from /proc (that is how it learns the one-time /start address), and
even when handed the whole authorization URL (state and PKCE challenge) and a code
for its own account, the listener answers it 403 and the victim's login completes
with the victim's account. Waits are on files the scripts write, with generous
bounds; nothing depends on the machine's speed.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from cclogin.oauth import loopback
from cclogin.oauth.flows import browser_login
from cclogin.oauth.loopback import LoopbackServer, PeerUnknown, peer_uid
from cclogin.oauth.provider import Provider, discover
from support.cli import CCLOGIN, World, make_encrypted_world
from support.oidc import OidcServer, deliver, play_user

pytestmark = [pytest.mark.oidc, pytest.mark.slow]

ATTACKER = "cclogin-attacker"
TESTS_DIR = Path(__file__).resolve().parent
WAIT = 60.0  # generous bound on every wait for observable progress


@pytest.fixture
def world(tmp_path: Path) -> World:
    (tmp_path / "world").mkdir()
    return make_encrypted_world(tmp_path / "world")


@pytest.fixture(scope="session")
def attacker() -> tuple[int, int]:
    """The second local uid (created when missing; left in place)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the cross-user login test needs root on Linux in CI")
        pytest.skip("needs root on Linux to run requests as a second uid")
    try:
        pw = pwd.getpwnam(ATTACKER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", ATTACKER], check=True, timeout=60)
        pw = pwd.getpwnam(ATTACKER)
    assert pw.pw_uid != os.getuid()
    return pw.pw_uid, pw.pw_gid


# The attacker: stdlib only (it cannot read our venv's tmp files), run as the other
# uid. It takes the browser's pid (to read its argv), a fallback /start address, and
# the requests to make; prints what each got.
_ATTACKER_SCRIPT = r"""
import http.client, json, sys
from urllib.parse import urlsplit
pid, fallback, urls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
start, argv_visible = fallback, False
try:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = f.read().split(b"\0")
    start = next(a.decode() for a in args if a.startswith(b"http://127.0.0.1:"))
    argv_visible = True
except (OSError, StopIteration):
    pass
out = {"argv_visible": argv_visible, "start_seen": start, "answers": []}
for url in urls:
    url = start if url == "START" else url
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    out["answers"].append({"status": resp.status, "location": resp.getheader("Location"),
                           "body": body})
    conn.close()
print(json.dumps(out))
"""


def _as_attacker(ids: tuple[int, int], pid: int, start_url: str,
                 urls: list[str]) -> dict[str, object]:
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    res = subprocess.run(
        [python, "-I", "-c", _ATTACKER_SCRIPT, str(pid), start_url, json.dumps(urls)],
        user=ids[0], group=ids[1], extra_groups=[], cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True, text=True, timeout=WAIT, check=False,
    )
    assert res.returncode == 0, res.stderr
    doc: dict[str, object] = json.loads(res.stdout)
    return doc


def _wait_for(path: Path, proc: subprocess.Popen[str] | None = None) -> str:
    deadline = time.monotonic() + WAIT
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"cclogin ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)
    return path.read_text()


def _browser(path: Path, body: str) -> Path:
    """A BROWSER command: `url` is its argument; `body` is the user's part."""
    path.write_text(f"""#!{sys.executable}
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, {str(TESTS_DIR)!r})
import httpx
from support.oidc import play_user, deliver
url = sys.argv[1]
here = Path({str(path.parent)!r})

def wait_for(name):
    deadline = time.monotonic() + {WAIT!r}
    while not (here / name).exists() and time.monotonic() < deadline:
        time.sleep(0.02)

def publish(name, value):
    tmp = here / (name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, here / name)

def get(u, **headers):
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=30) as c:
        return c.get(u, headers=headers)

{body}
""")
    path.chmod(0o700)
    return path


def _login_args(server: OidcServer, profile: str = "corp") -> list[str]:
    return ["login", "--profile", profile, "--issuer", server.issuer,
            "--client-id", server.client_id]


def _title(page: str) -> str:
    return page.split("<title>", 1)[1].split("</title>", 1)[0] if "<title>" in page else ""


def test_another_uid_cannot_take_over_the_login(
    tmp_path: Path, world: World, oidc_server: OidcServer, attacker: tuple[int, int]
) -> None:
    d = tmp_path / "b"
    d.mkdir()
    world.env["BROWSER"] = str(_browser(d / "browser", """
publish("pid", os.getpid())
wait_for("go-start")                 # the attacker tries /start first
first = get(url)
publish("start", {"status": first.status_code, "location": first.headers.get("location")})
wait_for("go-sign-in")               # the attacker tries its own callback
page = deliver(play_user(first.headers["location"]))
publish("page", {"status": page.status_code, "text": page.text})
"""))
    grants = oidc_server.count("grant.success", "authorization_code")
    proc = subprocess.Popen([CCLOGIN, *_login_args(oidc_server)], env=world.environ(),
                            text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        pid = int(_wait_for(d / "pid", proc))
        start_url = next(a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
                         .split("\0") if a.startswith("http://"))
        # 1. The attacker, as another uid, fetches the one-time /start before the
        #    browser does (it can read the browser's argv): refused, nothing leaks.
        got = _as_attacker(attacker, pid, start_url, ["START"])
        assert got["start_seen"] == start_url
        answers: list[dict[str, object]] = got["answers"]  # type: ignore[assignment]
        first = answers[0]
        assert len(answers) == 1 and first["status"] == 403 and first["location"] is None
        assert "state=" not in str(first["body"]) and "code_" not in str(first["body"])
        assert proc.poll() is None  # the login goes on
        (d / "go-start").touch()
        # The browser's fetch is still the first one: the attacker's did not count.
        start = json.loads(_wait_for(d / "start", proc))
        assert start["status"] == 302
        # 2. Worst case: the attacker somehow has the whole authorization URL, signs
        #    in as itself with the victim's state and challenge, and delivers its
        #    code first. Refused; the login goes on.
        theirs = play_user(start["location"], login="mallory@example.test")
        got = _as_attacker(attacker, pid, start_url, [theirs, theirs.split("?")[0]])
        statuses = [a["status"] for a in got["answers"]]  # type: ignore[attr-defined]
        assert statuses == [403, 403]
        assert proc.poll() is None
        assert oidc_server.count("grant.success", "authorization_code") == grants
        (d / "go-sign-in").touch()
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    page = json.loads(_wait_for(d / "page"))
    assert page["status"] == 200 and _title(page["text"]) == "cclogin: Signed in"
    # The victim's account, and only the victim's code was exchanged.
    assert "signed in to" in err and "as alice@example.test" in err
    assert "mallory" not in err + out
    assert oidc_server.count("grant.success", "authorization_code") == grants + 1
    token = world.cclogin("token", "--profile", "corp")
    assert token.rc == 0, token
    assert oidc_server.introspect(token.stdout.strip())["sub"] == "alice@example.test"
    status = world.cclogin("status", "--json")
    assert "alice@example.test" in status.stdout and "mallory" not in status.stdout


def test_a_second_start_fetch_aborts_the_login(
    tmp_path: Path, world: World, oidc_server: OidcServer
) -> None:
    d = tmp_path / "b"
    d.mkdir()
    world.env["BROWSER"] = str(_browser(d / "browser", """
first, second = get(url), get(url)
publish("starts", [first.status_code, second.status_code, second.text])
"""))
    grants = oidc_server.count("grant.success", "authorization_code")
    res = world.cclogin(*_login_args(oidc_server))
    assert res.rc == 1, res
    assert "opened a second time" in res.stderr and "their own account" in res.stderr
    assert "nothing was stored" in res.stderr and "cclogin: hint:" in res.stderr
    first, second, text = json.loads(_wait_for(d / "starts"))
    assert (first, second) == (302, 400) and "twice" in text
    assert world.cclogin("status").rc == 3
    assert world.stored_keys() == []
    assert oidc_server.count("grant.success", "authorization_code") == grants


def test_a_wrong_state_callback_is_refused_and_the_real_one_completes(
    tmp_path: Path, world: World, oidc_server: OidcServer
) -> None:
    d = tmp_path / "b"
    d.mkdir()
    events = oidc_server.events_file
    world.env["BROWSER"] = str(_browser(d / "browser", f"""
def grants():
    p = Path({str(events)!r})
    lines = p.read_text().splitlines() if p.exists() else []
    return sum(1 for l in lines if '"grant.success"' in l and '"authorization_code"' in l)

cb = play_user(url)
head, _, query = cb.partition("?")
forged = "&".join(p if not p.startswith("state=") else "state=forged" for p in query.split("&"))
missing = "&".join(p for p in query.split("&") if not p.startswith("state="))
before = grants()
bad = [deliver(head + "?" + forged).status_code, deliver(head + "?" + missing).status_code]
after_bad = grants()
page = deliver(cb)
publish("result", {{"bad": bad, "exchanged_by_bad": after_bad - before,
                   "status": page.status_code, "text": page.text,
                   "exchanged_when_page_came": grants() - before}})
"""))
    res = world.cclogin(*_login_args(oidc_server))
    assert res.rc == 0, res
    result = json.loads(_wait_for(d / "result"))
    assert result["bad"] == [400, 400] and result["exchanged_by_bad"] == 0
    # The page said "Signed in" only once the code had been exchanged.
    assert result["status"] == 200 and _title(result["text"]) == "cclogin: Signed in"
    assert result["exchanged_when_page_came"] == 1
    assert "as alice@example.test" in res.stderr
    assert world.cclogin("token").rc == 0


def test_a_foreign_host_header_is_refused(
    tmp_path: Path, world: World, oidc_server: OidcServer
) -> None:
    d = tmp_path / "b"
    d.mkdir()
    world.env["BROWSER"] = str(_browser(d / "browser", """
port = url.split("//", 1)[1].split("/", 1)[0].split(":")[1]
bad = [get(url, Host=h).status_code
       for h in ("evil.example:" + port, "evil.example", "127.0.0.1", "127.0.0.2:" + port)]
ok = get(url, Host="localhost:" + port)   # localhost:PORT is accepted, and is the first
page = deliver(play_user(ok.headers["location"]))
publish("result", {"bad": bad, "ok": ok.status_code, "page": page.status_code})
"""))
    res = world.cclogin(*_login_args(oidc_server))
    assert res.rc == 0, res
    result = json.loads(_wait_for(d / "result"))
    assert result == {"bad": [400, 400, 400, 400], "ok": 302, "page": 200}


# --- in process: the page after a failed exchange, and the uid lookup ---------------


@pytest.fixture
def provider(oidc_server: OidcServer) -> Provider:
    return discover(oidc_server.issuer, oidc_server.client_id, name="corp")


def test_the_page_says_the_exchange_failed(provider: Provider) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/token"
    broken = replace(provider, token_endpoint=dead)
    pages: list[httpx.Response] = []

    def opener(url: str) -> None:
        threading.Thread(target=lambda: pages.append(deliver(play_user(url))),
                         daemon=True).start()

    with pytest.raises(Exception) as info:
        browser_login(broken, timeout=WAIT, open_browser=opener, stderr=io.StringIO())
    deadline = time.monotonic() + WAIT
    while not pages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pages[0].status_code == 502
    assert _title(pages[0].text) == "cclogin: Sign-in failed"
    assert "Signed in" not in pages[0].text and info.value.args[0] in pages[0].text


def test_the_peer_lookup_finds_our_own_connection() -> None:
    with LoopbackServer(lambda p: None) as srv, httpx.Client(trust_env=False) as c:
        # A request from this uid is served (the lookup found us in /proc/net/tcp).
        assert c.get(f"http://127.0.0.1:{srv.port}/nothing").status_code == 404
    import socket

    with socket.create_server(("127.0.0.1", 0)) as lsock:
        client = socket.create_connection(lsock.getsockname())
        conn, _ = lsock.accept()
        with client, conn:
            assert peer_uid(conn.getsockname()[:2], conn.getpeername()[:2]) == os.getuid()
            # Without the kernel's tables (not Linux), the lookup cannot tell.
            assert peer_uid(conn.getsockname()[:2], conn.getpeername()[:2],
                            tables=["/nonexistent/tcp"]) is None
            with pytest.raises(PeerUnknown):  # tables there, socket not in them
                peer_uid(conn.getsockname()[:2], ("127.0.0.1", 1))


def test_without_the_tables_the_other_protections_stand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loopback, "PROC_TCP_TABLES", ("/nonexistent/tcp",))
    with LoopbackServer(lambda p: None, "https://idp.test/a") as srv, \
            httpx.Client(trust_env=False) as c:
        assert c.get(srv.start_url).status_code == 302
        assert c.get(srv.start_url).status_code == 400  # single use still holds
        assert srv.wait(5).problem is not None
