"""`cclogin scan`: walk, read each file once, then ask git and the store about the hits."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..accounts.context import AppContext
from ..migrate.locations import claude_config_dir, claude_credentials_dir, location_note
from ..paths import user_home
from .detect import BINARY, FileKind, findings_in
from .findings import Finding, Location, ScanResult, Shape, SkipReason
from .gitinfo import GitProbe
from .histories import FISH_NAMES, FISH_VARIABLES, format_of
from .instore import read_store
from .walk import HISTORY_NAMES, Under, Walker, home_areas, known_places, within

DEFAULT_MAX_SIZE = 10 << 20
_OPEN = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclass(frozen=True)
class ScanOptions:
    roots: tuple[Path, ...] = ()  # none: the home
    home_places: bool = True  # the home's known places too (`--no-home`: only the roots)
    max_size: int = DEFAULT_MAX_SIZE
    check_store: bool = True
    check_git: bool = True


def _real(path: Path | str) -> str:
    return os.path.realpath(os.path.expanduser(path))


KNOWN_PLACE_MAX = 1 << 30  # as migrate's default limit for ~/.claude.json


class _Scanner:
    def __init__(self, env: Mapping[str, str], result: ScanResult, max_size: int) -> None:
        self.env = env
        self.result = result
        self.max_size = max_size
        self.seen: set[tuple[int, int]] = set()
        home = Path(_real(user_home(dict(env))))
        dirs = (claude_config_dir(env), claude_credentials_dir(env), home / ".claude")
        self.in_claude_dirs = Under([_real(p) for p in dirs])
        self.in_config_dir = Under([_real(home_areas(env)[0])])
        self.fixed: dict[str, Location] = {}

    def skip(self, path: str, reason: SkipReason) -> None:
        self.result.skipped.add(Path(path), reason)

    def location(self, path: str) -> Location:
        if path in self.fixed:
            return self.fixed[path]
        if self.in_claude_dirs(path):
            return "claude-code"
        if self.in_config_dir(path):
            return "config"
        return "file"

    def kind(self, path: str, location: Location, head: bytes) -> FileKind:
        name = os.path.basename(path)
        fmt = None
        if location == "shell-history" or name in HISTORY_NAMES or name in FISH_NAMES:
            fmt = format_of(name, head) or "bash"
        shape: Shape
        if fmt is not None:
            shape = "history"
        elif name == FISH_VARIABLES:
            shape = "fish_variables"
        elif location == "shell-rc" or name == ".envrc" or name.endswith(".fish"):
            shape = "rc"
        elif name.startswith(".env") or name.endswith(".env"):
            shape = "dotenv"
        elif ".json" in name or (location == "claude-code" and head.lstrip()[:1] == b"{"):
            shape = "json"  # `x.json`, Claude Code's `.claude.json.backup.<ms>`
        else:
            shape = "text"
        note = location_note(Path(path), self.env) if location == "claude-code" else ""
        return FileKind(shape, location, fmt, note)

    def file(self, path: str, location: Location | None = None) -> None:
        try:
            fd = os.open(path, _OPEN)
        except FileNotFoundError:
            return
        except OSError:
            self.skip(path, "unreadable")
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.skip(path, "special")
                return
            if (st.st_dev, st.st_ino) in self.seen:
                return
            self.seen.add((st.st_dev, st.st_ino))
            # The places Claude Code and the shells write are read whole however they
            # grew (a ~/.claude.json of 100 MB still holds primaryApiKey); they are
            # read in blocks, so memory stays bounded. The size cap is for the walk.
            limit = max(self.max_size, KNOWN_PLACE_MAX) if location is not None else self.max_size
            if st.st_size > limit:
                self.skip(path, "too_large")
                return
            outcome = findings_in(
                fd, st.st_size, limit, path,
                lambda head: self.kind(path, location or self.location(path), head),
            )
            if outcome is BINARY:
                self.skip(path, "binary")
                return
            found, read = outcome
            self.result.findings += found
            self.result.files += 1
            self.result.bytes += read
        except OSError:
            self.skip(path, "unreadable")
        finally:
            os.close(fd)


def scan(ctx: AppContext, options: ScanOptions) -> ScanResult:
    env = ctx.environ
    started = time.monotonic()
    home = _real(user_home(dict(env)))
    roots = [_real(r) for r in options.roots] or [home]
    places = known_places(env) if options.home_places else []
    # Walked beside the roots (a folder inside a root is not walked twice).
    areas = [_real(p) for p in home_areas(env)] if options.home_places else []
    allowed = [*roots, *areas, *([home] if options.home_places else [])]
    result = ScanResult(roots=[Path(r) for r in roots], max_size=options.max_size, home=Path(home))
    scanner = _Scanner(env, result, options.max_size)
    walker = Walker(allowed, result.skipped)
    for place, location in places:
        path = os.path.abspath(os.path.expanduser(place))
        if os.path.islink(path):
            real = os.path.realpath(path)
            if not within(real, allowed):
                walker.symlink(path)
                continue
            path = real
        scanner.fixed.setdefault(path, location)
    for path, location in scanner.fixed.items():
        scanner.file(path, location)
    for root in [*roots, *areas]:
        if os.path.isdir(root):
            for path in walker.files(root):
                scanner.file(path)
        elif os.path.exists(root):
            scanner.file(root)
    result.findings.sort(key=lambda f: (str(f.path), f.span))
    if result.findings and options.check_git:
        result.findings = _with_git(result.findings, GitProbe(env, options.max_size, ctx.debug))
    if result.findings and options.check_store:
        view = read_store(ctx)
        result.store = view.state
        result.findings = [
            dataclasses.replace(f, in_store=state, profiles=names)
            for f in result.findings
            for state, names in [view.lookup(f.digest)]
        ]
    result.seconds = time.monotonic() - started
    return result


def _with_git(findings: list[Finding], probe: GitProbe) -> list[Finding]:
    by_path: dict[Path, set[bytes]] = {}
    for f in findings:
        by_path.setdefault(f.path, set()).add(f.digest)
    infos = {path: probe.info(path, digests) for path, digests in by_path.items()}
    return [dataclasses.replace(f, git=infos[f.path][f.digest]) for f in findings]
