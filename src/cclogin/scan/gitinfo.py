"""Is a file with a finding in git: tracked, ignored, untracked; and was the secret
ever committed at that path?

git runs in the repository that holds the file (the nearest `.git` above it), with
every `GIT_*` variable of ours removed (a `GIT_DIR` or `GIT_INDEX_FILE` would point
it elsewhere), `core.fsmonitor` off (a repository's config could name a program to
run), literal pathspecs, and a timeout. git's own `safe.directory` check is kept: a
repository of another user gives "unknown", not a run of that user's config.

History: the blobs of that path in every commit of every ref (at most
`MAX_BLOBS`, each at most the scan's size limit) are read through one
`git cat-file --batch` and searched with the scan's own patterns; only digests are
compared, so no secret is ever passed to git or kept. A key committed under
another name (before a rename) is not seen.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from .detect import digests_in
from .findings import GitInfo, GitStatus

TIMEOUT = 20.0
MAX_BLOBS = 200
MAX_HISTORY_BYTES = 64 << 20  # all old versions of one path read, at most
_ZERO = "0" * 40


def git_environ(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("GIT_")}
    env.update(GIT_LITERAL_PATHSPECS="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    env.pop("GIT_CONFIG_PARAMETERS", None)
    return env


def repository_of(path: Path) -> Path | None:
    for folder in path.parents:
        if os.path.lexists(folder / ".git"):
            return folder
    return None


class GitProbe:
    def __init__(
        self, environ: Mapping[str, str], max_size: int, debug: Callable[[str], None]
    ) -> None:
        self.env = git_environ(environ)
        self.max_size = max_size
        self.debug = debug
        self._history: dict[Path, set[bytes] | None] = {}

    def _git(
        self, repo: Path, *args: str, stdin: bytes | None = None, literal: bool = True
    ) -> subprocess.CompletedProcess[bytes] | None:
        argv = ["git", "-c", "core.fsmonitor=false", "-C", str(repo), *args]
        env = self.env
        if not literal:  # check-ignore takes paths, and refuses the literal magic
            env = {k: v for k, v in env.items() if k != "GIT_LITERAL_PATHSPECS"}
        try:
            return subprocess.run(
                argv, input=stdin, capture_output=True, env=env, timeout=TIMEOUT, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            self.debug(f"git {args[0]} in {repo}: {type(exc).__name__}")
            return None

    def info(self, path: Path, digests: set[bytes]) -> dict[bytes, GitInfo]:
        """GitInfo for each digest found in `path`."""
        repo = repository_of(path)
        if repo is None:
            return {d: GitInfo("none") for d in digests}
        rel = os.path.relpath(path, repo)
        tracked = self._git(repo, "ls-files", "--error-unmatch", "--", rel)
        status: GitStatus
        if tracked is None or tracked.returncode not in (0, 1):
            why = tracked.stderr.decode(errors="replace").strip()[:200] if tracked else ""
            self.debug(f"git ls-files in {repo} failed: {why}")
            return {d: GitInfo("unknown", repo) for d in digests}
        if tracked.returncode == 0:
            status = "tracked"
        else:
            ignored = self._git(repo, "check-ignore", "-q", "--", rel, literal=False)
            if ignored is None or ignored.returncode not in (0, 1):
                status = "unknown"
            else:
                status = "ignored" if ignored.returncode == 0 else "untracked"
        history = self.history(repo, rel)
        return {
            d: GitInfo(status, repo, None if history is None else d in history)
            for d in digests
        }

    def history(self, repo: Path, rel: str) -> set[bytes] | None:
        """Digests of every credential in any committed version of `rel`."""
        key = repo / rel
        if key in self._history:
            return self._history[key]
        result: set[bytes] | None = None
        log = self._git(
            repo, "log", "--all", "--format=", "--raw", "--no-abbrev", "--no-renames", "--", rel
        )
        if log is not None and log.returncode == 0:
            blobs: list[str] = []
            for line in log.stdout.decode(errors="replace").splitlines():
                fields = line.split()
                new = fields[3] if line.startswith(":") and len(fields) >= 4 else _ZERO
                if new != _ZERO and new not in blobs:
                    blobs.append(new)
            result = self._blob_digests(repo, blobs[:MAX_BLOBS])
        self._history[key] = result
        return result

    def _blob_digests(self, repo: Path, blobs: list[str]) -> set[bytes] | None:
        if not blobs:
            return set()
        check = self._git(repo, "cat-file", "--batch-check", stdin=_lines(blobs))
        if check is None or check.returncode != 0:
            return None
        small, total = [], 0
        for line in check.stdout.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "blob" and int(parts[2]) <= self.max_size:
                total += int(parts[2])
                if total > MAX_HISTORY_BYTES:
                    break
                small.append(parts[0])
        if not small:
            return set()
        batch = self._git(repo, "cat-file", "--batch", stdin=_lines(small))
        if batch is None or batch.returncode != 0:
            return None
        found: set[bytes] = set()
        out, at = batch.stdout, 0
        while at < len(out):
            header_end = out.index(b"\n", at)
            header = out[at:header_end].split()
            if len(header) != 3:  # `<id> missing`: no content follows
                at = header_end + 1
                continue
            size = int(header[2])
            body = out[header_end + 1 : header_end + 1 + size]
            found |= digests_in(body)
            at = header_end + 1 + size + 1
        return found


def _lines(names: list[str]) -> bytes:
    return "".join(n + "\n" for n in names).encode()
