"""How fast is `cclogin scan` next to other scanners, on a home of 100,000 files?

Generates a tree (small text files of shell, config, code and prose, a few folders
deep, a fixed seed) with fake keys planted in some files, checks that every tool
finds exactly the planted keys, then times whole processes, interleaved round by
round (the order rotates each round) after one untimed warm-up round (page cache):

    cclogin scan --no-home --json ROOT      (the installed entry point)
    grep -rIEo PATTERN ROOT                 (GNU grep, the same patterns as ERE)
    rg -o PATTERN ROOT                      (ripgrep, if installed: Debian `ripgrep`)
    trufflehog3 --no-entropy --no-history   (trufflehog3 from PyPI, with the same rule,
                                             if found on PATH or next to this python)

Usage: .venv/bin/python benchmarks/scan_bench.py [--files 100000] [-n 5] [--keep DIR]
gitleaks and the Go trufflehog are not in the registries this project uses (their
npm wrappers download a binary at install time), so they are not run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.scan_home import fake_key

KEY_RE = r"sk-ant-[a-z]+[0-9]*-[A-Za-z0-9_-]{80,256}"
ASSIGN_RE = (
    r"(ANTHROPIC_API_KEY|ANTHROPIC_AUTH_TOKEN|CLAUDE_CODE_OAUTH_TOKEN|primaryApiKey)"
    "[\"']?[ \t]*(=|:)[ \t]*[\"']?[A-Za-z0-9._~+/-]{16,}"
)
PATTERN = f"{ASSIGN_RE}|{KEY_RE}"
WORDS = (
    "alpha", "beta", "gamma", "delta", "config", "server", "client", "token", "request",
    "response", "value", "key", "export", "path", "home", "user", "build", "test", "cache",
    "deploy", "release", "branch", "commit", "module",
)


def _text(rng: random.Random) -> str:
    kind = rng.randrange(4)
    lines = []
    for i in range(rng.randrange(5, 30)):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 12)))
        if kind == 0:
            lines.append(f"export {rng.choice(WORDS).upper()}_{i}={rng.choice(WORDS)}")
        elif kind == 1:
            lines.append(f'  "{rng.choice(WORDS)}{i}": "{words}",')
        elif kind == 2:
            lines.append(f"def {rng.choice(WORDS)}_{i}(x):  # {words}")
        else:
            lines.append(words.capitalize() + ".")
    return "\n".join(lines) + "\n"


def generate(root: Path, files: int, keys: int, seed: int = 12) -> int:
    rng = random.Random(seed)  # noqa: S311 - a reproducible tree, not a secret
    per_leaf = 100
    leaves = max(1, files // per_leaf)
    planted = set(rng.sample(range(files), keys))
    n = 0
    for leaf in range(leaves):
        folder = root / f"d{leaf % 20:02d}" / f"s{leaf // 20 % 10}" / f"l{leaf // 200}"
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(per_leaf if leaf < leaves - 1 else files - n):
            text = _text(rng)
            if n in planted:
                text += f"export ANTHROPIC_API_KEY={fake_key('api03', n)}\n"
            suffix = rng.choice((".txt", ".sh", ".json", ".py", ".md", ".env", ".conf"))
            (folder / f"f{n:06d}{suffix}").write_text(text)
            n += 1
    return len(planted)


def _count_cclogin(out: str) -> int:
    return len(json.loads(out)["findings"])


def _count_lines(out: str) -> int:
    return len([line for line in out.splitlines() if line.strip()])


def _count_trufflehog(out: str) -> int:
    return len(json.loads(out or "[]"))


Command = tuple[list[str], Callable[[str], int]]


def tools(cclogin: str, root: Path, work: Path) -> dict[str, Command]:
    here = Path(sys.executable).parent
    rules = work / "rules.yml"
    rules.write_text(
        "- id: anthropic\n  message: Anthropic key\n  severity: HIGH\n"
        f"  pattern: {json.dumps(PATTERN)}\n"
    )
    out_json = work / "trufflehog.json"
    commands: dict[str, Command] = {
        "cclogin scan": ([cclogin, "scan", "--no-home", "--json", str(root)], _count_cclogin),
        "grep -rIEo": (["grep", "-rIEoh", "--exclude=.generated", PATTERN, str(root)], _count_lines),
    }
    if shutil.which("rg"):
        commands["rg -o"] = (
            ["rg", "-o", "--no-heading", "-N", "-g", "!.generated", "-e", PATTERN, str(root)],
            _count_lines,
        )
    trufflehog = shutil.which("trufflehog3") or shutil.which("trufflehog3", path=str(here))
    if trufflehog:
        commands["trufflehog3"] = (
            [trufflehog, "--no-entropy", "--no-history", "-z", "-r", str(rules), "-f", "JSON",
             "-o", str(out_json), str(root)],
            lambda _out: _count_trufflehog(out_json.read_text()),
        )
    return commands


def measure(commands: dict[str, Command], env: dict[str, str], planted: int, rounds: int) -> dict[str, list[float]] | None:
    for name, (argv, count) in commands.items():
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        found = count(proc.stdout)
        if found != planted:
            print(f"{name} found {found}, not the {planted} planted keys:\n"
                  f"{proc.stderr[-2000:]}", file=sys.stderr)
            return None
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_no in range(rounds):
        shift = round_no % len(names)  # rotate: no tool always runs first or last
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            subprocess.run(
                commands[name][0], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, check=False,
            )
            times[name].append(time.perf_counter() - start)
    return times


def report(times: dict[str, list[float]], files: int, planted: int, rounds: int) -> None:
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"{files} files, {planted} planted keys, every tool found all of them; "
          f"N={rounds} interleaved rounds after one checking round, {os.cpu_count()} CPUs\n")
    print(f"{'command':<16}{'median s':>10}{'min s':>10}{'max s':>10}{'files/s':>12}")
    for name, values in times.items():
        print(f"{name:<16}{med[name]:>10.2f}{min(values):>10.2f}{max(values):>10.2f}"
              f"{files / med[name]:>12,.0f}")
    print()
    base, fastest = med["cclogin scan"], min(times["cclogin scan"])
    for name in list(times)[1:]:
        print(f"cclogin scan / {name:<12}: {base / med[name]:.2f}x of medians, "
              f"{fastest / min(times[name]):.2f}x of minimums")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("-n", type=int, default=5, help="timed rounds")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    args = parser.parse_args()

    cclogin = shutil.which("cclogin", path=str(Path(sys.executable).parent))
    if cclogin is None or shutil.which("grep") is None:
        print("needs the cclogin entry point next to this python, and grep", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cclogin-scan-bench-"))
    try:
        root = args.keep or work / "tree"
        marker = root / ".generated"
        if not marker.exists():
            root.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            marker.write_text(f"{args.files} {generate(root, args.files, args.keys)}\n")
            print(f"generated {args.files} files in {time.perf_counter() - started:.1f} s")
        files, planted = map(int, marker.read_text().split())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CCLOGIN_", "ANTHROPIC_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed wheel runs
        env.update(HOME=str(work / "home"), CCLOGIN_HOME=str(work / "cclogin"), LC_ALL="C")
        (work / "home").mkdir()
        times = measure(tools(cclogin, root, work), env, planted, args.n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if times is None:
        return 1
    report(times, files, planted, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
