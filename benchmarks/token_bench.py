"""How fast is `cclogin token` next to secret-tool and keyring's own CLI?

Starts a private D-Bus bus + gnome-keyring-daemon (the test fixture's code), stores one
key with `cclogin login`, then times whole processes, interleaved round by round so
that drift on the machine hits all three alike:

    cclogin token                                          (the installed entry point)
    secret-tool lookup service cclogin username profile:bench
    python -m keyring get cclogin profile:bench

Usage: .venv/bin/python benchmarks/token_bench.py [-n 50] [--warmup 5]
Targets: cclogin <= 3x secret-tool, and < 0.25x keyring get.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.secret_service import start_secret_service

KEY = "sk-ant-api03-test-bench-0001"
PROFILE = "bench"
TARGET_VS_SECRET_TOOL = 3.0
TARGET_VS_KEYRING = 0.25


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per command first")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE from the environment (no .pyc caching)",
    )
    args = parser.parse_args()

    cclogin = shutil.which("cclogin", path=str(Path(sys.executable).parent))
    if cclogin is None or shutil.which("secret-tool") is None:
        print("needs the cclogin entry point next to this python, and secret-tool", file=sys.stderr)
        return 2
    daemon = start_secret_service()
    try:
        home = Path(tempfile.mkdtemp(prefix="cclogin-bench-"))
        env = daemon.environ()
        env.update(CCLOGIN_HOME=str(home), CCLOGIN_BACKEND="secret-service")
        if not args.no_bytecode:
            # pip compiles .pyc files at install time; an editable install under
            # PYTHONDONTWRITEBYTECODE=1 never gets them and recompiles every module on
            # every run (~25 ms for cclogin alone). Measure what users run.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run(
            [cclogin, "login", "--with-api-key", "--profile", PROFILE],
            input=KEY + "\n", text=True, env=env, check=True, capture_output=True,
        )
        commands = {
            "cclogin token": [cclogin, "token"],
            "secret-tool lookup": [
                "secret-tool", "lookup", "service", "cclogin", "username", f"profile:{PROFILE}",
            ],
            "keyring get": [sys.executable, "-m", "keyring", "get", "cclogin", f"profile:{PROFILE}"],
        }
        # Every tool must really find the item. cclogin decodes it; the other two print
        # the stored text itself (`cl1:<base64url of the credential JSON>`).
        outputs = {
            name: subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
            for name, argv in commands.items()
        }
        raw = outputs["secret-tool lookup"].strip()
        if (
            outputs["cclogin token"] != KEY + "\n"
            or outputs["keyring get"].strip() != raw
            or not raw.startswith("cl1:")
            or KEY.encode() not in base64.urlsafe_b64decode(raw[4:])
        ):
            print(f"the tools disagree: {outputs!r}", file=sys.stderr)
            return 1
        times: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_no in range(args.warmup + args.n):
            # Rotate the order each round: no command always runs first or last.
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                subprocess.run(commands[name], env=env, stdout=subprocess.DEVNULL, check=True)
                elapsed = time.perf_counter() - start
                if round_no >= args.warmup:
                    times[name].append(elapsed)
    finally:
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)

    med = {name: statistics.median(v) for name, v in times.items()}
    cached = "off (PYTHONDONTWRITEBYTECODE kept)" if args.no_bytecode else "on"
    print(f"N={args.n} per command after {args.warmup} warm-up runs, interleaved; "
          f".pyc caching {cached}\n")
    print(f"{'command':<22}{'median ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for name, values in times.items():
        print(f"{name:<22}{med[name] * 1e3:>10.1f}{p90(values) * 1e3:>10.1f}{min(values) * 1e3:>10.1f}")
    vs_tool = med["cclogin token"] / med["secret-tool lookup"]
    vs_keyring = med["cclogin token"] / med["keyring get"]
    print()
    print(f"cclogin / secret-tool : {vs_tool:.2f}x  (target <= {TARGET_VS_SECRET_TOOL}x) "
          f"{'OK' if vs_tool <= TARGET_VS_SECRET_TOOL else 'MISSED'}")
    print(f"cclogin / keyring get : {vs_keyring:.2f}x  (target < {TARGET_VS_KEYRING}x) "
          f"{'OK' if vs_keyring < TARGET_VS_KEYRING else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
