"""The migration journal: what a run intends, written before it changes anything.

One JSON file per source file being migrated (or profile being undone), in
`paths.journal_dir`. It holds no secret: paths, profile metadata and SHA-256 digests
of file contents, so a later run can tell which state a killed run left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CcloginError
from ..fsio import atomic_write, file_lock, try_file_lock
from ..paths import Paths
from .pending import JOURNAL_SUFFIX


@dataclass
class Journal:
    id: str
    op: str  # "migrate" or "undo"
    path: str  # the legacy file
    source_sha: str  # the file as read (migrate) / as written back (undo)
    after_sha: str  # the file once the plaintext is gone
    delete: bool
    mode: int
    backup: str | None
    keep_backup: bool
    claude_file: bool
    profiles: list[dict[str, Any]] = field(default_factory=list)  # profile, blob_sha, was_new
    reference: bool = False  # .env: the key was replaced by a reference (--leave-reference)

    def file(self, paths: Paths) -> Path:
        return paths.journal_dir / f"{self.id}{JOURNAL_SUFFIX}"

    def write(self, paths: Paths) -> None:
        doc = {"v": 1, **self.__dict__}
        atomic_write(self.file(paths), json.dumps(doc, indent=2, sort_keys=True).encode())

    def remove(self, paths: Paths) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.file(paths).unlink()

    @classmethod
    def load(cls, path: Path) -> Journal:
        try:
            doc = json.loads(path.read_bytes())
            doc.pop("v")
            return cls(**doc)
        except (OSError, ValueError, TypeError, KeyError):
            raise CcloginError(
                f"migration journal {path} is unreadable",
                "move it aside and run `cclogin migrate` again; no credential is in it",
            ) from None


def journal_files(paths: Paths) -> list[Path]:
    try:
        names = sorted(os.listdir(paths.journal_dir))
    except FileNotFoundError:
        return []
    return [paths.journal_dir / n for n in names if n.endswith(JOURNAL_SUFFIX)]


@contextlib.contextmanager
def migrate_lock(paths: Paths) -> Iterator[None]:
    """Held by every run that migrates, undoes or recovers: one at a time."""
    with file_lock(paths.lock_file("migrate")):
        yield


@contextlib.contextmanager
def try_migrate_lock(paths: Paths) -> Iterator[bool]:
    """Like migrate_lock but never waits: False when another run holds it."""
    if os.name != "posix":  # pragma: no cover - Windows: recover only from `migrate`
        yield False
        return
    with try_file_lock(paths.lock_file("migrate")) as mine:
        yield mine
