"""What a scan found and what it skipped: the records behind `--json` (docs/scan.md).

A finding never holds the secret: only where it is (byte spans a fixer can cut or
replace), what it looks like, and its SHA-256 (the first 8 hex digits are shown; the
whole digest stays in memory to compare with the store and with git's history).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .histories import HistoryFormat
from .patterns import Kind

SCHEMA = 1
FINGERPRINT_HEX = 8
MIN_FINGERPRINTED = 20  # a shorter value could be guessed back from 32 bits of its hash

Shape = Literal["history", "rc", "dotenv", "json", "fish_variables", "text"]
Location = Literal["claude-code", "shell-rc", "shell-history", "config", "file"]
InStore = Literal["yes", "no", "unknown"]
GitStatus = Literal["tracked", "ignored", "untracked", "none", "unknown"]
SkipReason = Literal[
    "binary",
    "too_large",
    "unreadable",
    "dependency_dir",
    "cache_dir",
    "symlink_inside",
    "symlink_outside",
    "other_filesystem",
    "special",
    "loop",
]
SKIP_LABELS: dict[str, tuple[str, str]] = {  # reason -> (one, several)
    "binary": ("binary file", "binary files"),
    "too_large": ("file too large", "files too large"),
    "unreadable": ("unreadable file or folder", "unreadable files or folders"),
    "dependency_dir": ("dependency or VCS folder", "dependency or VCS folders"),
    "cache_dir": ("cache folder (CACHEDIR.TAG)", "cache folders (CACHEDIR.TAG)"),
    "symlink_inside": (
        "symlink into the roots (its target is scanned where it is)",
        "symlinks into the roots (their targets are scanned where they are)",
    ),
    "symlink_outside": (
        "symlink out of the roots (not followed)",
        "symlinks out of the roots (not followed)",
    ),
    "other_filesystem": ("other file system (not entered)", "other file systems (not entered)"),
    "special": ("special file (not regular)", "special files (not regular)"),
    "loop": ("folder seen twice (bind mount)", "folders seen twice (bind mounts)"),
}


def digest_of(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def fingerprint_of(secret: bytes) -> str | None:
    """The first 8 hex digits of SHA-256(secret); None for a value too short to hide."""
    if len(secret) < MIN_FINGERPRINTED:
        return None
    return hashlib.sha256(secret).hexdigest()[:FINGERPRINT_HEX]


@dataclass(frozen=True)
class GitInfo:
    status: GitStatus = "none"
    repo: Path | None = None
    in_history: bool | None = None  # the secret is in a commit of this path (any ref)

    @property
    def leaked(self) -> bool:
        return self.status == "tracked" or self.in_history is True


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int  # 1-based
    column: int  # 1-based, in bytes
    span: tuple[int, int]  # the secret's bytes in the file, [start, end)
    line_span: tuple[int, int]  # its line, line break excluded
    entry_span: tuple[int, int]  # what a fixer cuts: the line (or history entry) and its break
    kind: Kind
    exact_shape: bool
    variable: str | None  # ANTHROPIC_API_KEY, primaryApiKey, ...; None for a bare key
    quote: str  # how the value is written: '"', "'" or ""
    shape: Shape
    location: Location
    digest: bytes = field(repr=False)
    fingerprint: str | None = None
    history_format: HistoryFormat | None = None
    note: str = ""
    in_store: InStore = "unknown"
    profiles: tuple[str, ...] = ()
    git: GitInfo = field(default_factory=GitInfo)


@dataclass
class Skipped:
    counts: Counter[str] = field(default_factory=Counter)
    paths: list[tuple[Path, str]] = field(default_factory=list)

    def add(self, path: Path, reason: SkipReason) -> None:
        self.counts[reason] += 1
        self.paths.append((path, reason))


@dataclass
class ScanResult:
    roots: list[Path]
    findings: list[Finding] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    max_size: int = 0
    store: str = "not checked"  # "checked", "partly unreadable", "unreadable", "no profiles"
    home: Path | None = None
