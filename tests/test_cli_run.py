"""`cclogin run --env-file` and `exec --env-file`: references resolved for the child only.

Through the real executable, against the real Secret Service and the encrypted file.
The child reports its environment and every process's argv it can see; the secrets
must be in the child's environment and nowhere else (the env file, argv, the parent).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import BACKENDS, World, files_containing, open_world

KEY = "sk-ant-api03-test-run-0201"
TEAM_KEY = "sk-ant-api03-test-run-team-0202"
ENV_KEY = "sk-ant-api03-test-run-env-0203"
OAT = "sk-ant-oat01-test-run-0204"

# The child: its environment, and the pids of every process whose argv holds a secret.
CHILD = """
import json, os, sys
secrets = [s for s in sys.argv[1:] if s.startswith('needle:')]
needles = [bytes.fromhex(s[7:]) for s in secrets]
leaks = []
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            leaks.append(pid)
print(json.dumps({'env': dict(os.environ), 'argv_leaks': leaks}))
"""


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as w:
        yield w


def env_file(world: World, text: str | bytes, name: str = ".env") -> Path:
    path = world.root / "proj" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def child(
    world: World, *args: str, extra: dict[str, str] | None = None, command: str = "run"
) -> dict:
    """Run the child under `cclogin COMMAND ARGS --`; its report (asserts success)."""
    needles = [f"needle:{s.encode().hex()}" for s in (KEY, TEAM_KEY, ENV_KEY, OAT)]
    out = world.cclogin(command, *args, "--", sys.executable, "-c", CHILD, *needles, extra=extra)
    assert out.rc == 0, out
    for secret in (KEY, TEAM_KEY, ENV_KEY, OAT):
        assert secret not in out.stderr
    report = json.loads(out.stdout)
    assert report["argv_leaks"] == [], "a secret is in some process's argv"
    return report


def no_secret_outside_the_child(world: World, *files: Path) -> None:
    for path in files:
        data = path.read_bytes()
        assert all(s.encode() not in data for s in (KEY, TEAM_KEY, OAT))
    assert all(KEY not in v and TEAM_KEY not in v for v in os.environ.values())  # the parent


# --- run --------------------------------------------------------------------------------


def test_a_committed_env_file_gives_the_child_the_key_and_nothing_else_does(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    path = env_file(
        world,
        "# safe to commit: no secret in here\n"
        'export ANTHROPIC_API_KEY="cclogin://team" # the team key\n'
        "DATABASE_URL=postgres://localhost/app\n",
    )
    seen = child(world, "--env-file", str(path), extra={"UNRELATED": "kept"})
    assert seen["env"]["ANTHROPIC_API_KEY"] == TEAM_KEY
    assert seen["env"]["DATABASE_URL"] == "postgres://localhost/app"
    assert seen["env"]["UNRELATED"] == "kept"
    assert not [k for k in seen["env"] if k.startswith("CCLOGIN_PASSPHRASE")]
    no_secret_outside_the_child(world, path)


def test_quoting_comments_export_crlf_and_bom(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    text = (
        "\ufeffPLAIN=value # comment\r\n"
        "# a full-line comment\r\n"
        "\r\n"
        "  export SPACED = two words \r\n"
        "SINGLE='$HOME \\n # literal'\r\n"
        'DOUBLE="a\\tb \\"q\\""\r\n'
        "REF_SINGLE='cclogin://team'\r\n"
        'REF_DOUBLE="cclogin://team" # c\r\n'
        "REF_BARE=cclogin://team # c\r\n"
        "DUP=first\r\n"
        "DUP=second\r\n"
    )
    seen = child(world, "--env-file", str(env_file(world, text)))["env"]
    assert seen["PLAIN"] == "value"
    assert seen["SPACED"] == "two words"
    assert seen["SINGLE"] == "$HOME \\n # literal"
    assert seen["DOUBLE"] == 'a\tb "q"'
    assert seen["REF_SINGLE"] == seen["REF_DOUBLE"] == seen["REF_BARE"] == TEAM_KEY
    assert seen["DUP"] == "second"


def test_values_that_merely_look_like_references_are_passed_as_written(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    text = (
        "URL=https://example.com/cclogin://team\n"
        "ONE_SLASH=cclogin:/team\n"
        'SENTENCE="see cclogin://team"\n'
        "UPPER=CCLOGIN://team\n"
        "LEADING=' cclogin://team'\n"
    )
    seen = child(world, "--env-file", str(env_file(world, text)))["env"]
    assert seen["URL"] == "https://example.com/cclogin://team"
    assert seen["ONE_SLASH"] == "cclogin:/team"
    assert seen["SENTENCE"] == "see cclogin://team"
    assert seen["UPPER"] == "CCLOGIN://team"
    assert seen["LEADING"] == " cclogin://team"
    assert TEAM_KEY not in json.dumps(seen)


def test_an_unknown_profile_is_refused_with_file_and_line_and_nothing_runs(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    marker = world.root / "child-ran"
    path = env_file(world, "A=1\n# team key below\nANTHROPIC_API_KEY=cclogin://nope\n")
    out = world.cclogin("run", "--env-file", str(path), "--", "touch", str(marker))
    assert out.rc == 3, out
    assert f"{path}:3: ANTHROPIC_API_KEY refers to cclogin://nope" in out.stderr
    assert "nothing was run" in out.stderr
    assert "team" in out.stderr  # the hint lists the profiles there are
    assert not marker.exists()
    assert TEAM_KEY not in out.output


def test_not_logged_in_at_all_is_refused(world: World) -> None:
    marker = world.root / "child-ran"
    path = env_file(world, "ANTHROPIC_API_KEY=cclogin://team\n")
    out = world.cclogin("run", "--env-file", str(path), "--", "touch", str(marker))
    assert out.rc == 3, out
    assert f"{path}:1:" in out.stderr
    assert not marker.exists()


def test_one_unresolvable_reference_stops_the_others_too(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    marker = world.root / "child-ran"
    path = env_file(world, "GOOD=cclogin://team\nBAD=cclogin://gone\n")
    out = world.cclogin("run", "--env-file", str(path), "--", "touch", str(marker))
    assert out.rc == 3, out
    assert f"{path}:2: BAD" in out.stderr
    assert not marker.exists() and TEAM_KEY not in out.output


@pytest.mark.parametrize(
    "value", ["cclogin://team?field=key", "cclogin://", "'cclogin://a b'", "cclogin://team/x"]
)
def test_a_reference_without_a_valid_profile_is_an_error_not_a_literal(
    world: World, value: str
) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    marker = world.root / "child-ran"
    path = env_file(world, f"OK=1\nKEY={value}\n")
    out = world.cclogin("run", "--env-file", str(path), "--", "touch", str(marker))
    assert out.rc == 1, out
    assert f"{path}:2: KEY: " in out.stderr and "cclogin://PROFILE" in out.stderr
    assert not marker.exists()


def test_a_bad_line_is_refused_without_echoing_it(world: World) -> None:
    marker = world.root / "child-ran"
    path = env_file(world, f"A=1\n{KEY}\n")  # a key pasted on a line of its own
    out = world.cclogin("run", "--env-file", str(path), "--", "touch", str(marker))
    assert out.rc == 1, out
    assert f"{path}:2: expected NAME=VALUE" in out.stderr
    assert KEY not in out.output and "sk-ant" not in out.output
    assert not marker.exists()
    unclosed = env_file(world, f'A="{KEY}\n', name="unclosed.env")
    out = world.cclogin("run", "--env-file", str(unclosed), "--", "touch", str(marker))
    assert out.rc == 1 and f"{unclosed}:1:" in out.stderr and KEY not in out.output


def test_a_missing_env_file_is_refused(world: World) -> None:
    out = world.cclogin("run", "--env-file", str(world.root / "nope.env"), "--", "true")
    assert out.rc == 1, out
    assert "does not exist" in out.stderr


def test_references_in_the_inherited_environment_are_resolved(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    assert world.login("mine", OAT, how="--with-oauth-token").rc == 0
    seen = child(
        world,
        extra={
            "ANTHROPIC_API_KEY": "cclogin://team",
            "CLAUDE_CODE_OAUTH_TOKEN": "cclogin://mine",
            "LOOKS_LIKE_ONE": "see cclogin://team",
        },
    )["env"]
    assert seen["ANTHROPIC_API_KEY"] == TEAM_KEY
    assert seen["CLAUDE_CODE_OAUTH_TOKEN"] == OAT
    assert seen["LOOKS_LIKE_ONE"] == "see cclogin://team"
    marker = world.root / "child-ran"
    bad = world.cclogin("run", "--", "touch", str(marker), extra={"X": "cclogin://gone"})
    assert bad.rc == 3, bad
    assert "the environment: X refers to cclogin://gone" in bad.stderr
    assert not marker.exists()


def test_files_win_over_the_environment_and_later_files_over_earlier(world: World) -> None:
    first = env_file(world, "FOO=first\nONLY_FIRST=1\nDUP=a\nDUP=b\n", name="first.env")
    second = env_file(world, "FOO=second\n", name="second.env")
    seen = child(
        world,
        "--env-file",
        str(first),
        "--env-file",
        str(second),
        extra={"FOO": "shell", "ONLY_SHELL": "s"},
    )["env"]
    assert seen["FOO"] == "second"
    assert (seen["ONLY_FIRST"], seen["ONLY_SHELL"], seen["DUP"]) == ("1", "s", "b")


def test_an_exported_key_still_wins_for_anthropic_api_key_only(world: World) -> None:
    """CI exports ANTHROPIC_API_KEY; the same committed .env then runs there unchanged."""
    assert world.login("team", TEAM_KEY).rc == 0
    path = env_file(world, "ANTHROPIC_API_KEY=cclogin://team\nOTHER_TOOL_KEY=cclogin://team\n")
    out = world.cclogin(
        "run",
        "--env-file",
        str(path),
        "--",
        sys.executable,
        "-c",
        CHILD,
        extra={"ANTHROPIC_API_KEY": ENV_KEY},
    )
    assert out.rc == 0, out
    seen = json.loads(out.stdout)["env"]
    assert seen["ANTHROPIC_API_KEY"] == ENV_KEY
    assert seen["OTHER_TOOL_KEY"] == TEAM_KEY  # as `exec --env NAME`: the profile's own
    assert "ANTHROPIC_API_KEY is set in the environment and wins" in out.stderr


def test_a_file_cannot_set_cclogins_own_settings(world: World) -> None:
    marker = world.root / "child-ran"
    path = env_file(world, "A=1\nCCLOGIN_HOME=/tmp/elsewhere\n")
    out = world.cclogin("run", "--env-file", str(path), "--", "touch", str(marker))
    assert out.rc == 1, out
    assert f"{path}:2: CCLOGIN_HOME is one of cclogin's own settings" in out.stderr
    assert not marker.exists()


def test_the_childs_exit_status_and_arguments_are_its_own(world: World) -> None:
    path = env_file(world, "A=1\n")
    assert world.cclogin("run", "--env-file", str(path), "--", "sh", "-c", "exit 7").rc == 7
    out = world.cclogin("run", "--", "sh", "-c", 'echo "$*"', "sh", "-v", "--env-file", "x")
    assert (out.rc, out.stdout) == (0, "-v --env-file x\n")


def test_verbose_explains_and_never_prints_the_secret(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    path = env_file(world, "ANTHROPIC_API_KEY=cclogin://team\n")
    out = world.cclogin("-v", "run", "--env-file", str(path), "--", "true")
    assert out.rc == 0, out
    assert f"ANTHROPIC_API_KEY ({path}:1): the secret of profile 'team'" in out.stderr
    assert TEAM_KEY not in out.output


def test_claude_code_run_this_way_is_told_what_exec_would_do(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    bin_dir = world.root / "bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"  # a stand-in: Claude Code is recognised by its name
    claude.write_text(
        f"#!{sys.executable}\nimport os\nprint(os.environ['ANTHROPIC_API_KEY'] == {TEAM_KEY!r})\n"
    )
    claude.chmod(stat.S_IRWXU)
    path = env_file(world, "ANTHROPIC_API_KEY=cclogin://team\n")
    out = world.cclogin("run", "--env-file", str(path), "--", str(claude))
    assert (out.rc, out.stdout) == (0, "True\n"), out
    assert "`cclogin exec --profile team -- claude`" in out.stderr


# --- exec --env-file ---------------------------------------------------------------------


def test_exec_sets_its_own_credential_and_loads_the_file(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    assert world.login("default", KEY).rc == 0  # the active profile
    path = env_file(world, "OTHER_TOOL_KEY=cclogin://team\nDATABASE_URL=postgres://db\n")
    seen = child(world, "--env-file", str(path), command="exec")["env"]
    assert seen["ANTHROPIC_API_KEY"] == KEY  # exec's own, as without --env-file
    assert seen["OTHER_TOOL_KEY"] == TEAM_KEY
    assert seen["DATABASE_URL"] == "postgres://db"
    assert not [k for k in seen if k.startswith("CCLOGIN_PASSPHRASE")]
    no_secret_outside_the_child(world, path)


def test_exec_takes_a_files_key_as_if_exported(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    assert world.login("default", KEY).rc == 0
    path = env_file(world, "ANTHROPIC_API_KEY=cclogin://team\n")
    seen = child(world, "--env-file", str(path), command="exec")["env"]
    assert seen["ANTHROPIC_API_KEY"] == TEAM_KEY  # an ANTHROPIC_API_KEY there wins, as always


def test_exec_refuses_an_unresolvable_reference_before_running(world: World) -> None:
    assert world.login("default", KEY).rc == 0
    marker = world.root / "child-ran"
    path = env_file(world, "X=cclogin://gone\n")
    out = world.cclogin("exec", "--env-file", str(path), "--", "touch", str(marker))
    assert out.rc == 3, out
    assert f"{path}:1: X refers to cclogin://gone" in out.stderr
    assert not marker.exists()


def test_exec_resolves_an_inherited_reference(world: World) -> None:
    assert world.login("team", TEAM_KEY).rc == 0
    assert world.login("default", KEY).rc == 0
    seen = child(world, command="exec", extra={"OTHER_TOOL_KEY": "cclogin://team"})["env"]
    assert (seen["ANTHROPIC_API_KEY"], seen["OTHER_TOOL_KEY"]) == (KEY, TEAM_KEY)


# --- migrate --leave-reference, then run ---------------------------------------------------

ORIGINAL = (
    "\ufeff# deployment settings\r\n"
    "APP_PORT=8080\r\n"
    f'  export ANTHROPIC_API_KEY="{KEY}" # rotated 2024-05\r\n'
    "LOG_LEVEL=info # trailing\r\n"
)


def test_migrate_leaves_a_reference_that_run_resolves_and_undo_removes(world: World) -> None:
    path = env_file(world, ORIGINAL)
    before = path.read_bytes()
    os.chmod(path, 0o640)

    moved = world.cclogin("migrate", "--from", str(path), "--leave-reference")

    assert moved.rc == 0, moved
    assert "cclogin://env-proj" in moved.stderr and "cclogin run --env-file" in moved.stderr
    after = path.read_bytes()
    assert after == before.replace(KEY.encode(), b"cclogin://env-proj")  # nothing else moved
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert files_containing(world.root / "proj", KEY.encode()) == []
    seen = child(world, "--env-file", str(path))["env"]
    assert seen["ANTHROPIC_API_KEY"] == KEY
    assert (seen["APP_PORT"], seen["LOG_LEVEL"]) == ("8080", "info")

    again = world.cclogin("migrate", "--from", str(path), "--leave-reference")
    assert again.rc == 0 and "no credential" in again.stderr  # a reference is no secret
    assert path.read_bytes() == after

    undone = world.cclogin("migrate", "--undo")
    assert undone.rc == 0, undone
    assert "exactly as it was" in undone.stderr
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_migrate_dry_run_says_what_the_line_would_hold(world: World) -> None:
    path = env_file(world, ORIGINAL)
    out = world.cclogin("migrate", "--dry-run", "--from", str(path), "--leave-reference")
    assert out.rc == 0, out
    assert "would be replaced by cclogin://env-proj" in out.stderr
    assert path.read_bytes() == ORIGINAL.encode()


def test_migrate_without_the_flag_still_comments_the_line_out(world: World) -> None:
    path = env_file(world, "A=1\nANTHROPIC_API_KEY=" + KEY + "\n")
    assert world.cclogin("migrate", "--from", str(path)).rc == 0
    assert path.read_text().splitlines()[1].startswith("# ANTHROPIC_API_KEY moved to the keychain")
