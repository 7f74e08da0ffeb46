"""Finding legacy files and what is in them (no writes: `--dry-run` and `doctor` use it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CcloginError
from .files import Read, hard_linked, read_source
from .locations import is_claude_temp, legacy_locations, location_note
from .sources import Detection, detect


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
    found: list[Scanned] = []
    for path, explicit in candidate_paths(environ, list(extra or [])):
        item = Scanned(path, explicit=explicit, note=location_note(path, environ))
        try:
            item.read = read_source(path)
        except CcloginError as exc:
            item.error = exc
            found.append(item)
            continue
        if item.read is None:
            if explicit:
                item.error = CcloginError(
                    f"{path} does not exist", "check the path given to --from"
                )
                found.append(item)
            continue
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
        found.append(item)
    return found
