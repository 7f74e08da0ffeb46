"""How fast is `cclogin token` next to secret-tool, pass and keyring's own CLI?

Starts a private D-Bus bus + gnome-keyring-daemon (the test fixture's code), stores one
key with `cclogin login` twice (with CCLOGIN_HOME, and with default paths: no
CCLOGIN_HOME and no XDG_* variables, as users run it), then times whole processes,
interleaved round by round (the order rotates) so that drift on the machine hits all
alike:

    cclogin token                        default paths, then with CCLOGIN_HOME
    secret-tool lookup service cclogin username profile:bench      (the floor)
    pass show cclogin/bench              (where `pass` and `gpg` are installed)
    python -m keyring get cclogin profile:bench

and then 100 concurrent `cclogin token` against 100 concurrent `secret-tool lookup`
(wall time of the burst, and the client CPU per call).

`--before SRC` adds the same `cclogin token` rows run from another source tree (e.g.
`git archive HEAD src | tar -x -C /tmp/before`, then `--before /tmp/before/src`), in
the same rounds: a before/after table from one run on one (busy) machine.

Usage: .venv/bin/python benchmarks/token_bench.py [-n 50] [--series 3] [--before SRC]
Targets: `token` at most 2x `secret-tool lookup` (and the former 3x), 100 concurrent
`token` at most 3x 100 concurrent `secret-tool lookup`. PASS/FAIL is printed, not
asserted: speed is measured here, behaviour in tests/.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
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
TARGET = 2.0  # token / secret-tool (issue 13.1)
FORMER_TARGET = 3.0
TARGET_CONCURRENT = 3.0  # 100 concurrent token / 100 concurrent secret-tool (issue 13.6)
FLOOR = "secret-tool lookup"
DEFAULT_ROW = "token, default paths"
XDG_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")

Command = tuple[list[str], dict[str, str]]


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def verdict(ratio: float, limit: float) -> str:
    return "PASS" if ratio <= limit else "FAIL"


def login(cclogin: str, env: dict[str, str]) -> None:
    subprocess.run(
        [cclogin, "login", "--with-api-key", "--profile", PROFILE, "--force"],
        input=KEY + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )


def setup_pass(root: Path, base: dict[str, str]) -> Command | None:
    """A throwaway GnuPG home (a key without passphrase) and password store holding KEY."""
    if shutil.which("pass") is None or shutil.which("gpg") is None:
        return None
    gnupg = root / "gnupg"
    gnupg.mkdir(mode=0o700)
    env = {**base, "GNUPGHOME": str(gnupg), "PASSWORD_STORE_DIR": str(root / "store")}
    uid = "cclogin bench <bench@cclogin.invalid>"
    steps = [
        [
            "gpg",
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "default",
            "default",
            "never",
        ],
        ["pass", "init", "bench@cclogin.invalid"],
    ]
    for argv in steps:
        subprocess.run(argv, env=env, check=True, capture_output=True)
    subprocess.run(
        ["pass", "insert", "-m", "cclogin/bench"],
        input=KEY + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    return ["pass", "show", "cclogin/bench"], env


def stop_pass(command: Command | None) -> None:
    if command is not None:
        subprocess.run(
            ["gpgconf", "--kill", "all"], env=command[1], check=False, capture_output=True
        )


class Keyring:
    """The private daemon, restarted (and the key stored again) if it dies: a
    gnome-keyring-daemon that crashes under a burst is reported, not fatal."""

    def __init__(self, cclogin: str, logins: list[dict[str, str]]) -> None:
        self.cclogin = cclogin
        self.logins = logins  # environments to log in with, rebound on a restart
        self.bound: list[dict[str, str]] = list(logins)  # every environment to rebind
        self.daemon = start_secret_service()
        self.crashes: list[str] = []

    def environ(self) -> dict[str, str]:
        return self.daemon.environ()

    def login(self) -> None:
        for env in self.logins:
            login(self.cclogin, env)

    def alive(self) -> bool:
        proc = self.daemon._keyring  # the fixture's own process handle
        return proc is not None and proc.poll() is None

    def check(self, during: str) -> bool:
        """False (after restarting it) if the daemon died while `during` ran."""
        if self.alive():
            return True
        self.crashes.append(during)
        print(f"  gnome-keyring-daemon died during {during}: restarting it", flush=True)
        old = dict(self.daemon.env)
        self.daemon.stop()
        self.daemon = start_secret_service()
        for env in self.bound:
            for key, value in self.daemon.env.items():
                if key in env and env[key] == old.get(key):
                    env[key] = value
        self.login()
        return False

    def stop(self) -> None:
        self.daemon.stop()


def sequential(
    keyring: Keyring, commands: dict[str, Command], n: int, warmup: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_no in range(warmup + n):
        shift = round_no % len(names)  # no command always runs first or last
        for name in names[shift:] + names[:shift]:
            argv, env = commands[name]
            while True:
                start = time.perf_counter()
                done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False)
                elapsed = time.perf_counter() - start
                if done.returncode == 0:
                    break
                if keyring.check(f"a run of {name}"):
                    done.check_returncode()  # a real failure: stop here
            if round_no >= warmup:
                times[name].append(elapsed)
    return times


def burst(command: Command, count: int, expected: bytes) -> tuple[float, float, int, str]:
    """(wall seconds, client CPU seconds per process, processes that did not print
    `expected` or failed, the last line of the first failure's stderr) for `count`
    processes started at once."""
    argv, env = command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(count)
    ]
    outputs = [(*proc.communicate(), proc.returncode) for proc in procs]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / count
    failed = [err for out, err, rc in outputs if rc != 0 or out != expected]
    why = failed[0].decode(errors="replace").strip().splitlines()[-1:] if failed else []
    return wall, cpu, len(failed), why[0][:160] if why else ""


Burst = tuple[float, float, int, str]


def concurrent(
    keyring: Keyring,
    commands: dict[str, Command],
    count: int,
    rounds: int,
    expected: dict[str, bytes],
) -> dict[str, list[Burst]]:
    results: dict[str, list[Burst]] = {name: [] for name in commands}
    names = list(commands)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            result = burst(commands[name], count, expected[name])
            if keyring.check(f"burst {round_no + 1} of {name} ({result[2]} failed)"):
                results[name].append(result)  # a burst the daemon did not survive: dropped
    return results


def print_sequential(times: dict[str, list[float]], tokens: list[str]) -> dict[str, float]:
    med = {name: statistics.median(v) for name, v in times.items()}
    print(
        f"{'command':<34}{'median ms':>10}{'p90 ms':>9}{'min ms':>9}"
        f"{'x secret-tool':>15}{'<=2x':>6}{'<=3x':>6}"
    )
    for name, values in times.items():
        ratio = med[name] / med[FLOOR]
        judged = name in tokens
        print(
            f"{name:<34}{med[name] * 1e3:>10.1f}{p90(values) * 1e3:>9.1f}"
            f"{min(values) * 1e3:>9.1f}{ratio:>14.2f}x"
            f"{verdict(ratio, TARGET) if judged else '':>6}"
            f"{verdict(ratio, FORMER_TARGET) if judged else '':>6}"
        )
    return med


def print_concurrent(
    results: dict[str, list[Burst]], count: int, tokens: list[str]
) -> dict[str, float]:
    wall = {name: statistics.median(r[0] for r in rs) for name, rs in results.items() if rs}
    print(
        f"{'command, ' + str(count) + ' at once':<34}{'wall s':>10}{'CPU/call ms':>13}"
        f"{'x secret-tool':>15}{'<=3x':>6}{'failed':>8}"
    )
    for name, rs in results.items():
        if not rs or FLOOR not in wall:
            print(f"{name:<34}  (no burst completed)")
            continue
        ratio = wall[name] / wall[FLOOR]
        cpu = statistics.median(r[1] for r in rs)
        bad = sum(r[2] for r in rs)
        mark = verdict(ratio, TARGET_CONCURRENT) if name in tokens else ""
        print(f"{name:<34}{wall[name]:>10.2f}{cpu * 1e3:>13.1f}{ratio:>14.2f}x{mark:>6}{bad:>8}")
        why = next((r[3] for r in rs if r[3]), "")
        if why:
            print(f"{'':<34}first failure: {why}")
    return wall


def main() -> int:  # noqa: PLR0912, PLR0915 - one story: set up, check, measure, report
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="timed runs per command and series")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per command first")
    parser.add_argument("--series", type=int, default=1, help="repeat everything this often")
    parser.add_argument(
        "--concurrency", type=int, default=100, help="processes per burst (0: none)"
    )
    parser.add_argument("--bursts", type=int, default=5, help="bursts per command and series")
    parser.add_argument("--before", type=Path, help="a src/ folder of another cclogin to compare")
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
    scratch = Path(tempfile.mkdtemp(prefix="cclogin-bench-"))
    keyring = Keyring(cclogin, [])
    pass_command: Command | None = None
    try:
        base = keyring.environ()
        base["CCLOGIN_BACKEND"] = "secret-service"
        if not args.no_bytecode:
            # pip compiles .pyc files at install time; an editable install under
            # PYTHONDONTWRITEBYTECODE=1 never gets them and recompiles every module on
            # every run (~25 ms for cclogin alone). Measure what users run.
            base.pop("PYTHONDONTWRITEBYTECODE", None)
        with_home = {**base, "CCLOGIN_HOME": str(scratch / "home")}
        default = {k: v for k, v in base.items() if k not in ("CCLOGIN_HOME", *XDG_VARS)}
        # default: ~/.config/cclogin in the fixture's HOME; the same keychain item
        keyring.logins = [with_home, default]
        keyring.login()

        token = [cclogin, "token"]
        commands: dict[str, Command] = {
            DEFAULT_ROW: (token, default),
            "token, CCLOGIN_HOME": (token, with_home),
        }
        if args.before is not None:
            src = str(args.before.resolve())
            commands["before: token, default paths"] = (token, {**default, "PYTHONPATH": src})
            commands["before: token, CCLOGIN_HOME"] = (token, {**with_home, "PYTHONPATH": src})
        tokens = list(commands)
        commands[FLOOR] = (
            ["secret-tool", "lookup", "service", "cclogin", "username", f"profile:{PROFILE}"],
            base,
        )
        pass_command = setup_pass(scratch, base)
        if pass_command is not None:
            commands["pass show"] = pass_command
        commands["keyring get"] = (
            [sys.executable, "-m", "keyring", "get", "cclogin", f"profile:{PROFILE}"],
            base,
        )

        keyring.bound = [env for _argv, env in commands.values()]
        # Every tool must really find the item. cclogin decodes it; secret-tool and
        # keyring print the stored text itself (`cl1:<base64url of the credential JSON>`).
        outputs = {
            name: subprocess.run(argv, env=env, capture_output=True, check=True).stdout
            for name, (argv, env) in commands.items()
        }
        raw = outputs[FLOOR].strip()
        if (
            any(outputs[name] != (KEY + "\n").encode() for name in tokens)
            or outputs["keyring get"].strip() != raw
            or not raw.startswith(b"cl1:")
            or KEY.encode() not in base64.urlsafe_b64decode(raw[4:])
            or (pass_command is not None and outputs["pass show"] != (KEY + "\n").encode())
        ):
            print(f"the tools disagree: {outputs!r}", file=sys.stderr)
            return 1

        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        cached = "off (PYTHONDONTWRITEBYTECODE kept)" if args.no_bytecode else "on"
        print(
            f"{os.cpu_count()} CPUs, load average {load} at the start (a shared machine:"
            " compare rows within a series, not across runs); .pyc caching "
            f"{cached}\n"
        )
        seq_medians: dict[str, list[float]] = {name: [] for name in commands}
        con_medians: dict[str, list[float]] = {}
        for series in range(1, args.series + 1):
            print(
                f"series {series} of {args.series}: N={args.n} per command after "
                f"{args.warmup} warm-up runs, interleaved, the order rotating each round"
            )
            times = sequential(keyring, commands, args.n, args.warmup)
            for name, value in print_sequential(times, tokens).items():
                seq_medians[name].append(value)
            if args.concurrency > 0:
                # A long deadline: this measures throughput, not the timeout (tests do).
                for name in [*tokens, FLOOR]:
                    commands[name][1]["CCLOGIN_KEYCHAIN_TIMEOUT"] = "60"
                burst_commands = {n: c for n, c in commands.items() if n in tokens or n == FLOOR}
                print(
                    f"\n{args.bursts} bursts of {args.concurrency} processes per command, "
                    "interleaved"
                )
                results = concurrent(
                    keyring, burst_commands, args.concurrency, args.bursts, outputs
                )
                for name in [*tokens, FLOOR]:
                    del commands[name][1]["CCLOGIN_KEYCHAIN_TIMEOUT"]
                for name, value in print_concurrent(results, args.concurrency, tokens).items():
                    con_medians.setdefault(name, []).append(value)
            print()
    finally:
        stop_pass(pass_command)
        keyring.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    for during in keyring.crashes:
        print(f"gnome-keyring-daemon died during {during}: restarted, that run not counted")

    if args.series > 1:
        print(f"over {args.series} series (median of the series' medians):")
        floor = statistics.median(seq_medians[FLOOR])
        for name, values in seq_medians.items():
            ratio = statistics.median(values) / floor
            mark = f"  <=2x {verdict(ratio, TARGET)}" if name in tokens else ""
            print(f"  {name:<34}{statistics.median(values) * 1e3:>8.1f} ms {ratio:>6.2f}x{mark}")
        if con_medians:
            floor = statistics.median(con_medians[FLOOR])
            for name, values in con_medians.items():
                ratio = statistics.median(values) / floor
                mark = f"  <=3x {verdict(ratio, TARGET_CONCURRENT)}" if name in tokens else ""
                print(
                    f"  {name + ', burst':<34}{statistics.median(values):>8.2f} s  "
                    f"{ratio:>6.2f}x{mark}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
