"""What `logout --all` and one more `login` cost with many profiles (issue 13, item 5).

Starts a private D-Bus bus + gnome-keyring-daemon (the test fixture's code). For each
profile count (10, 50, 200 by default) and each round:

- N API-key profiles are created in the Secret Service (one helper process through
  cclogin's own store and metadata code, the same for every variant);
- one more `cclogin login --with-api-key` is run as users run it (no CCLOGIN_BACKEND:
  the selection's round trip included), watched;
- `cclogin logout --all` is run, watched, and `secret-tool search service cclogin`
  must find nothing afterwards;
- the same on the encrypted file (weak test-only KDF): N records, `logout --all`.

Watched means: the D-Bus method calls sent on the private bus while it ran (a
`dbus-monitor`, tests/support/command_cost.py; the daemon's own calls to the bus
included), the connections opened (Hello calls), and the rewrites of metadata.json,
keychain-index.json and store.cclogin (inotify). Wall time is the whole process.

With `--before SRC` (an older `src/` folder, e.g. of `git worktree add`) the commands
also run from that copy (PYTHONPATH), interleaved round by round with the current one.

Usage: .venv/bin/python benchmarks/logout_many_bench.py [-n 3] [--sizes 10,50,200] [--before SRC]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.command_cost import BusCount, Rewrites, make_profiles
from support.secret_service import SecretServiceDaemon, start_secret_service

PASSPHRASE = "logout-many-bench passphrase"

def watched(
    daemon: SecretServiceDaemon | None, argv: list[str], env: dict[str, str], home: Path,
    log: Path, stdin: str = "",
) -> dict[str, float]:
    folders = (home / "config", home / "data")
    counter = BusCount(daemon, log) if daemon is not None else contextlib.nullcontext()
    with counter as bus, Rewrites(*folders) as files:
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True,
                              check=False)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:])} failed (rc {proc.returncode}):\n{proc.stderr}")
    out = {
        "ms": wall * 1e3,
        "meta": files.count("metadata.json"),
        "index": files.count("keychain-index.json"),
        "file": files.count("store.cclogin"),
    }
    if bus is not None:
        out["calls"] = len(bus.calls())
        out["conns"] = bus.connections()
    return out


def left_in_keyring(daemon: SecretServiceDaemon) -> str:
    proc = subprocess.run(["secret-tool", "search", "--all", "service", "cclogin"],
                          env=daemon.environ(), capture_output=True, text=True, check=False)
    return proc.stdout + proc.stderr


Results = dict[tuple[str, str, int], list[dict[str, float]]]


def one_run(
    daemon: SecretServiceDaemon, cclogin: str, scratch: Path, env: dict[str, str], size: int,
    run_no: int,
) -> dict[str, dict[str, float]]:
    """One more login, then logout --all, on `size` keychain profiles; logout --all on
    `size` encrypted-file records. Every variant starts from the same profiles."""
    src = Path(__file__).resolve().parent.parent / "src"
    home = scratch / f"h{run_no}"
    env = {**env, "CCLOGIN_HOME": str(home), "HOME": str(scratch / "home")}
    log = scratch / f"bus{run_no}.log"
    make_profiles(env, "secret-service", size, src=src)
    login = watched(daemon, [cclogin, "login", "--with-api-key", "--profile", "one-more",
                             "--no-switch"], env, home, log,
                    "sk-ant-api03-bench-one-more-login-0000000000\n")
    out = watched(daemon, [cclogin, "logout", "--all"],
                  {**env, "CCLOGIN_BACKEND": "secret-service"}, home, log)
    left = left_in_keyring(daemon)
    if "cclogin" in left:
        raise SystemExit(f"logout --all ({size}) left:\n{left}")
    file_home = scratch / f"h{run_no}-file"
    fenv = {**env, "CCLOGIN_HOME": str(file_home), "CCLOGIN_BACKEND": "encrypted-file",
            "CCLOGIN_TEST_ONLY_WEAK_KDF": "1", "CCLOGIN_PASSPHRASE_FILE": str(scratch / "pass")}
    make_profiles(fenv, "encrypted-file", size, src=src)
    fout = watched(None, [cclogin, "logout", "--all"], fenv, file_home, log)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(file_home, ignore_errors=True)
    return {"login": login, "logout --all": out, "logout --all (file)": fout}


def print_table(results: Results, rounds: int) -> None:
    print(f"{rounds} round(s) per row; medians. calls: D-Bus method calls on the bus; "
          "conns: Hello; meta/index/file: rewrites of metadata.json, keychain-index.json, "
          "store.cclogin\n")
    head = f"{'command':<22}{'variant':<8}{'N':>5}{'ms':>9}{'calls':>7}{'conns':>6}"
    print(head + f"{'meta':>6}{'index':>6}{'file':>6}")
    for (command, variant, size), rows in sorted(results.items(),
                                                 key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        def med(field: str, rows: list[dict[str, float]] = rows) -> str:
            values = [r[field] for r in rows if field in r]
            return f"{statistics.median(values):.0f}" if values else "-"

        print(f"{command:<22}{variant:<8}{size:>5}{med('ms'):>9}{med('calls'):>7}"
              f"{med('conns'):>6}{med('meta'):>6}{med('index'):>6}{med('file'):>6}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="rounds per size and variant")
    parser.add_argument("--sizes", default="10,50,200", help="profile counts")
    parser.add_argument("--before", type=Path, help="an older src/ to compare with")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    cclogin = shutil.which("cclogin", path=str(Path(sys.executable).parent))
    if cclogin is None or not all(shutil.which(b) for b in ("dbus-monitor", "secret-tool")):
        print("needs the cclogin entry point next to this python, dbus-monitor and "
              "secret-tool", file=sys.stderr)
        return 2
    variants: dict[str, dict[str, str]] = {"now": {}}
    if args.before is not None:
        variants["before"] = {"PYTHONPATH": str(args.before.resolve())}
    daemon = start_secret_service()
    scratch = Path(tempfile.mkdtemp(prefix="cclogin-bench-"))
    results: Results = {}
    try:
        base = daemon.environ()
        base.pop("PYTHONDONTWRITEBYTECODE", None)  # .pyc cached, as in a wheel
        base.pop("PYTHONPATH", None)
        (scratch / "home").mkdir()
        (scratch / "pass").write_text(PASSPHRASE + "\n")
        (scratch / "pass").chmod(0o600)
        run_no = 0
        for round_no in range(args.n):
            for size in sizes:
                names = list(variants)
                shift = round_no % len(names)
                for variant in names[shift:] + names[:shift]:
                    run_no += 1
                    runs = one_run(daemon, cclogin, scratch, {**base, **variants[variant]},
                                   size, run_no)
                    for command, row in runs.items():
                        results.setdefault((command, variant, size), []).append(row)
    finally:
        daemon.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print_table(results, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
