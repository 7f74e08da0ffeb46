"""`cclogin scan`'s parts, in process: patterns and decoys, history formats, bounded
reading (blocks, huge lines), the walk's limits, and what output shows of a path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cclogin.accounts.context import AppContext
from cclogin.paths import get_paths
from cclogin.scan import ScanOptions, ScanResult, detect, scan
from cclogin.scan.detect import FileKind, findings_in, hits_in
from cclogin.scan.findings import Finding, Shape
from cclogin.scan.histories import format_of, unmetafy
from cclogin.scan.report import render, shown_path, to_json
from support.scan_home import FILLER, fake_gateway_token, fake_key

KEY = fake_key("api03", 1)
OAT = fake_key("oat01", 2)


def hits(line: str, shape: Shape = "text", lenient: bool = False) -> list[tuple[str, str | None, bytes]]:
    return [(h.kind, h.variable, h.secret) for h in hits_in(line.encode(), shape, lenient)]


@pytest.mark.parametrize(
    "line",
    [
        "export ANTHROPIC_API_KEY=$(cclogin token)",
        "export ANTHROPIC_API_KEY=`cclogin token`",
        'export ANTHROPIC_API_KEY="$(cclogin token --profile work)"',
        "ANTHROPIC_API_KEY=cclogin://team",
        "ANTHROPIC_API_KEY=cclogin://team/shared-key",
        "ANTHROPIC_API_KEY=",
        'ANTHROPIC_API_KEY=""',
        "ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY}",
        "ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY",
        'ANTHROPIC_AUTH_TOKEN: "${{ secrets.ANTHROPIC_AUTH_TOKEN }}"',
        "set -gx ANTHROPIC_API_KEY (cclogin token)",
        "ANTHROPIC_API_KEY=sk-ant-...",
        "ANTHROPIC_API_KEY=sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "ANTHROPIC_API_KEY=your-anthropic-api-key-here",
        "ANTHROPIC_API_KEY=<your key>",
        "ANTHROPIC_API_KEY=changeme",
        "ANTHROPIC_API_KEY = os.environ.get('ANTHROPIC_API_KEY')",
        "ANTHROPIC_API_KEY = load_key_from_the_vault()",
        "ANTHROPIC_API_KEY = settings.anthropic_api_key",
        'if [ "$ANTHROPIC_API_KEY" == "" ]; then',
        "echo ${ANTHROPIC_API_KEY:-unset-placeholder-value}",
        "MY_ANTHROPIC_API_KEY_FILE=/run/secrets/key",
        "Anthropic keys start with sk-ant- and are secret.",
        "a truncated key: " + fake_key("api03", 3, length=40),
        "a key with a tail: " + KEY + "x" * 200,
    ],
)
def test_decoys_are_not_found(line: str) -> None:
    assert hits(line) == []


@pytest.mark.parametrize(
    ("line", "kind", "variable", "secret"),
    [
        (f"export ANTHROPIC_API_KEY={KEY}", "api_key", "ANTHROPIC_API_KEY", KEY),
        (f"ANTHROPIC_API_KEY='{KEY}' claude -p hi", "api_key", "ANTHROPIC_API_KEY", KEY),
        (f"set -Ux CLAUDE_CODE_OAUTH_TOKEN {OAT}", "oauth_token", "CLAUDE_CODE_OAUTH_TOKEN", OAT),
        (f"setenv ANTHROPIC_API_KEY {KEY}", "api_key", "ANTHROPIC_API_KEY", KEY),
        (f'  "ANTHROPIC_API_KEY": "{KEY}",', "api_key", "ANTHROPIC_API_KEY", KEY),
        (f'os.environ["ANTHROPIC_API_KEY"] = "{KEY}"', "api_key", "ANTHROPIC_API_KEY", KEY),
        (f"process.env.ANTHROPIC_API_KEY = '{KEY}';", "api_key", "ANTHROPIC_API_KEY", KEY),
        (f"      - ANTHROPIC_API_KEY={KEY}", "api_key", "ANTHROPIC_API_KEY", KEY),
        (f"ANTHROPIC_API_KEY: {KEY}", "api_key", "ANTHROPIC_API_KEY", KEY),
        (f"$env:ANTHROPIC_API_KEY=\"{KEY}\"", "api_key", "ANTHROPIC_API_KEY", KEY),
        (f"ANTHROPIC_AUTH_TOKEN={fake_gateway_token(4)}", "unknown", "ANTHROPIC_AUTH_TOKEN", fake_gateway_token(4)),
        (f"curl -H 'x-api-key: {KEY}' https://api.anthropic.com", "api_key", None, KEY),
        (f'{{"token": "{fake_key("admin01", 5)}"}}', "admin_key", "token", fake_key("admin01", 5)),
        (f"refresh={fake_key('ort01', 6)}", "refresh_token", None, fake_key("ort01", 6)),
        (f"new shape {fake_key('api04', 7, length=120)}", "anthropic_key", None, fake_key("api04", 7, length=120)),
        ("ANTHROPIC_API_KEY=sk-ant-api03-test-0011", "api_key", "ANTHROPIC_API_KEY", "sk-ant-api03-test-0011"),
    ],
)
def test_credentials_are_found_once(line: str, kind: str, variable: str | None, secret: str) -> None:
    assert hits(line) == [(kind, variable, secret.encode())]


def test_exact_shape_is_the_documented_one() -> None:
    exact = hits_in(f"k={KEY}".encode(), "text", False)
    odd = hits_in(f"k={fake_key('api03', 1)[:-2]}AB".encode(), "text", False)
    assert exact[0].exact is True and odd[0].exact is False
    assert len(KEY) == 108 and len(fake_key("admin01", 1)) == 110


def test_claude_code_files_take_any_sk_ant_member() -> None:
    line = '{"claudeAiOauth": {"accessToken": "sk-ant-oat01-test-0018", "scopes": []}}'
    assert hits(line) == []
    assert hits(line, "json", lenient=True) == [("oauth_token", "accessToken", b"sk-ant-oat01-test-0018")]


def test_fish_universal_variables_are_unescaped() -> None:
    escaped = KEY.replace("-", "\\x2d").encode()
    data = b"# This file contains fish universal variable definitions.\nSETUVAR --export ANTHROPIC_API_KEY:" + escaped + b"\nSETUVAR other:" + OAT.replace("-", "\\x2d").encode() + b"\n"
    found = hits_in(data, "fish_variables", False)
    assert [(h.variable, h.secret) for h in found] == [("ANTHROPIC_API_KEY", KEY.encode()), ("other", OAT.encode())]
    assert data[found[0].start : found[0].end] == escaped


def test_history_formats() -> None:
    assert format_of(".zsh_history", b": 1700000000:0;ls\n") == "zsh-extended"
    assert format_of(".zsh_history", b"ls\n") == "zsh"
    assert format_of("anything", b": 1700000000:12;ls\n") == "zsh-extended"
    assert format_of("fish_history", b"- cmd: ls\n") == "fish"
    assert format_of(".bash_history", b"ls\n") == "bash"
    assert format_of("notes.txt", b"ls\n") is None
    assert unmetafy(b"caf\xc3\x83\xa9 \x83\x20") == "cafÉ \0".encode()


def _file(tmp_path: Path, data: bytes, kind: FileKind | None = None) -> list[Finding]:
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        outcome = findings_in(fd, len(data), 1 << 30, str(path), lambda _head: kind or FileKind("text", "file"))
    finally:
        os.close(fd)
    assert outcome is not None
    found, read = outcome
    assert read == len(data)
    return found


def test_zsh_metafied_history_spans_are_raw_bytes(tmp_path: Path) -> None:
    data = b": 1:0;echo \x83\xa9\x83\xa9 ANTHROPIC_API_KEY=" + KEY.encode() + b"\n"
    (f,) = _file(tmp_path, data, FileKind("history", "shell-history", "zsh-extended"))
    assert data[f.span[0] : f.span[1]] == KEY.encode()
    assert f.entry_span == (0, len(data))
    assert f.digest == hashlib.sha256(KEY.encode()).digest()


def test_blocks_keep_line_numbers_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect, "CHUNK", 1000)
    lines = [f"line {i} " + "y" * (i % 37) for i in range(2000)]
    for n in (3, 555, 1999):
        lines[n] += f" ANTHROPIC_API_KEY={fake_key('api03', n)}"
    data = "\n".join(lines).encode()  # no final line break
    found = _file(tmp_path, data)
    assert [f.line for f in found] == [4, 556, 2000]
    assert [data[f.span[0] : f.span[1]] for f in found] == [fake_key("api03", n).encode() for n in (3, 555, 1999)]


def test_a_huge_line_is_cut_without_losing_or_doubling_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(detect, "CHUNK", 997)
    monkeypatch.setattr(detect, "LONG_LINE", 6000)
    monkeypatch.setattr(detect, "OVERLAP", 2000)
    parts, spans, at = [], [], 0
    for n in range(60):
        pad = "z" * (n * 13 % 400 + 1) + " "
        key = fake_key("api03", n)
        parts += [pad, key, " "]
        spans.append((at + len(pad), at + len(pad) + len(key)))
        at += len(pad) + len(key) + 1
    data = "".join(parts).encode()
    found = _file(tmp_path, data)
    assert [f.span for f in found] == spans
    assert {f.line for f in found} == {1}


def _scan(tmp_path: Path, root: Path) -> ScanResult:
    env = {"HOME": str(tmp_path / "home"), "CCLOGIN_HOME": str(tmp_path / "cc")}
    ctx = AppContext(get_paths(env), env)
    return scan(ctx, ScanOptions(roots=(root,), home_places=False, check_store=False, check_git=False))


def test_walk_limits(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "a" / "deep" / "k.env").write_text(f"ANTHROPIC_API_KEY={fake_key('api03', 1)}\n")
    (root / "a" / "loop").symlink_to(root)  # a symlink to an ancestor: never followed
    (root / "inside.env").symlink_to(root / "a" / "deep" / "k.env")
    (root / "cache").mkdir()
    (root / "cache" / "CACHEDIR.TAG").write_bytes(b"Signature: 8a477f597d28d172789f06886806bc55\n")
    (root / "cache" / "k.txt").write_text(fake_key("api03", 2))
    (root / "fake-cache").mkdir()
    (root / "fake-cache" / "CACHEDIR.TAG").write_text("not the signature\n")
    (root / "fake-cache" / "k.txt").write_text(fake_key("api03", 3))
    (root / "blob.bin").write_bytes(b"\0\1\2" + fake_key("api03", 4).encode())
    os.mkfifo(root / "fifo")
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "k.py").write_text(fake_key("api03", 5))

    result = _scan(tmp_path, root)

    assert sorted(os.path.relpath(f.path, root) for f in result.findings) == ["a/deep/k.env", "fake-cache/k.txt"]
    reasons = {os.path.relpath(p, root): r for p, r in result.skipped.paths}
    assert reasons == {
        "a/loop": "symlink_inside",
        "inside.env": "symlink_inside",
        "cache": "cache_dir",
        "blob.bin": "binary",
        "fifo": "special",
        ".venv": "dependency_dir",
    }


def test_unreadable_files_are_reported_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "locked.env").write_text(f"ANTHROPIC_API_KEY={KEY}\n")
    (root / "open.env").write_text(f"ANTHROPIC_API_KEY={OAT}\n")
    real_open = os.open

    def refusing(path: str, flags: int, *args: int) -> int:
        if str(path).endswith("locked.env"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing)
    result = _scan(tmp_path, root)
    assert [f.path.name for f in result.findings] == ["open.env"]
    assert result.skipped.counts == {"unreadable": 1}


def test_a_path_never_shows_a_key_or_breaks_a_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    named = root / KEY / "evil\nname.env"
    named.parent.mkdir(parents=True)
    named.write_text(f"ANTHROPIC_API_KEY={OAT}\n")

    result = _scan(tmp_path, root)

    text = render(result, verbose=True) + repr(to_json(result))
    assert KEY not in text and OAT not in text and FILLER not in text
    assert "sk-ant-(hidden)" in text and "evil\\x0aname.env" in text
    assert shown_path(b"/x/\xff".decode("utf-8", "surrogateescape")) == "/x/\\xff"
