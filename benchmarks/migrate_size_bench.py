"""How long, and how much memory, does `cclogin migrate` take on a large `~/.claude.json`?

For each size: a fresh home with a `.claude.json` of that size (the shape Claude Code
writes, tests/support/big_claude_json.py) holding a `primaryApiKey`, then whole
processes, each measured by the kernel (wall time, and peak RSS from wait4, through
the small launcher of tests/support/peak_rss.py so that this process's own memory is
not counted in the child's):

    cclogin migrate          (into the encrypted file: passphrase file, test-only weak KDF)
    cclogin migrate --undo   (the file written back)

Peak RSS is given as growth over the same command on a tiny `.claude.json` (the
interpreter, its imports and the store), and as a multiple of the file's size; the
target is at most 3x. Usage:

    .venv/bin/python benchmarks/migrate_size_bench.py [--sizes 15,50,100] [-n 3]
    PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/migrate_size_bench.py

(the second line measures another checkout's code: `git worktree add /tmp/before REV`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.big_claude_json import write_claude_json
from support.peak_rss import run_measured

KEY = "sk-ant-api03-test-bench-0001"
TARGET_RSS_FACTOR = 3.0


@dataclass
class Run:
    code: int
    seconds: float
    max_rss: int  # bytes
    stderr: str


def run(args: list[str], env: dict[str, str]) -> Run:
    start = time.perf_counter()
    result, peak = run_measured(args, env)
    return Run(result.returncode, time.perf_counter() - start, peak, result.stderr)


def environment(root: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CCLOGIN_", "CLAUDE_", "ANTHROPIC_", "XDG_"))
    }
    passphrase = root / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    passphrase.chmod(0o600)
    env.update(
        HOME=str(root / "home"),
        CCLOGIN_HOME=str(root / "cclogin"),
        CCLOGIN_BACKEND="encrypted-file",
        CCLOGIN_PASSPHRASE_FILE=str(passphrase),
        CCLOGIN_TEST_ONLY_WEAK_KDF="1",
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def one_round(size: int, cclogin: list[str]) -> tuple[Run, Run, bool]:
    """(migrate, undo, byte-exact?) on a fresh home with a file of `size` bytes."""
    root = Path(tempfile.mkdtemp(prefix="cclogin-migrate-bench-"))
    try:
        env = environment(root)
        (root / "home" / ".claude").mkdir(parents=True)
        path = root / "home" / ".claude.json"
        if size:
            made = write_claude_json(path, size, KEY)
        else:
            path.write_text(f'{{\n  "numStartups": 1,\n  "primaryApiKey": "{KEY}"\n}}\n')
        path.chmod(0o600)
        original = path.read_bytes()
        migrated = run([*cclogin, "migrate"], env)
        exact = True
        if size and migrated.code == 0:
            exact = path.read_bytes() == made.expected_after(original)
        undone = run([*cclogin, "migrate", "--undo"], env)
        if migrated.code == 0:
            exact = exact and path.read_bytes() == original
        return migrated, undone, exact
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="15,50,100", help="file sizes in MB, comma-separated")
    parser.add_argument("-n", type=int, default=3, help="rounds per size (medians are shown)")
    args = parser.parse_args()
    cclogin = [sys.executable, "-m", "cclogin"]
    where = os.environ.get("PYTHONPATH") or "the installed package"
    print(f"cclogin from {where}; {args.n} round(s) per size; medians")
    base = [one_round(0, cclogin) for _ in range(args.n)]
    base_rss = statistics.median(r[0].max_rss for r in base)
    base_undo = statistics.median(r[1].max_rss for r in base)
    print(
        f"tiny file: migrate {statistics.median(r[0].seconds for r in base):.2f} s, "
        f"peak RSS {base_rss / 2**20:.0f} MB (the baseline below)"
    )
    print(
        f"{'size':>7} | {'migrate':>8} | {'peak RSS (+ over baseline, x file)':>36} | "
        f"{'undo':>6} | {'undo peak RSS (+, x)':>24} | result"
    )
    worst = 0.0
    for mb in (float(s) for s in args.sizes.split(",")):
        size = int(mb * 2**20)
        rounds = [one_round(size, cclogin) for _ in range(args.n)]
        m, u = [r[0] for r in rounds], [r[1] for r in rounds]
        rss = statistics.median(r.max_rss for r in m)
        urss = statistics.median(r.max_rss for r in u)
        growth, ugrowth = (rss - base_rss) / size, (urss - base_undo) / size
        if all(r.code == 0 for r in m):
            worst = max(worst, growth, ugrowth)
            result = "ok, byte-exact" if all(r[2] for r in rounds) else "ok, BYTES DIFFER"
        else:
            why = next(r.stderr for r in m if r.code != 0).strip().splitlines()
            result = f"exit {m[0].code}: {why[0] if why else '?'}"[:110]
        print(
            f"{mb:>5g}MB | {statistics.median(r.seconds for r in m):>6.2f} s | "
            f"{rss / 2**20:>6.0f} MB (+{(rss - base_rss) / 2**20:>4.0f} MB, {growth:>4.2f}x)"
            f"{'':>9} | {statistics.median(r.seconds for r in u):>4.2f} s | "
            f"{urss / 2**20:>5.0f} MB (+{(urss - base_undo) / 2**20:>4.0f}, {ugrowth:>4.2f}x) | {result}"
        )
    print(f"target: peak RSS growth <= {TARGET_RSS_FACTOR:g}x the file; worst {worst:.2f}x")
    return 0 if worst <= TARGET_RSS_FACTOR else 1


if __name__ == "__main__":
    sys.exit(main())
