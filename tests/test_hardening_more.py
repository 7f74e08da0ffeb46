"""Issue 9.7 and 9.8, the rest: bounded passphrase commands, a private config and home,
safe provider addresses, a BROWSER without our secrets, a masked setup-token relay,
bounded and locked dependencies."""

# ruff: noqa: S103 - loose modes are what these tests set up on purpose

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cclogin import claude_handover, claude_setup
from cclogin.accounts import execute
from cclogin.config import MAX_CONFIG_SIZE, ConfigError, load_config
from cclogin.errors import PassphraseUnavailable, UnsafeFile
from cclogin.oauth import flows
from cclogin.oauth.errors import ProviderConfigError
from cclogin.oauth.provider import from_config_table, from_extra, to_extra
from cclogin.paths import Paths, get_paths
from cclogin.secret import Secret
from cclogin.store import passphrase
from cclogin.store.passphrase import _MAX_LEN, CommandSource

ROOT = Path(__file__).resolve().parents[1]


def _script(tmp_path: Path, body: str, name: str = "cmd.py") -> str:
    script = tmp_path / name
    script.write_text(body)
    return f"{sys.executable} {script}"


# --- a passphrase command is bounded in time and size -----------------------------------------


def test_command_done_when_it_exits_though_a_background_child_holds_stdout(
    tmp_path: Path,
) -> None:
    # `pass`-like: prints, starts something that lives on with our stdout, exits.
    pid_file = tmp_path / "bg.pid"
    cmd = _script(
        tmp_path,
        "import subprocess, sys\n"
        "print('bg pass', flush=True)\n"
        f"bg = subprocess.Popen([{sys.executable!r}, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(bg.pid))\n",
    )
    assert CommandSource(cmd, timeout=20).get(confirm=False).reveal() == "bg pass"
    # Done while the background child still holds stdout: no wait for its end of file
    # (which comes only when it exits) and no 20 s timeout (that raises).
    bg = int(pid_file.read_text())
    try:
        os.kill(bg, 0)
    finally:
        os.kill(bg, signal.SIGKILL)


def test_endless_output_is_cut_at_the_limit_without_waiting(tmp_path: Path) -> None:
    cmd = _script(tmp_path, "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n")
    # Cut at the limit: the 20 s timeout would raise "did not finish" instead.
    with pytest.raises(PassphraseUnavailable, match="printed more than a passphrase"):
        CommandSource(cmd, timeout=20).get(confirm=False)


def test_output_of_exactly_the_limit_is_taken(tmp_path: Path) -> None:
    cmd = _script(tmp_path, f"import sys\nsys.stdout.write('y' * {_MAX_LEN})\n")
    assert len(CommandSource(cmd).get(confirm=False).reveal()) == _MAX_LEN
    over = _script(tmp_path, f"import sys\nsys.stdout.write('y' * {_MAX_LEN + 1})\n", "over.py")
    with pytest.raises(PassphraseUnavailable, match="more than a passphrase"):
        CommandSource(over).get(confirm=False)


def test_a_command_that_never_exits_still_times_out(tmp_path: Path) -> None:
    pid_file = tmp_path / "cmd.pid"
    cmd = _script(
        tmp_path,
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "print('partial', flush=True)\ntime.sleep(600)\n",
    )
    with pytest.raises(PassphraseUnavailable, match=r"did not finish within 2 s"):
        CommandSource(cmd, timeout=2).get(confirm=False)
    # Killed at the timeout and reaped, not left asleep for its 600 s (on a machine so
    # loaded that it never got to write its pid, it was killed before it ran at all).
    if pid_file.exists():
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)


# --- dependencies: bounded, locked with hashes, installed from the lock -----------------------


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime_requirements() -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return [Requirement(r) for r in project["dependencies"]]


@pytest.mark.parametrize("name", ["cryptography", "platformdirs", "jeepney"])
def test_dependencies_have_an_upper_bound(name: str) -> None:
    (req,) = [r for r in _runtime_requirements() if r.name == name]
    assert any(spec.operator == "<" for spec in req.specifier), str(req)


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z])", text):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        if not lines:
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)", lines[0])
        assert m, lines[0]
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        pins[m.group(1).lower().replace("_", "-").replace(".", "-")] = (m.group(2), hashes)
    return pins


def test_lock_pins_every_dependency_within_its_bounds_with_hashes() -> None:
    pins = _lock()
    assert all(hashes for _, hashes in pins.values()), "every pin carries a hash"
    wanted = [*_runtime_requirements()]
    build = _pyproject()["build-system"]
    assert isinstance(build, dict)
    wanted += [Requirement(r) for r in build["requires"]]
    for req in wanted:
        name = req.name.lower().replace("_", "-").replace(".", "-")
        assert name in pins, f"{req.name} is not in requirements.lock; run scripts/lock"
        assert req.specifier.contains(pins[name][0]), (
            f"{req} but the lock pins {pins[name][0]}; run scripts/lock"
        )


def test_quickstart_installs_the_lock_with_hashes_then_cclogin_without_deps() -> None:
    text = (ROOT / "scripts" / "quickstart").read_text()
    install = [line for line in text.splitlines() if "pip install" in line]
    assert len(install) == 2, install
    assert "--require-hashes" in install[0] and "-r requirements.lock" in install[0]
    assert "--no-deps" in install[1] and "--no-build-isolation" in install[1]
    assert "--no-index" in install[1]
    lock = (ROOT / "scripts" / "lock").read_text()
    assert "--generate-hashes" in lock and "--universal" in lock


# --- config.toml and CCLOGIN_HOME: nobody else may change them --------------------------------

needs_posix = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and owners")
needs_root = pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0, reason="chown to another uid needs root"
)
OTHER_UID = 65534  # nobody


def _config_home(tmp_path: Path, text: str = 'backend = "encrypted-file"\n') -> Paths:
    home = tmp_path / "cc"
    (home / "config").mkdir(parents=True, mode=0o700)
    paths = get_paths({"CCLOGIN_HOME": str(home)})
    paths.config_file.write_text(text)
    os.chmod(paths.config_file, 0o644)  # as an editor makes it: readable is fine
    return paths


@needs_posix
def test_config_readable_by_others_is_fine_writable_is_refused(tmp_path: Path) -> None:
    paths = _config_home(tmp_path)
    assert load_config(paths, {})["backend"] == "encrypted-file"
    os.chmod(paths.config_file, 0o666)
    with pytest.raises(ConfigError) as caught:
        load_config(paths, {})
    assert "writable by other users (mode 666)" in caught.value.message
    assert "chmod 600" in caught.value.hint
    os.chmod(paths.config_file, 0o620)
    with pytest.raises(ConfigError, match="mode 620"):
        load_config(paths, {})


@needs_posix
def test_config_symlink_even_dangling_is_refused(tmp_path: Path) -> None:
    paths = _config_home(tmp_path)
    real = tmp_path / "elsewhere.toml"
    paths.config_file.rename(real)
    paths.config_file.symlink_to(real)
    with pytest.raises(ConfigError, match="is a symlink"):
        load_config(paths, {})
    real.unlink()
    with pytest.raises(ConfigError, match="is a symlink"):
        load_config(paths, {})


def test_config_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    paths = _config_home(tmp_path, "# filler\n" * (MAX_CONFIG_SIZE // 9 + 1))
    with pytest.raises(ConfigError, match=r"more than the 262144 allowed"):
        load_config(paths, {})


@needs_root
def test_config_of_another_user_is_refused(tmp_path: Path) -> None:
    paths = _config_home(tmp_path)
    os.chown(paths.config_file, OTHER_UID, -1)
    with pytest.raises(ConfigError, match=f"belongs to another user \\(uid {OTHER_UID}\\)"):
        load_config(paths, {})


@needs_posix
@pytest.mark.parametrize("which", ["home", "parent"])
def test_home_or_parent_writable_by_others_is_refused(tmp_path: Path, which: str) -> None:
    parent = tmp_path / "shared"
    home = parent / "cc"
    home.mkdir(parents=True, mode=0o700)
    os.chmod(home if which == "home" else parent, 0o777)
    with pytest.raises(UnsafeFile) as caught:
        get_paths({"CCLOGIN_HOME": str(home)})
    target = home if which == "home" else parent
    assert f"{target} is writable by other users (mode 777)" in caught.value.message
    assert f"chmod go-w {target}" in caught.value.hint
    os.chmod(target, 0o755)
    assert get_paths({"CCLOGIN_HOME": str(home)}).config_dir == home / "config"


@needs_posix
def test_a_sticky_folder_above_ours_is_fine_but_not_as_the_home(tmp_path: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    home = sticky / "cc"
    home.mkdir(mode=0o700)
    get_paths({"CCLOGIN_HOME": str(home)})
    get_paths({"CCLOGIN_HOME": str(home / "not" / "yet")})  # made 0700 later
    with pytest.raises(UnsafeFile, match="mode 1777"):
        get_paths({"CCLOGIN_HOME": str(sticky)})


@needs_posix
def test_a_symlinked_home_is_checked_where_it_leads(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    (open_dir / "cc").mkdir(parents=True)
    os.chmod(open_dir, 0o777)
    link = tmp_path / "link"
    link.symlink_to(open_dir / "cc")
    with pytest.raises(UnsafeFile, match="open is writable by other users"):
        get_paths({"CCLOGIN_HOME": str(link)})


@needs_root
def test_a_home_of_another_user_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "theirs"
    home.mkdir(mode=0o700)
    os.chown(home, OTHER_UID, -1)
    with pytest.raises(UnsafeFile, match=f"belongs to another user \\(uid {OTHER_UID}\\)"):
        get_paths({"CCLOGIN_HOME": str(home)})


@needs_posix
def test_the_cli_refuses_an_unsafe_home_with_a_hint(tmp_path: Path) -> None:
    home = tmp_path / "cc"
    home.mkdir(mode=0o777)
    os.chmod(home, 0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCLOGIN")}
    env.update(CCLOGIN_HOME=str(home), CCLOGIN_BACKEND="encrypted-file")
    for args in (["status"], ["token"]):
        proc = subprocess.run([sys.executable, "-m", "cclogin", *args], capture_output=True,
                              text=True, env=env, timeout=60, check=False)
        assert proc.returncode != 0
        assert "is writable by other users (mode 777)" in proc.stderr, proc.stderr
        assert f"hint: run `chmod go-w {home}`" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert list(home.iterdir()) == []  # nothing was created in it


# --- provider addresses: no token over plain http, no code to another host --------------------


def _table(**extra: str) -> dict[str, str]:
    return {"issuer": "https://login.example.com", "client_id": "cclogin",
            "token_endpoint": "https://login.example.com/token",
            "authorization_endpoint": "https://login.example.com/authorize", **extra}


@pytest.mark.parametrize("url", ["http://gw.example.com", "http://10.0.0.5:8080/v1",
                                 "http://127.0.0.1.example.com", "ftp://gw.example.com",
                                 "gw.example.com", "https://user:pw@gw.example.com"])
def test_base_url_over_plain_http_or_odd_is_refused(url: str) -> None:
    with pytest.raises(ProviderConfigError) as caught:
        from_config_table("corp", _table(base_url=url))
    assert "base_url" in caught.value.message
    assert "pw" not in caught.value.message
    assert caught.value.hint


def test_plain_http_base_url_message_says_why() -> None:
    with pytest.raises(ProviderConfigError) as caught:
        from_config_table("corp", _table(base_url="http://gw.example.com"))
    assert "does not use https" in caught.value.message and "127.0.0.1" in caught.value.hint


@pytest.mark.parametrize("url", ["https://gw.example.com", "http://127.0.0.1:8080",
                                 "http://localhost:4000/v1", "http://[::1]:9/"])
def test_https_or_loopback_base_url_is_kept(url: str) -> None:
    assert from_config_table("corp", _table(base_url=url)).base_url == url


@pytest.mark.parametrize("url", ["https://evil.example.com/callback", "http://192.168.1.2/cb",
                                 "urn:ietf:wg:oauth:2.0:oob", "http://localhost.evil.example/"])
def test_non_loopback_paste_redirect_is_refused(url: str) -> None:
    with pytest.raises(ProviderConfigError, match="paste_redirect_uri"):
        from_config_table("corp", _table(paste_redirect_uri=url))


@pytest.mark.parametrize("url", ["http://127.0.0.1/callback", "http://127.0.0.1:8765/cb",
                                 "http://[::1]/callback", "http://localhost/callback"])
def test_loopback_paste_redirect_is_kept(url: str) -> None:
    assert from_config_table("corp", _table(paste_redirect_uri=url)).paste_redirect_uri == url


def test_every_way_to_a_provider_checks_the_addresses() -> None:
    good = from_config_table("corp", _table())
    with pytest.raises(ProviderConfigError, match="does not use https"):
        dataclasses.replace(good, base_url="http://gw.example.com")  # `login --base-url`
    with pytest.raises(ProviderConfigError, match="paste_redirect_uri"):
        dataclasses.replace(good, paste_redirect_uri="https://evil.example.com/cb")
    extra = to_extra(good)
    extra["oauth.base_url"] = "http://gw.example.com"  # a hand-edited metadata file
    with pytest.raises(ProviderConfigError, match="does not use https"):
        from_extra(extra)


# --- the BROWSER child gets no unlock variable and no credential -----------------------------


SECRET_ENV = {
    "CCLOGIN_PASSPHRASE": "pp-fake",
    "CCLOGIN_PASSPHRASE_FILE": "/dev/null",
    "CCLOGIN_PASSPHRASE_COMMAND": "pass show x",
    "ANTHROPIC_API_KEY": "sk-ant-api03-fake",
    "ANTHROPIC_AUTH_TOKEN": "auth-fake",
    "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-fake",
    "VAULT_TOKEN": "s.vault-fake",
    "BAO_TOKEN": "s.bao-fake",
}


def test_the_browser_child_inherits_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen.json"
    browser = tmp_path / "browser"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(seen)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], "
        "'env': dict(os.environ)}))\n"
    )
    browser.chmod(0o700)
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BROWSER", str(browser))
    monkeypatch.setenv("CCLOGIN_KEEP_ME", "kept")
    url = "http://127.0.0.1:9/start/one-time-token-fake"
    flows._system_browser(url)
    deadline = time.monotonic() + 30
    while not seen.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    got = json.loads(seen.read_text())
    assert got["argv"] == [url]  # webbrowser's BROWSER contract: the address appended
    assert set(SECRET_ENV) & set(got["env"]) == set()
    assert "CCLOGIN_OPEN_URL" not in got["env"]  # the hand-over variable is gone too
    assert got["env"]["CCLOGIN_KEEP_ME"] == "kept"  # nothing else is removed
    assert got["env"]["PATH"] == os.environ["PATH"]


def test_the_browser_strips_what_exec_strips() -> None:
    env = {**SECRET_ENV, "HOME": "/h", "ANTHROPIC_BASE_URL": "https://gw.example.com"}
    clean = flows.browser_environment(env)
    assert clean == {"HOME": "/h", "ANTHROPIC_BASE_URL": "https://gw.example.com"}
    # One list each: exec's prefixes, Claude Code's credential variables, and the Vault
    # CLIs' token variables (a Vault login's token is exec's VAULT_TOKEN).
    assert execute.STRIPPED_PREFIXES == (passphrase.VARIABLE_PREFIX,)
    assert execute.COMPETING.issubset(
        {*claude_handover.CREDENTIAL_VARIABLES, *flows.VAULT_TOKEN_VARIABLES}
    )


# --- `claude setup-token`: no line shows the token, wherever the terminal wraps it ------------

TOKEN = "sk-ant-oat01-" + "WrapMeAnywhere_" * 6 + "Zz-9"
LEAD = "Your OAuth token (valid for 1 year): "


def _wrapped(cut: int, width: int = 80) -> str:
    """Claude Code's output with the token line wrapped `cut` characters into the token."""
    line = LEAD + TOKEN
    first = len(LEAD) + cut
    rows = [line[:first]] + [line[i:i + width] for i in range(first, len(line), width)]
    return ("Browser didn't open? Use the url below to sign in:\n"
            "https://claude.ai/oauth/authorize?code=true&state=sk-ant-lookalike\n"
            "\u2713 Long-lived authentication token created successfully!\n\n"
            + "\n".join(rows) + "\n\nStore this token securely. You won't be able to see it again.\n"
            "Use this token by setting: export CLAUDE_CODE_OAUTH_TOKEN=<token>\n")


def _relayed(text: str, chunk: int) -> str:
    out = io.StringIO()
    relay = claude_setup._Relay(out)
    for i in range(0, len(text), chunk):
        relay.feed(text[i:i + chunk])
    relay.close()
    return out.getvalue()


def _longest_token_piece(shown: str) -> int:
    """The longest run of the token's characters, in order, that any line shows."""
    best = 0
    for line in shown.splitlines():
        if line.startswith("https://"):
            continue  # the sign-in address, with its look-alike
        for start in range(len(TOKEN)):
            n = best + 1
            while start + n <= len(TOKEN) and TOKEN[start:start + n] in line:
                best = n
                n += 1
    return best


@pytest.mark.parametrize("cut", [*range(0, 26), 40, 79])
@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_no_line_shows_the_token_wherever_it_wraps(cut: int, chunk: int) -> None:
    text = _wrapped(cut)
    shown = _relayed(text, chunk)
    assert _longest_token_piece(shown) <= 5, shown  # at most a piece such as "sk-an"
    assert claude_setup.MASK in shown
    # Everything else reaches the user as it was, the sign-in address included.
    assert "https://claude.ai/oauth/authorize?code=true&state=sk-ant-lookalike\n" in shown
    assert "Store this token securely." in shown and LEAD.strip() in shown
    # And cclogin still gets the token.
    assert claude_setup.extract_token(text) == Secret(TOKEN)


def test_lines_that_only_look_like_a_token_start_are_shown() -> None:
    text = "Press Enter to continue, or type s\nto skip; the address is https://x/?a=sk-ant-\nok\n"
    assert _relayed(text, 3) == text


def test_setup_token_wrapped_early_is_masked_end_to_end(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "claude"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({_wrapped(9)!r})\n")
    fake.chmod(0o700)
    err = io.StringIO()
    got = claude_setup.run_setup_token(executable=str(fake), environ={"PATH": "/usr/bin:/bin"},
                                       stderr=err)
    assert got == Secret(TOKEN)
    assert TOKEN[:16] not in err.getvalue() and TOKEN[16:40] not in err.getvalue()
    assert _longest_token_piece(err.getvalue()) <= 5
