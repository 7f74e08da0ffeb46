"""What the read-only commands cost on the Secret Service: wall time and D-Bus calls.

Starts a private D-Bus bus + gnome-keyring-daemon (the test fixture's code), logs one
API key in with `cclogin login` (the backend chosen by the selection), then for each of
`status`, `status --json`, `doctor` and `backends`:

- counts the D-Bus method calls one run sends (a `dbus-monitor` on the private bus,
  by member; nothing else talks on that bus, and a monitor does not see its own calls)
  and names any CreateItem, Delete, Unlock, SetSecret or Lock among them;
- times whole processes, interleaved round by round (the order rotates each round).

With `--before SRC` (a copy of an older `src/` folder) every command also runs from
that copy (PYTHONPATH), interleaved with the current one, against the same daemon.

Usage: .venv/bin/python benchmarks/status_bench.py [-n 30] [--warmup 3] [--before SRC]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.secret_service import SecretServiceDaemon, start_secret_service

KEY = "sk-ant-api03-test-bench-status-0001"
COMMANDS = {
    "status": ["status"],
    "status --json": ["status", "--json"],
    "doctor": ["doctor"],
    "backends": ["backends"],
}
WRITES = ("CreateItem", "Delete", "Unlock", "SetSecret", "Lock")


def calls_of_one_run(
    daemon: SecretServiceDaemon, argv: list[str], env: dict[str, str]
) -> collections.Counter[str]:
    """Method calls (by member) sent while `argv` runs once."""
    monitor = subprocess.Popen(
        [
            "dbus-monitor",
            "--address",
            daemon.env["DBUS_SESSION_BUS_ADDRESS"],
            "--profile",
            "type='method_call'",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(0.3)  # let the monitor attach (setup, not a measurement)
        subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        time.sleep(0.3)
    finally:
        monitor.terminate()
        out, _ = monitor.communicate(timeout=10)
    counts: collections.Counter[str] = collections.Counter()
    # --profile: "mc <time> <serial> <sender> <destination> <path> <interface> <member>"
    for line in out.splitlines():
        fields = line.split("\t")
        if fields[0] == "mc" and len(fields) >= 8:
            counts[fields[7]] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per command first")
    parser.add_argument("--before", type=Path, help="an older src/ to compare with")
    args = parser.parse_args()

    cclogin = shutil.which("cclogin", path=str(Path(sys.executable).parent))
    if cclogin is None or shutil.which("dbus-monitor") is None:
        print(
            "needs the cclogin entry point next to this python, and dbus-monitor", file=sys.stderr
        )
        return 2
    daemon = start_secret_service()
    home = Path(tempfile.mkdtemp(prefix="cclogin-bench-"))
    try:
        env = daemon.environ()
        env.update(CCLOGIN_HOME=str(home))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # .pyc cached, as in a wheel
        env.pop("PYTHONPATH", None)
        variants = {"": env}
        if args.before is not None:
            variants = {"now": env, "before": {**env, "PYTHONPATH": str(args.before.resolve())}}
        subprocess.run(
            [cclogin, "login", "--with-api-key", "--profile", "bench"],
            input=KEY + "\n",
            text=True,
            env=env,
            check=True,
            capture_output=True,
        )
        runs = {
            f"{name} {variant}".strip(): ([cclogin, *rest], venv)
            for name, rest in COMMANDS.items()
            for variant, venv in variants.items()
        }
        for argv, venv in runs.values():  # warm the .pyc caches
            subprocess.run(argv, env=venv, capture_output=True, check=False)
        calls = {name: calls_of_one_run(daemon, argv, venv) for name, (argv, venv) in runs.items()}
        times: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for round_no in range(args.warmup + args.n):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                argv, venv = runs[name]
                start = time.perf_counter()
                subprocess.run(
                    argv,
                    env=venv,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
                if round_no >= args.warmup:
                    times[name].append(time.perf_counter() - start)
    finally:
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)

    print(f"N={args.n} per command after {args.warmup} warm-up runs, interleaved\n")
    print(f"{'command':<24}{'median ms':>10}{'min ms':>9}{'D-Bus calls':>13}  writes/unlocks")
    for name in runs:
        med = statistics.median(times[name]) * 1e3
        low = min(times[name]) * 1e3
        wrote = ", ".join(f"{m} x{calls[name][m]}" for m in WRITES if calls[name][m]) or "none"
        print(f"{name:<24}{med:>10.1f}{low:>9.1f}{sum(calls[name].values()):>13}  {wrote}")
    print()
    for name in runs:
        detail = ", ".join(f"{m} {c}" for m, c in sorted(calls[name].items()))
        print(f"{name}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
