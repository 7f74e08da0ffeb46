"""The lean `cclogin token` (src/cclogin/hotpath/) and the full path give the same answer.

Every scenario runs the real executable (lean path first, the full path when it falls
back) and the full path alone (`token_cmd.run_token`, what `token` ran before the lean
path existed) against the same real gnome-keyring, and compares stdout, stderr and the
exit code; the import list then says which path answered ("lean": no cclogin module
beyond the hot path; "full": accounts/token.py ran). The last part checks, in process,
that each rule the lean path mirrors agrees with the code it mirrors.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cclogin.hotpath import token as lean
from cclogin.hotpath import wire
from support.cli import CCLOGIN, Result, World, open_world

pytestmark = pytest.mark.secret_service

KEY = "sk-ant-api03-test-lean-0001"
FAST = {"CCLOGIN_KEYCHAIN_TIMEOUT": "1"}
DEFAULT_PATHS = (
    "CCLOGIN_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
)
LEAN_MODULES = {
    "cclogin",
    "cclogin.cli",
    "cclogin.cli.entry",
    "cclogin.hotpath",
    "cclogin.hotpath.token",
    "cclogin.hotpath.wire",
}
# What the lean path itself imports to report a keychain timeout (the full path's text).
TIMEOUT_REPORT = {"cclogin.errors", "cclogin.cli.output"}

FULL_PATH = textwrap.dedent("""
    import sys
    from cclogin.cli.entry import _fast_token_args, harden_process
    from cclogin.cli.token_cmd import run_token
    harden_process()
    fast, profile, valid_for = _fast_token_args(sys.argv[1:])
    assert fast, sys.argv
    sys.exit(run_token(profile, valid_for))
""")

STORE = textwrap.dedent("""
    import os, sys
    from cclogin.accounts.context import AppContext
    from cclogin.accounts.credentials import save_credential
    from cclogin.model import load_credential
    from cclogin.paths import get_paths
    ctx = AppContext(paths=get_paths(), environ=os.environ)
    cred = load_credential(sys.stdin.buffer.read())
    save_credential(ctx, sys.argv[1], cred, force=True, store=ctx.store_named("secret-service"))
""")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("secret-service", tmp_path) as w:
        yield w


def full(
    world: World,
    args: Sequence[str],
    extra: Mapping[str, str] | None = None,
    drop: Sequence[str] = (),
) -> Result:
    proc = subprocess.run(
        [sys.executable, "-c", FULL_PATH, "token", *args],
        env=world.environ(extra, drop),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, ("token", *args))


def path_taken(
    world: World,
    args: Sequence[str],
    extra: Mapping[str, str] | None = None,
    drop: Sequence[str] = (),
) -> str:
    """ "lean" or "full", from what a real `cclogin token ARGS` imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", CCLOGIN, "token", *args],
        env=world.environ(extra, drop),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    ours = {m for m in modules if m.split(".")[0] == "cclogin"}
    if "cclogin.accounts.token" in ours:
        return "full"
    assert ours <= LEAN_MODULES | TIMEOUT_REPORT, sorted(ours - LEAN_MODULES)
    return "lean"


def same(
    world: World, *args: str, extra: Mapping[str, str] | None = None, drop: Sequence[str] = ()
) -> tuple[Result, str]:
    """Run both paths; they must agree on stdout, stderr and exit code."""
    got = world.cclogin("token", *args, extra=extra, drop=drop)
    want = full(world, args, extra, drop)
    assert (got.rc, got.stdout, got.stderr) == (want.rc, want.stdout, want.stderr), (got, want)
    return got, path_taken(world, args, extra, drop)


def store(world: World, profile: str, doc: dict[str, Any], drop: Sequence[str] = ()) -> None:
    """Save a credential document (model.py's JSON) as `profile`, made active."""
    done = subprocess.run(
        [sys.executable, "-c", STORE, profile],
        input=json.dumps({"v": 1, **doc}).encode(),
        env=world.environ(drop=drop),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()


# --- answered on the lean path ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--profile", "default"),
        ("-p", "default"),
        ("--profile=default",),
        ("--valid-for", "300"),
        ("-p", "default", "--valid-for", "0"),
    ],
)
def test_an_api_key_is_answered_on_the_lean_path(world: World, args: tuple[str, ...]) -> None:
    assert world.login("default", KEY).rc == 0
    got, path = same(world, *args)
    assert (got.rc, got.stdout, got.stderr, path) == (0, KEY + "\n", "", "lean")


def test_default_paths_without_cclogin_home_or_xdg(world: World) -> None:
    res = world.cclogin(
        "login", "--with-api-key", "--profile", "mine", input=KEY + "\n", drop=DEFAULT_PATHS
    )
    assert res.rc == 0, res
    assert (world.root / "home/.config/cclogin/metadata.json").is_file()
    got, path = same(world, drop=DEFAULT_PATHS)
    assert (got.stdout, path) == (KEY + "\n", "lean")
    # An absolute XDG_CONFIG_HOME moves it, as platformdirs does.
    xdg = {"XDG_CONFIG_HOME": str(world.root / "xdg")}
    assert (
        world.cclogin(
            "login",
            "--with-api-key",
            "--profile",
            "x",
            input="sk-ant-api03-x\n",
            extra=xdg,
            drop=DEFAULT_PATHS,
        ).rc
        == 0
    )
    got, path = same(world, extra=xdg, drop=DEFAULT_PATHS)
    assert (got.stdout, path) == ("sk-ant-api03-x\n", "lean")


def test_a_cclogin_home_under_the_home_folder(world: World) -> None:
    home = {"CCLOGIN_HOME": "~/./portable//cclogin"}
    assert world.cclogin("login", "--with-api-key", input=KEY + "\n", extra=home).rc == 0
    got, path = same(world, extra=home)
    assert (got.stdout, path) == (KEY + "\n", "lean")


def test_other_kinds_that_need_nothing_more(world: World) -> None:
    later = time.time() + 3600
    store(world, "tok", {"kind": "claude_token", "token": "sk-ant-oat01-test-lean"})
    store(
        world,
        "gw",
        {
            "kind": "oauth",
            "access_token": "gw-access-0001",
            "refresh_token": "gw-refresh",
            "expires_at": later,
            "scopes": ["a"],
            "token_type": "Bearer",
        },
    )
    store(
        world,
        "norefresh",
        {"kind": "oauth", "access_token": "gw-access-0002", "expires_at": None, "scopes": []},
    )
    raw = json.dumps({"accessToken": "sk-ant-oat01-login", "scopes": ["user:inference"]})
    store(
        world,
        "login",
        {
            "kind": "claude_login",
            "raw": raw,
            "access_token": "sk-ant-oat01-login",
            "expires_at": later,
        },
    )
    for profile, secret in (
        ("tok", "sk-ant-oat01-test-lean"),
        ("gw", "gw-access-0001"),
        ("norefresh", "gw-access-0002"),
        ("login", "sk-ant-oat01-login"),
    ):
        got, path = same(world, "-p", profile)
        assert (got.rc, got.stdout, path) == (0, secret + "\n", "lean"), profile


def test_the_environment_override(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    env = {"ANTHROPIC_API_KEY": "  sk-ant-api03-from-env  "}
    got, path = same(world, extra=env)
    assert (got.stdout, got.stderr, path) == ("sk-ant-api03-from-env\n", "", "lean")
    # With a profile asked for, the full path adds its note: the lean path leaves it to it.
    for extra in (env, {**env, "CCLOGIN_PROFILE": "default"}):
        args = ("--profile", "default") if extra is env else ()
        got, path = same(world, *args, extra=extra)
        assert got.stdout == "sk-ant-api03-from-env\n" and "wins over" in got.stderr
        assert path == "full"


def test_a_hung_daemon_times_out_the_same_way(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    assert world.daemon is not None
    with world.daemon.frozen():
        # While it waits, the process is already hardened (cli/entry.py harden_process).
        waiting = subprocess.Popen(
            [CCLOGIN, "token"],
            env=world.environ(FAST),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Polled, not slept on: hardening is the first thing the process does, and it
        # then waits on the frozen daemon for the whole deadline.
        core = ""
        deadline = time.monotonic() + 20
        while waiting.poll() is None and time.monotonic() < deadline:
            limits = Path(f"/proc/{waiting.pid}/limits").read_text()
            core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
            if core.split()[4] == "0":
                break
            time.sleep(0.01)
        assert waiting.wait(timeout=30) == 4
        got = world.cclogin("token", extra=FAST)
        want = full(world, (), FAST)
        path = path_taken(world, (), FAST)
    assert (got.rc, got.stdout, got.stderr) == (want.rc, want.stdout, want.stderr)
    assert got.rc == 4 and "did not answer within 1 s" in got.stderr
    assert "CCLOGIN_KEYCHAIN_TIMEOUT" in got.stderr and path == "lean"
    assert core.split()[4] == "0", core  # the soft limit, while it was waiting
    again, path = same(world)  # thawed: nothing lost
    assert (again.stdout, path) == (KEY + "\n", "lean")


# --- left to the full path, with the same outcome ----------------------------------------


def test_missing_profiles_and_items(world: World) -> None:
    got, path = same(world)  # nobody logged in
    assert (got.rc, path) == (3, "full")
    assert world.login("default", KEY).rc == 0
    for args, extra in ((("--profile", "nope"), None), ((), {"CCLOGIN_PROFILE": "nope"})):
        got, path = same(world, *args, extra=extra)
        assert (got.rc, path) == (3, "full") and "no profile named 'nope'" in got.stderr
    assert world.daemon is not None
    subprocess.run(
        ["secret-tool", "clear", "service", "cclogin", "username", "profile:default"],
        env=world.daemon.environ(),
        check=True,
        timeout=10,
    )
    got, path = same(world)
    assert (got.rc, path) == (3, "full") and "has no secret in secret-service" in got.stderr


def test_a_locked_collection(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    assert world.daemon is not None
    world.daemon.lock()
    try:
        got, path = same(world, extra={"CCLOGIN_KEYCHAIN_TIMEOUT": "20"})
    finally:
        world.daemon.unlock()
    assert (got.rc, got.stdout, path) == (4, "", "full")
    assert "locked" in got.stderr


def test_no_secret_service_and_no_bus(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    got, path = same(world, drop=("DBUS_SESSION_BUS_ADDRESS",))
    assert (got.rc, path) == (4, "full")
    missing = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={world.root}/no-bus"}
    got, path = same(world, extra=missing)
    assert (got.rc, path) == (4, "full")
    assert world.daemon is not None
    world.daemon.stop_keyring()  # the bus stays, with no Secret Service on it
    got, path = same(world)
    assert (got.rc, path) == (4, "full")


def test_a_chunked_value_is_read_by_the_full_path(world: World) -> None:
    big = "sk-ant-api03-" + "A" * 13_000  # > 16 K characters once encoded: chunks
    store(world, "big", {"kind": "api_key", "key": big})
    assert world.daemon is not None
    assert any("#" in name for name in world.daemon.items())  # it really is chunked
    got, path = same(world)
    assert (got.rc, got.stdout, path) == (0, big + "\n", "full")


def test_refresh_expiry_and_scope_checks(world: World) -> None:
    now = time.time()
    store(
        world,
        "soon",
        {
            "kind": "oauth",
            "access_token": "a1",
            "refresh_token": "r1",
            "expires_at": now + 3600,
            "scopes": [],
        },
    )
    got, path = same(world, "--valid-for", "7200")  # would expire within: refresh first
    assert path == "full" and got.rc != 0 and got.stdout == ""
    store(world, "over", {"kind": "oauth", "access_token": "a2", "expires_at": now - 10})
    got, path = same(world)
    assert (got.rc, path) == (5, "full")
    raw = json.dumps({"accessToken": "x", "scopes": ["user:profile"]})
    store(world, "noscope", {"kind": "claude_login", "raw": raw, "access_token": "x"})
    got, path = same(world)
    assert (got.rc, path) == (5, "full") and "user:inference" in got.stderr
    store(
        world,
        "oldlogin",
        {"kind": "claude_login", "raw": "{}", "access_token": "y", "expires_at": now - 10},
    )
    got, path = same(world)
    assert (got.rc, path) == (5, "full")


def test_metadata_and_home_the_full_path_refuses(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    doc = json.loads(world.metadata_file.read_text())
    original = json.dumps(doc)
    doc["profiles"]["bad"] = {"name": "bad"}  # another profile, malformed
    world.metadata_file.write_text(json.dumps(doc))
    got, path = same(world)
    assert (got.rc, path) == (1, "full") and "malformed" in got.stderr
    world.metadata_file.write_text(original)
    world.metadata_file.chmod(0o644)
    got, path = same(world)
    assert (got.rc, path) == (1, "full")
    world.metadata_file.chmod(0o600)
    world.home.chmod(0o775)
    try:
        got, path = same(world)
    finally:
        world.home.chmod(0o700)
    assert (got.rc, path) == (1, "full") and "CCLOGIN_HOME" in got.stderr
    got, path = same(world)
    assert (got.stdout, path) == (KEY + "\n", "lean")


def test_a_pinned_backend_other_than_secret_service(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    doc = json.loads(world.metadata_file.read_text())
    doc["profiles"]["default"]["backend"] = "kwallet"
    world.metadata_file.write_text(json.dumps(doc))
    got, path = same(world)
    assert path == "full" and got.rc != 0


def test_a_killed_migrate_and_a_policy_go_to_the_full_path(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    policy = {"CCLOGIN_TEST_ONLY_POLICY_FILE": str(world.root / "no-such-policy.toml")}
    got, path = same(world, extra=policy)
    assert (got.rc, path) == (9, "full")  # the full path refuses a policy it cannot read
    journal = world.home / "state" / "journal"
    journal.mkdir(parents=True, mode=0o700)
    (journal / "claude-locks.json").write_text("[]")
    assert path_taken(world, ()) == "full"


# --- each mirrored rule agrees with its source (in process) -------------------------------


def test_the_constants_match_their_sources() -> None:
    from cclogin import policy
    from cclogin.accounts import profiles, token
    from cclogin.migrate import pending
    from cclogin.model import CREDENTIAL_VERSION, KINDS, PROFILE_KEY_PREFIX
    from cclogin.store import os_keyring, select

    assert lean.REFRESH_MARGIN == token.REFRESH_MARGIN
    assert lean.ENV_OVERRIDE == token.ENV_OVERRIDE
    assert lean.INFERENCE_SCOPE == token.INFERENCE_SCOPE
    assert lean.SCHEMA_VERSION == profiles.SCHEMA_VERSION
    assert lean.MAX_METADATA_BYTES == profiles.MAX_METADATA_BYTES
    assert lean.CREDENTIAL_VERSION == CREDENTIAL_VERSION
    assert lean.SECRET_KEY_PREFIX == PROFILE_KEY_PREFIX
    assert frozenset(KINDS) == lean.KINDS
    assert (lean.JOURNAL_SUFFIX, lean.LOCKS_RECORD) == (
        pending.JOURNAL_SUFFIX,
        pending.LOCKS_RECORD,
    )
    assert policy.system_path() == lean.POLICY_FILE and lean.POLICY_TEST_ENV == policy.TEST_ENV
    assert (lean.DEFAULT_TIMEOUT, lean.INTERACTIVE_TIMEOUT) == (
        select.DEFAULT_TIMEOUT,
        select.INTERACTIVE_TIMEOUT,
    )
    assert wire.KEYRING_SERVICE == os_keyring.SERVICE
    assert wire.DEFAULT_COLLECTION == os_keyring.DEFAULT_COLLECTION_ALIAS


@pytest.mark.parametrize(
    "env",
    [
        {"CCLOGIN_HOME": "/tmp"},
        {"CCLOGIN_HOME": "/tmp/./a//b/"},
        {"CCLOGIN_HOME": "relative/home"},
        {"CCLOGIN_HOME": "~/x", "HOME": "/root/"},
        {"CCLOGIN_HOME": "~", "HOME": "/root"},
        {"HOME": "/root"},
        {"HOME": "/root/", "XDG_CONFIG_HOME": "/etc/xdg/", "XDG_STATE_HOME": "/var/st"},
        {"HOME": "/root", "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": "  "},
        {"HOME": "/root", "XDG_CONFIG_HOME": "relative"},  # lean: leaves it to platformdirs
        {"HOME": "relative"},
        {},
    ],
)
def test_paths_match_paths_py(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cclogin.paths import get_paths

    for name in ("CCLOGIN_HOME", "HOME", *DEFAULT_PATHS):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    dirs = lean._dirs(os.environ)
    if dirs is None:
        return  # the full path decides (and may refuse)
    paths = get_paths()
    assert (Path(dirs[0]), Path(dirs[1])) == (paths.config_dir, paths.state_dir)
    assert str(paths.metadata_file) == lean._join(dirs[0], "metadata.json").replace("//", "/")


def test_an_unsafe_cclogin_home_is_left_to_paths_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "open" / "cclogin"
    home.mkdir(parents=True)
    (tmp_path / "open").chmod(0o777)
    monkeypatch.setenv("CCLOGIN_HOME", str(home))
    assert lean._dirs(os.environ) is None
    (tmp_path / "open").chmod(0o1777)  # sticky above a folder of ours: fine
    assert lean._dirs(os.environ) is not None


JSON_SAMPLES = [
    '{"a": [1, 2.5, -3e2, true, false, null, "\\u00e9\\n"]}',
    " \t\n{}\r\n",
    "[]",
    '"s"',
    "NaN",
    "[Infinity, -Infinity]",
    "1" * 50,
    '{"a": 1, "a": 2}',
    "",
    "{",
    "[1,]",
    '{"a": 1} x',
    "\ufeff{}",
    "[1] [2]",
    '"\x01"',
    " ",
    "01",
    "1.",
    '{"\\ud800": 1}',
]


@pytest.mark.parametrize("text", JSON_SAMPLES)
def test_loads_is_json_loads(text: str) -> None:
    try:
        want: Any = ("ok", json.loads(text))
    except ValueError:
        want = ("error",)
    try:
        got: Any = ("ok", lean._loads(text))
    except (ValueError, StopIteration):
        got = ("error",)
    assert repr(got) == repr(want)  # repr: NaN != NaN


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
@settings(max_examples=200, deadline=None)
def test_loads_round_trips_like_json(value: Any) -> None:
    text = json.dumps(value)
    assert repr(lean._loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize(
    "entry",
    [
        "cl1:eyJ2IjoxfQ==",
        "cl1:eyJ2IjoxfQ",
        "cl1:eyJ2Ijox",
        "cl1:e",
        "cl1:",
        "cl1:ab+/",
        "cl1:YQ===",
        "cl1:Y=Q=",
        "cl1:YWJj=",
        "cl1c:2:" + "0" * 64,
        "plain text",
        "cl1:é",
    ],
)
def test_entries_decode_as_chunking_does(entry: str) -> None:
    from cclogin.errors import StoreCorrupt
    from cclogin.store import chunking

    try:
        parsed: object = chunking.parse_entry(entry)
    except StoreCorrupt:
        parsed = None
    got = lean._entry_value(entry)
    # The lean path answers only inline values, and then exactly as chunking does.
    assert got is None or got == parsed
    if isinstance(parsed, bytes) and len(entry) < 20:
        assert got == parsed


_FIELD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


@given(
    name=st.sampled_from(["default", "a", "x" * 65, "-bad", "ok.name_1-", "é"]),
    fields=st.fixed_dictionaries(
        {},
        optional={
            "kind": st.sampled_from(["api_key", "oauth", "vault_token", "nope"]) | _FIELD,
            "backend": st.just("secret-service") | _FIELD,
            "storage_class": st.sampled_from(["keychain", "secret-server", "x"]) | _FIELD,
            "created_at": _FIELD,
            "expires_at": _FIELD,
            "account": _FIELD,
            "provider": _FIELD,
            "base_url": _FIELD,
            "source": _FIELD,
            "needs_login": _FIELD,
            "extra": _FIELD,
        },
    ),
)
@settings(max_examples=500, deadline=None)
def test_a_plain_profile_is_one_the_model_accepts(name: str, fields: dict[str, Any]) -> None:
    from cclogin.model import Profile

    raw = {"name": name, **fields}
    if not lean._profile_is_plain(name, raw):
        return  # the full path decides
    profile = Profile.from_json(raw)
    assert profile.name == name
    assert (profile.kind, profile.backend, profile.storage_class) == (
        raw["kind"],
        raw["backend"],
        raw["storage_class"],
    )
    assert profile.needs_login == bool(raw.get("needs_login", False))
    if raw.get("expires_at") is not None:
        assert math.isclose(profile.expires_at or 0.0, raw["expires_at"]) or math.isnan(
            raw["expires_at"]
        )


def test_other_backends_and_team_profiles_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile on another backend (a team profile's `vault` included) is never read
    here; the D-Bus address is a socket that does not exist, and it is never tried."""
    (tmp_path / "config").mkdir(mode=0o700)
    meta = tmp_path / "config" / "metadata.json"
    monkeypatch.setenv("CCLOGIN_HOME", str(tmp_path))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CCLOGIN_PROFILE", raising=False)
    for backend, storage, extra in (
        ("vault", "secret-server", {"vault_path": "kv/team"}),
        ("encrypted-file", "encrypted-file", {}),
        ("secret-service", "keychain", {}),  # this one reaches the (missing) bus
    ):
        profile = {
            "name": "p",
            "kind": "api_key",
            "backend": backend,
            "storage_class": storage,
            "created_at": 1.0,
            "extra": extra,
        }
        meta.write_text(json.dumps({"schema": 1, "active": "p", "profiles": {"p": profile}}))
        meta.chmod(0o600)
        assert lean.lean_token(None, None) is None


def test_the_wire_format_is_jeepneys() -> None:
    from jeepney import DBusAddress, new_method_call

    attrs = {"service": "cclogin", "username": "profile:x"}
    collection = DBusAddress(
        wire.DEFAULT_COLLECTION, wire.SERVICE, "org.freedesktop.Secret.Collection"
    )
    theirs = new_method_call(collection, "SearchItems", "a{ss}", (attrs,)).serialise(serial=3)
    ours = wire.method_call(
        3,
        wire.SERVICE,
        wire.DEFAULT_COLLECTION,
        "org.freedesktop.Secret.Collection",
        "SearchItems",
        "a{ss}",
        wire.string_dict(attrs),
    )
    assert ours == theirs
    # And what jeepney writes, ours reads: a GetSecret reply, both byte orders.
    from jeepney.low_level import Endianness, Header, HeaderFields, Message, MessageType

    for order in (Endianness.little, Endianness.big):
        header = Header(
            order,
            MessageType.method_return,
            0,
            1,
            0,
            7,
            {HeaderFields.reply_serial: 4, HeaderFields.signature: "(oayays)"},
        )
        body = (("/s/1", b"", b"cl1:abc", "text/plain"),)
        data = Message(header, body).serialise()
        msg = wire.Message(data)
        assert (msg.kind, msg.reply_to, msg.body) == (2, 4, body)


@pytest.mark.parametrize(
    ("address", "path"),
    [
        ("unix:path=/run/user/0/bus", "/run/user/0/bus"),
        ("unix:abstract=/tmp/dbus-x,guid=ab", "\0/tmp/dbus-x"),
        ("tcp:host=x,port=1;unix:path=/a%20b%zz", "/a b%zz"),
        ("unix:path=/p,abstract=q", "\0q"),
        ("unix:guid=1;unix:path=/second", "/second"),
    ],
)
def test_the_bus_address_is_jeepneys(address: str, path: str) -> None:
    from jeepney.bus import get_connectable_addresses

    assert next(get_connectable_addresses(address)) == path
    assert wire.session_bus_path({"DBUS_SESSION_BUS_ADDRESS": address}) == path
