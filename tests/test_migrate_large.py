"""Migrate at any size: a 100 MB `~/.claude.json` goes through with bounded memory.

Real `~/.claude.json` files grow with project history. The real `cclogin migrate`
runs on one of the shape Claude Code writes (tests/support/big_claude_json.py); its
peak memory is the kernel's count for the child (tests/support/peak_rss.py), compared
with the same command on a tiny file: growth at most 3x the file's size. The result is
compared with bytes computed by the generator, not by cclogin's own code.

Then the parser under all this (jsonedit.parse): the same answers as `json.loads`.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cclogin.migrate import jsonedit
from cclogin.migrate.crash import MIGRATE_POINTS
from cclogin.migrate.splice import Spliced
from support.big_claude_json import BigClaudeJson, write_claude_json
from support.legacy_home import CCLOGIN, LegacyHome
from support.peak_rss import run_measured

KEY = "sk-ant-api03-test-0001-large-file"
MB = 1 << 20
GROWTH = 3.0  # peak RSS over the tiny-file baseline, in multiples of the file's size


def _home(root: Path) -> LegacyHome:
    home = LegacyHome(root)
    (home.home / ".claude").mkdir(parents=True)
    (root / "passphrase").write_text("correct horse battery staple\n")
    (root / "passphrase").chmod(0o600)
    return home


def _measured(home: LegacyHome, *args: str, **env: str) -> tuple[int, str, int]:
    result, peak = run_measured([str(CCLOGIN), *args], env=home.env(**env), cwd=home.root)
    return result.returncode, result.stderr, peak


def _big(home: LegacyHome, size: int, where: str = ".claude.json") -> BigClaudeJson:
    path = home.home / where
    path.parent.mkdir(parents=True, exist_ok=True)
    made = write_claude_json(path, size, KEY)
    path.chmod(0o600)
    return made


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Peak RSS of `migrate` and of `migrate --undo` on a tiny `.claude.json`."""
    if not CCLOGIN.exists():
        pytest.skip("the cclogin executable is not installed next to this python")
    home = _home(tmp_path_factory.mktemp("tiny"))
    path = home.home / ".claude.json"
    path.write_text(json.dumps({"numStartups": 1, "primaryApiKey": KEY}, indent=2))
    path.chmod(0o600)
    code, err, migrate = _measured(home, "migrate")
    assert code == 0, err
    code, err, undo = _measured(home, "migrate", "--undo")
    assert code == 0, err
    return {"migrate": migrate, "undo": undo}


def _assert_bounded(peak: int, base: int, size: int, what: str) -> None:
    growth = (peak - base) / size
    assert growth <= GROWTH, (
        f"{what}: peak RSS {peak / MB:.0f} MB, {growth:.2f}x a {size / MB:.0f} MB file over "
        f"the {base / MB:.0f} MB baseline (at most {GROWTH}x)"
    )


@pytest.mark.slow
def test_a_100_mb_claude_json_is_migrated_and_undone_byte_for_byte(
    tmp_path: Path, baseline: dict[str, int]
) -> None:
    home = _home(tmp_path)
    made = _big(home, 100 * MB)
    original = made.path.read_bytes()
    expected = made.expected_after(original)

    code, err, peak = _measured(home, "migrate")

    assert code == 0, err
    assert "migrated" in err and "primaryApiKey" in err
    assert home.token("claude-api-key") == KEY
    after = made.path.read_bytes()
    assert after == expected  # every byte but the member and its separator
    assert KEY.encode() not in after
    assert home.leftovers() == []
    _assert_bounded(peak, baseline["migrate"], made.size, "migrate")
    del after, expected

    code, err, peak = _measured(home, "migrate", "--undo")

    assert code == 0, err
    assert "exactly as it was" in err
    assert made.path.read_bytes() == original
    assert home.profiles() == {}
    _assert_bounded(peak, baseline["undo"], made.size, "migrate --undo")


@pytest.mark.slow
def test_undo_into_a_large_file_claude_code_rewrote_since(
    tmp_path: Path, baseline: dict[str, int]
) -> None:
    """Claude Code rewrites `~/.claude.json` all the time, so this is the usual undo:
    the key goes back as the first member, the rest stays as Claude Code wrote it."""
    home = _home(tmp_path)
    made = _big(home, 60 * MB)
    home.run("migrate", check=True)
    rewritten = made.path.read_bytes().replace(b'"numStartups": 812', b'"numStartups": 813', 1)
    made.path.write_bytes(rewritten)

    code, err, peak = _measured(home, "migrate", "--undo")

    assert code == 0, err
    assert "with its credential put back into the current content" in err
    member = made.removed.rstrip(b", \n")  # `"primaryApiKey": "..."`
    assert made.path.read_bytes() == b"{" + member + b"," + rewritten[1:]
    assert json.loads(made.path.read_bytes())["primaryApiKey"] == KEY
    _assert_bounded(peak, baseline["undo"], made.size, "migrate --undo (merge)")


@pytest.mark.slow
def test_large_backups_are_migrated_one_file_at_a_time(
    tmp_path: Path, baseline: dict[str, int]
) -> None:
    """Claude Code keeps five backups of `~/.claude.json`, each as large: the scan lets
    go of each file's bytes, so memory is bounded by one file, not by all of them."""
    home = _home(tmp_path)
    size = 30 * MB
    files = [
        _big(home, size),
        _big(home, size, ".claude/backups/.claude.json.backup.1700000000000"),
        _big(home, size, ".claude/backups/.claude.json.backup.1700000060000"),
    ]
    expected = {f.path: f.expected_after(f.path.read_bytes()) for f in files}

    code, err, peak = _measured(home, "migrate")

    assert code == 0, err
    assert err.count("cclogin: migrated ") == 3 and "done: 3 file(s) migrated" in err
    assert home.token("claude-api-key") == KEY
    assert set(home.profiles()) == {"claude-api-key"}  # one secret, one profile
    for path, after in expected.items():
        assert path.read_bytes() == after
    _assert_bounded(peak, baseline["migrate"], size, "migrate of three files")


@pytest.mark.slow
@pytest.mark.parametrize("point", MIGRATE_POINTS)
def test_a_kill_at_every_point_of_a_large_file_is_settled_byte_for_byte(
    tmp_path: Path, point: str
) -> None:
    """The large-file path (bytes let go after the scan, read again, checked by digest,
    written from pieces; recovery re-planning from the file) is crash-safe as well."""
    home = _home(tmp_path)
    made = _big(home, 20 * MB)
    original = made.path.read_bytes()

    killed = home.run("migrate", CCLOGIN_TEST_ONLY_CRASH_AT=point)

    assert killed.returncode == -signal.SIGKILL
    now = made.path.read_bytes()
    assert now in (original, made.expected_after(original))
    said = ""
    if now != original:  # the plaintext went only once the store held it
        token = home.run("token", "--profile", "claude-api-key")  # it settles the journal
        assert token.stdout == KEY + "\n", token.stderr
        said = token.stderr
    rerun = home.run("migrate")
    assert rerun.returncode == 0, rerun.stderr
    assert "interrupted" in said + rerun.stderr
    assert home.token("claude-api-key") == KEY
    assert made.path.read_bytes() == made.expected_after(original)
    assert home.leftovers() == []


@pytest.mark.slow
def test_a_lost_store_is_rolled_back_from_a_large_backup(tmp_path: Path) -> None:
    """Killed once the plaintext was gone, then the store lost the secret: recovery puts
    the file back from its 0600 backup (read whole, past the 1 MiB of cclogin's own files)."""
    home = _home(tmp_path)
    made = _big(home, 20 * MB)
    original = made.path.read_bytes()
    home.run("migrate", CCLOGIN_TEST_ONLY_CRASH_AT="source-rewritten")
    assert made.path.read_bytes() == made.expected_after(original)
    (home.cclogin_home / "data" / "store.cclogin").unlink()

    status = home.run("status")

    assert "restored" in status.stderr and "from its backup" in status.stderr, status.stderr
    assert made.path.read_bytes() == original
    assert home.leftovers() == []


def test_a_file_over_the_limit_names_the_key_still_in_plaintext(tmp_path: Path) -> None:
    if not CCLOGIN.exists():
        pytest.skip("the cclogin executable is not installed next to this python")
    home = _home(tmp_path)
    made = _big(home, 10 * MB)
    original = made.path.read_bytes()

    result = home.run("migrate", CCLOGIN_MIGRATE_MAX_SIZE="8M")
    doctor = json.loads(home.run("doctor", "--json", CCLOGIN_MIGRATE_MAX_SIZE="8M").stdout)

    assert result.returncode == 1  # as for every file migrate could not move
    assert f"{made.path} is 10 MiB, more than the 8 MiB cclogin reads" in result.stderr
    assert "primaryApiKey in it is still plaintext: nothing was changed" in result.stderr
    assert "CCLOGIN_MIGRATE_MAX_SIZE=1G cclogin migrate" in result.stderr  # the way out
    assert "delete its member" in result.stderr  # the other way out
    assert KEY not in result.stderr + result.stdout
    assert made.path.read_bytes() == original
    assert os.stat(made.path).st_mode & 0o777 == 0o600
    assert home.profiles() == {}
    assert home.leftovers() == []
    assert any("primaryApiKey in it is still plaintext" in f["message"] for f in doctor)

    again = home.run("migrate", CCLOGIN_MIGRATE_MAX_SIZE="1G")

    assert again.returncode == 0, again.stderr
    assert made.path.read_bytes() == made.expected_after(original)


def test_a_bad_size_limit_is_a_usage_error(legacy_home: LegacyHome) -> None:
    result = legacy_home.run("migrate", CCLOGIN_MIGRATE_MAX_SIZE="lots")

    assert result.returncode == 2
    assert "CCLOGIN_MIGRATE_MAX_SIZE='lots' is not a size" in result.stderr


# --- the parser: what json.loads says, with byte offsets --------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(st.text(max_size=8), _values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    doc=_objects,
    indent=st.sampled_from([None, 2, "\t"]),
    ascii_only=st.booleans(),
    bom=st.booleans(),
)
def test_parse_indexes_every_member_as_json_loads_reads_it(
    doc: dict[str, object], indent: int | str | None, ascii_only: bool, bom: bool
) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + json.dumps(
        doc, indent=indent, ensure_ascii=ascii_only
    ).encode()

    index = jsonedit.parse(data, want=set(doc))

    assert index.members is not None
    assert [m.key for m in index.members] == list(doc)
    assert dict(index.values) == doc
    for member in index.members:
        assert json.loads(data[member.value_start : member.end]) == doc[member.key]
        key_text = data[member.start : member.value_start].decode().rstrip(": \t\n")
        assert json.loads(key_text) == member.key
        found = list(index.members)
        start, end = jsonedit.removal_span(found, member)
        cut = Spliced(data)
        cut.replace(start, end - start, b"")
        rest = {k: v for k, v in doc.items() if k != member.key}
        assert json.loads(cut.tobytes().removeprefix(b"\xef\xbb\xbf")) == rest


def test_parse_takes_the_last_of_a_repeated_key() -> None:
    data = b'{"a": 1, "b": {"x": "\xc3\xa9"}, "a": [2, "\xe2\x80\xa6\xc2\xa0"]}'

    index = jsonedit.parse(data, want={"a", "b"})

    assert index.values == {"a": [2, "\u2026\u00a0"], "b": {"x": "\u00e9"}}
    assert jsonedit.value_bytes(data, index, "a") == b'[2, "\xe2\x80\xa6\xc2\xa0"]'
    assert [m.key for m in jsonedit.members(data, index, ("b",)) or []] == ["x"]


def test_a_non_ascii_key_is_read_as_utf_8() -> None:
    data = '{"caf\u00e9": 1, "\\u00e9t\u00e9": 2}'.encode()

    index = jsonedit.parse(data, want={"caf\u00e9"})

    assert [m.key for m in index.members or ()] == ["caf\u00e9", "\u00e9t\u00e9"]
    assert index.values == {"caf\u00e9": 1}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"a": 1', "truncated"),
        (b'{"a": 1}}', "extra data"),
        (b'{"a": NaN}', "RFC 8259"),
        (b'{"a": [1, 2,]}', "trailing comma"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": "\xe2\x80"}', "a cut UTF-8 sequence"),
        (b'{"a" 1}', "no colon"),
        (b'{"a": [' * 100_000, "nested too deeply"),
        (b"", "empty"),
    ],
)
def test_parse_refuses_what_json_loads_refuses(data: bytes, why: str) -> None:
    with pytest.raises(ValueError):
        jsonedit.parse(data)


def test_a_document_that_is_no_object_has_no_members() -> None:
    data = b' ["primaryApiKey", {"a": 1}] '
    index = jsonedit.parse(data)

    assert index.members is None
    assert index.span == (1, len(data) - 1)


def test_insert_and_upsert_keep_every_other_byte() -> None:
    data = b'{\n  "env": {\n    "A": "1"\n  },\n  "model": "opus"\n}\n'
    index = jsonedit.parse(data)

    offset, new = jsonedit.insert_span(data, index, [b'"K": "v"'], ("env",)) or (0, b"")
    upsert = jsonedit.upsert_span(data, index, "apiKeyHelper", b'"cclogin token"')

    assert data[:offset] + new + data[offset:] == (
        b'{\n  "env": {"K": "v",\n    "A": "1"\n  },\n  "model": "opus"\n}\n'
    )
    assert upsert is not None
    start, end, text = upsert
    assert data[:start] + text + data[end:] == (
        b'{\n  "env": {\n    "A": "1"\n  },\n  "model": "opus",\n'
        b'  "apiKeyHelper": "cclogin token"\n}\n'
    )
