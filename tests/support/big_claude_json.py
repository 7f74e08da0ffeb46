"""A large `~/.claude.json` of the shape Claude Code writes, streamed to disk.

Real ones grow with project history: one `projects` entry per folder Claude Code ran
in, each with its prompt history, MCP servers, allowed tools and session stats; the
Console key (`primaryApiKey`) and the account (`oauthAccount`) sit among the settings
around it. Claude Code writes `JSON.stringify(config, null, 2)`: two-space indents,
raw UTF-8 (prompts in other scripts and emoji are not escaped).

    made = write_claude_json(path, 100 << 20, key="sk-ant-api03-...")
    made.expected_after(original)  # those bytes once primaryApiKey is cut out

The expected result is computed from what was written, not by cclogin's own code: the
member and the separator after it (up to the next member's key) are left out.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

_WORDS = (
    "fix the failing test in the parser module and explain why it failed",
    "refactor this function to use a dataclass",
    "why does the build break on arm64?",
    "add a --verbose flag that prints each step",
    "corrige le bug de l'encodage dans le fichier de configuration, s'il te plaît",
    "この関数のテストを書いてください",
    "ship it 🚀 but first run the linter ✅",
    "summarise the last three commits",
    "write a migration that adds an index on users.email",
    "Übersetze die Fehlermeldungen ins Deutsche",
)
_TOOLS = (
    "Bash(npm test:*)",
    "Bash(git status)",
    "Edit",
    "Read(./src/**)",
    "WebFetch(domain:docs.rs)",
)


@dataclass(frozen=True)
class BigClaudeJson:
    path: Path
    size: int
    removed_at: int  # byte offset of the cut
    removed: bytes  # `"primaryApiKey": "...",\n  `

    def expected_after(self, original: bytes) -> bytes:
        """`original` (the file as written) without the member and its separator."""
        end = self.removed_at + len(self.removed)
        assert original[self.removed_at : end] == self.removed
        return original[: self.removed_at] + original[end:]


def _project(rng: random.Random, n: int) -> str:
    """One `projects` entry's value, indented as it sits at depth 2."""
    history = ",\n".join(
        "        {\n"
        f'          "display": {json.dumps(rng.choice(_WORDS) + f" (#{n}.{i})", ensure_ascii=False)},\n'
        '          "pastedContents": {}\n'
        "        }"
        for i in range(rng.randint(20, 80))
    )
    tools = ",\n".join(f"        {json.dumps(t)}" for t in rng.sample(_TOOLS, rng.randint(1, 4)))
    examples = ",\n".join(f'        "src/module_{n}_{i}.py"' for i in range(5))
    session = f"{rng.getrandbits(128):032x}"
    return (
        "{\n"
        f'      "allowedTools": [\n{tools}\n      ],\n'
        f'      "history": [\n{history}\n      ],\n'
        '      "mcpContextUris": [],\n'
        '      "mcpServers": {\n'
        '        "filesystem": {\n'
        '          "type": "stdio",\n'
        '          "command": "npx",\n'
        f'          "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/dev/p{n}"],\n'
        '          "env": {}\n'
        "        }\n"
        "      },\n"
        '      "enabledMcpjsonServers": [],\n'
        '      "disabledMcpjsonServers": [],\n'
        '      "hasTrustDialogAccepted": true,\n'
        f'      "projectOnboardingSeenCount": {rng.randint(0, 4)},\n'
        '      "hasClaudeMdExternalIncludesApproved": false,\n'
        f'      "lastCost": {rng.random() * 3:.6f},\n'
        f'      "lastAPIDuration": {rng.randint(1000, 900000)},\n'
        f'      "lastDuration": {rng.randint(1000, 9000000)},\n'
        f'      "lastSessionId": "{session[:8]}-{session[8:12]}-{session[12:16]}-{session[16:20]}-{session[20:]}",\n'
        f'      "exampleFiles": [\n{examples}\n      ]\n'
        "    }"
    )


def write_claude_json(path: Path, size: int, key: str, seed: int = 13) -> BigClaudeJson:
    """Write a `.claude.json` of at least `size` bytes holding `key` as primaryApiKey."""
    rng = random.Random(seed)
    removed = f'"primaryApiKey": {json.dumps(key)},\n  '.encode()
    head = (
        "{\n"
        '  "numStartups": 812,\n'
        '  "installMethod": "native",\n'
        '  "autoUpdates": false,\n'
        '  "tipsHistory": {\n    "new-user-warmup": 7,\n    "memory-command": 93\n  },\n'
        f'  "userID": "{rng.getrandbits(256):064x}",\n'
        '  "firstStartTime": "2025-03-02T09:14:55.120Z",\n'
        '  "projects": {\n'
    )
    tail = (
        "\n  },\n"
        '  "oauthAccount": {\n'
        '    "accountUuid": "7d1a3c56-0000-4000-8000-000000000001",\n'
        '    "emailAddress": "dev@example.com",\n'
        '    "organizationUuid": "c0ffee00-0000-4000-8000-000000000002",\n'
        '    "displayName": "Dev",\n'
        '    "organizationName": "Example"\n'
        "  },\n"
        '  "hasCompletedOnboarding": true,\n'
        '  "lastOnboardingVersion": "2.1.332",\n'
        "  " + removed.decode() + '"customApiKeyResponses": {\n'
        '    "approved": [],\n    "rejected": []\n'
        "  },\n"
        '  "subscriptionNoticeCount": 0,\n'
        '  "fallbackAvailableWarningThreshold": 0.5\n'
        "}\n"
    )
    written = 0
    with path.open("wb") as f:
        f.write(head.encode())
        written += len(head)
        n = 0
        budget = size - len(tail.encode())
        while written < budget:
            sep = ",\n" if n else ""
            chunk = f'{sep}    "/home/dev/work/project-{n:05d}": {_project(rng, n)}'.encode()
            f.write(chunk)
            written += len(chunk)
            n += 1
        tail_bytes = tail.encode()
        removed_at = written + tail_bytes.index(removed)
        f.write(tail_bytes)
        written += len(tail_bytes)
    return BigClaudeJson(path, written, removed_at, removed)
