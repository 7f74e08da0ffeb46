"""Finding legacy files and what is in them (no writes: `--dry-run` and `doctor` use it).

Each file is read and parsed once. The bytes of a large one (a `~/.claude.json` and
its five backups can be 100 MB each) are let go once it is detected, so a scan holds
one large file at a time; `loaded` reads it again when its turn comes and reuses the
detection when the bytes are the same (same SHA-256), parsing only a changed file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import CcloginError
from .files import (
    MAX_SIZE_ENV,
    Read,
    SourceTooLarge,
    hard_linked,
    human_size,
    read_source,
    source_limit,
    too_large,
)
from .locations import is_claude_temp, legacy_locations, location_note
from .sources import Detection, credential_names, detect

HELD = 1 << 20  # a scan keeps the bytes of files up to this size (credential files)


@dataclass
class Scanned:
    path: Path
    read: Read | None = None
    detection: Detection = field(default_factory=Detection)
    error: CcloginError | None = None  # could not be read safely
    explicit: bool = False  # named with --from
    note: str = ""  # what the location is, for people (locations.location_note)

    @property
    def has_credentials(self) -> bool:
        return bool(self.detection.hits)

    @property
    def abandoned_temp(self) -> bool:
        """A killed Claude Code write's temp file that does not parse: only deleting helps."""
        return is_claude_temp(self.path) and self.detection.problem is not None

    @property
    def exposed_kept(self) -> bool:
        """Claude Code's secrets stay in it (KEPT_SECRET_KEYS) but others can read it."""
        return bool(self.detection.kept) and self.read is not None and self.read.exposed


def candidate_paths(environ: Mapping[str, str], extra: list[Path]) -> list[tuple[Path, bool]]:
    seen: set[str] = set()
    out: list[tuple[Path, bool]] = []
    for path, explicit in [
        *((p, False) for p in legacy_locations(environ)),
        *((p, True) for p in extra),
    ]:
        absolute = Path(path).expanduser().absolute()
        key = str(absolute)
        if key in seen:
            continue
        seen.add(key)
        out.append((absolute, explicit))
    return out


def scan(environ: Mapping[str, str], extra: list[Path] | None = None) -> list[Scanned]:
    """Every candidate file that exists (and every --from file, existing or not)."""
    limit = source_limit(environ)
    found: list[Scanned] = []
    for path, explicit in candidate_paths(environ, list(extra or [])):
        item = inspect(path, explicit, location_note(path, environ), limit)
        if item is None:
            continue
        if item.read is not None and item.read.size > HELD:
            item.read = item.read.released()
        found.append(item)
    return found


def inspect(path: Path, explicit: bool, note: str, limit: int) -> Scanned | None:
    """One file read and detected; None for a missing file that was not asked for."""
    item = Scanned(path, explicit=explicit, note=note)
    try:
        item.read = read_source(path, limit)
    except SourceTooLarge as exc:
        names, kept = credential_names(path)
        if names:
            item.error = too_large(path, exc.size, exc.limit, names)
        else:
            item.detection.notes.append(
                f"{path} is {human_size(exc.size)}, more than the {human_size(exc.limit)} "
                f"cclogin reads ({MAX_SIZE_ENV}), and names no credential migrate moves "
                "(read through for their names); left alone"
                + ("; it names secrets Claude Code keeps in its files" if kept else "")
            )
        return item
    except CcloginError as exc:
        item.error = exc
        return item
    if item.read is None:
        if not explicit:
            return None
        item.error = CcloginError(f"{path} does not exist", "check the path given to --from")
        return item
    item.detection = detect(path, item.read.data)
    if item.read.nlink > 1 and item.detection.hits:
        item.error = hard_linked(path, item.read.nlink)
    if item.abandoned_temp:
        item.detection.problem = (
            f"{path} is an abandoned temp file of Claude Code's (a killed write) and "
            "looks like it holds a credential, but it does not parse; left as it is"
        )
        item.detection.hint = (
            f"delete it with `rm {path}`: Claude Code never reads its temp files back"
        )
    return item


def loaded(item: Scanned, limit: int) -> Scanned:
    """`item` with its file's bytes in memory (a scan let go of a large file's).

    The same bytes (same digest) keep their detection, so the file is not parsed again;
    a file that changed since the scan is detected afresh."""
    if item.read is None or item.read.held:
        return item
    try:
        again = read_source(item.path, limit)
    except CcloginError:
        again = None
    if again is not None and again.digest == item.read.digest:
        return replace(item, read=again)
    fresh = inspect(item.path, item.explicit, item.note, limit)
    return fresh if fresh is not None else replace(item, read=None, detection=Detection())
