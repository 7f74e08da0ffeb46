"""A home with plaintext Anthropic credentials planted where people leave them, and
decoys that must not be found; for `cclogin scan` (tests/test_scan.py, benchmarks).

Every planted secret is fake, says so in its body (`test`, `FAKE`) and is built at
run time, so no key-shaped string sits in the repository for a real scanner to flag.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

FILLER = "-FAKE-not-a-real-key"  # in every planted body; must never reach any output


def fake_key(tag: str, n: int, length: int = 93) -> str:
    """`sk-ant-<tag>-` + 93 base64url characters + `AA`: the real shape, fake content."""
    body = (f"test{n:04d}" + FILLER * 8)[:length] + "AA"
    return "sk-ant-" + tag + "-" + body


def fake_gateway_token(n: int) -> str:
    """A bearer token of no Anthropic shape, as a company gateway would issue."""
    return f"test-gateway-{n:04d}{FILLER}-abc123"


@dataclass(frozen=True)
class Planted:
    rel: str  # path relative to the home (or to the outside folder)
    line: int
    kind: str
    variable: str | None
    secret: str


@dataclass
class ScanHome:
    home: Path
    outside: Path
    planted: list[Planted] = field(default_factory=list)
    decoys: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)  # secrets placed where scan must skip

    def write(self, rel: str, text: str | bytes, base: Path | None = None) -> Path:
        path = (base or self.home) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            text = text.encode()
        path.write_bytes(text)
        return path

    def plant(self, rel: str, lines: list[str], at: dict[int, tuple[str, str | None, str]]) -> None:
        """Write `lines`; `at` maps a 1-based line to (kind, variable, secret) on it."""
        self.write(rel, "".join(line + "\n" for line in lines))
        for line, (kind, variable, secret) in at.items():
            assert secret in lines[line - 1]
            self.planted.append(Planted(rel, line, kind, variable, secret))

    @property
    def secrets(self) -> list[str]:
        return [p.secret for p in self.planted] + self.not_found


def git(repo: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
         "-c", "init.defaultBranch=main", "-C", str(repo), *args],
        check=True, capture_output=True, env=env,
    )


def build(home: Path, outside: Path, big_log: bool = True) -> ScanHome:
    h = ScanHome(home, outside)
    k = fake_key
    h.plant(".bash_history", [
        "ls -la",
        "#1700000000",
        f"export ANTHROPIC_API_KEY={k('api03', 1)}",
        "claude",
    ], {3: ("api_key", "ANTHROPIC_API_KEY", k("api03", 1))})
    zsh = (
        b": 1699999999:0;echo caf\xc3\x83\xa9\n"  # cafÉ, metafied (É is c3 89)
        + f": 1700000000:0;export ANTHROPIC_API_KEY={k('api03', 2)}\n".encode()
        + f": 1700000001:2;echo one \\\nCLAUDE_CODE_OAUTH_TOKEN={k('oat01', 3)} claude\n".encode()
        + b": 1700000002:0;ls\n"
    )
    h.write(".zsh_history", zsh)
    h.planted += [
        Planted(".zsh_history", 2, "api_key", "ANTHROPIC_API_KEY", k("api03", 2)),
        Planted(".zsh_history", 4, "oauth_token", "CLAUDE_CODE_OAUTH_TOKEN", k("oat01", 3)),
    ]
    h.plant(".bashrc", [
        "# ~/.bashrc",
        "export ANTHROPIC_API_KEY=$(cclogin token)",
        f'export ANTHROPIC_API_KEY="{k("api03", 4)}"',
        'export ANTHROPIC_AUTH_TOKEN="${ANTHROPIC_AUTH_TOKEN}"',
    ], {3: ("api_key", "ANTHROPIC_API_KEY", k("api03", 4))})
    h.plant(".zshrc", [
        "export ANTHROPIC_API_KEY=",
        f"export ANTHROPIC_AUTH_TOKEN='{fake_gateway_token(5)}'",
    ], {2: ("unknown", "ANTHROPIC_AUTH_TOKEN", fake_gateway_token(5))})
    h.plant(".config/fish/config.fish", [
        "set -gx ANTHROPIC_API_KEY (cclogin token)",
        f"set -gx ANTHROPIC_API_KEY {k('api03', 6)}",
    ], {2: ("api_key", "ANTHROPIC_API_KEY", k("api03", 6))})
    h.plant(".local/share/fish/fish_history", [
        "- cmd: ls",
        "  when: 1700000000",
        f"- cmd: export ANTHROPIC_API_KEY={k('api03', 7)}",
        "  when: 1700000001",
    ], {3: ("api_key", "ANTHROPIC_API_KEY", k("api03", 7))})
    # One git repository with three .env files: tracked, ignored, untracked.
    repo = home / "src" / "project"
    h.plant("src/project/.env", [f"ANTHROPIC_API_KEY={k('api03', 8)}"],
            {1: ("api_key", "ANTHROPIC_API_KEY", k("api03", 8))})
    h.plant("src/project/.env.local", ["# local", f"ANTHROPIC_API_KEY='{k('api03', 9)}'"],
            {2: ("api_key", "ANTHROPIC_API_KEY", k("api03", 9))})
    h.plant("src/project/app/.env", [f"CLAUDE_CODE_OAUTH_TOKEN={k('oat01', 10)}"],
            {1: ("oauth_token", "CLAUDE_CODE_OAUTH_TOKEN", k("oat01", 10))})
    h.write("src/project/.env.example", (
        "ANTHROPIC_API_KEY=cclogin://team\n"
        "ANTHROPIC_AUTH_TOKEN=your-gateway-token-here\n"
        "CLAUDE_CODE_OAUTH_TOKEN=sk-ant-...\n"
    ))
    h.write("src/project/.gitignore", ".env.local\n")
    git(repo, "init", "-q")
    git(repo, "add", ".env", ".env.example", ".gitignore")
    git(repo, "commit", "-q", "-m", "init")
    h.plant(".claude.json", [
        "{",
        '  "numStartups": 3,',
        f'  "primaryApiKey": "{k("api03", 11)}",',
        '  "theme": "dark"',
        "}",
    ], {3: ("api_key", "primaryApiKey", k("api03", 11))})
    h.plant(".config/costs/config.json", [
        "{",
        f'  "admin_key": "{k("admin01", 12)}"',
        "}",
    ], {2: ("admin_key", "admin_key", k("admin01", 12))})
    h.write("notes.md", (
        "Anthropic keys start with sk-ant- and must stay secret.\n"
        f"A truncated one: {k('api03', 13, length=30)} is too short to be a key.\n"
        "Use ANTHROPIC_API_KEY=$(cclogin token) or ANTHROPIC_API_KEY=cclogin://team.\n"
    ))
    h.decoys += [k("api03", 13, length=30)]
    # Where scan must not look (or must skip and say so).
    h.write("src/project/node_modules/pkg/index.js", f"const key = '{k('api03', 14)}';\n")
    h.not_found.append(k("api03", 14))
    if big_log:
        log = home / "logs" / "big.log"
        log.parent.mkdir(parents=True)
        with log.open("wb") as f:
            f.truncate(50 << 20)
            f.seek(49 << 20)
            f.write(f"\nexport ANTHROPIC_API_KEY={k('api03', 15)}\n".encode())
        h.not_found.append(k("api03", 15))
    h.write("secrets.env", f"ANTHROPIC_API_KEY={k('api03', 16)}\n", base=outside)
    (home / "linked.env").symlink_to(outside / "secrets.env")
    h.not_found.append(k("api03", 16))
    return h
