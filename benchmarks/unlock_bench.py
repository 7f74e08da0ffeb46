"""How fast is the encrypted file's `cclogin token` with the unlock cache?

Three stores side by side, each with one key, timed as whole processes, interleaved
round by round (the order rotates each round):

    cclogin token   Secret Service (a private D-Bus bus + gnome-keyring-daemon)
    cclogin token   the same, forced through the full path (accounts/, store/)
    cclogin token   encrypted file, unlocked (`cclogin unlock`: the data key in the
                    kernel keyring; no passphrase source at all)
    cclogin token   encrypted file, no cache (CCLOGIN_PASSPHRASE_FILE: Argon2id at the
                    real default cost, 64 MiB, t=3, p=4, on every call)
    secret-tool lookup                                    (the floor, for scale)

The two encrypted files have the same (production) cost; only one is unlocked, so no
run of the other can use the cache. This process joins a session keyring of its own
first, so the cache lives only as long as the benchmark.

Usage: .venv/bin/python benchmarks/unlock_bench.py [-n 30] [--warmup 3]
Target: unlocked encrypted-file token <= 1.5x the Secret Service token.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.kernel_keyring import own_session
from support.secret_service import start_secret_service

KEY = "sk-ant-api03-test-bench-unlock-0001"
PROFILE = "bench"
TARGET = 1.5
PASSPHRASES = ("CCLOGIN_PASSPHRASE_FILE", "CCLOGIN_PASSPHRASE_COMMAND", "CCLOGIN_PASSPHRASE")


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def report(times: dict[str, list[float]], n: int, warmup: int) -> None:
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"N={n} per command after {warmup} warm-up runs, interleaved\n")
    print(f"{'command':<24}{'median ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for name, values in times.items():
        print(
            f"{name:<24}{med[name] * 1e3:>10.1f}{p90(values) * 1e3:>10.1f}{min(values) * 1e3:>10.1f}"
        )
    cached = med["token, file, unlocked"]
    ratio = cached / med["token, Secret Service"]
    print()
    print(
        f"unlocked file / Secret Service : {ratio:.2f}x  (target <= {TARGET}x) "
        f"{'OK' if ratio <= TARGET else 'MISSED'}"
    )
    full = cached / med["token, SS, full path"]
    print(f"unlocked file / SS, full path  : {full:.2f}x")
    print(f"no cache / unlocked file       : {med['token, file, no cache'] / cached:.1f}x")
    print(f"unlocked file / secret-tool    : {cached / med['secret-tool lookup']:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per command first")
    args = parser.parse_args()

    cclogin = shutil.which("cclogin", path=str(Path(sys.executable).parent))
    if cclogin is None or shutil.which("secret-tool") is None:
        print("needs the cclogin entry point next to this python, and secret-tool", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="cclogin-unlock-bench-"))
    daemon = start_secret_service()
    try:
        with own_session():
            base = daemon.environ()
            base.pop("PYTHONDONTWRITEBYTECODE", None)  # .pyc cached, as in a wheel
            keyring = {
                **base,
                "CCLOGIN_HOME": str(root / "ss"),
                "CCLOGIN_BACKEND": "secret-service",
            }
            full_path = {**keyring, "CCLOGIN_KEYCHAIN_TIMEOUT": "1000000"}
            passphrase = root / "passphrase"
            passphrase.write_text("benchmark passphrase\n")
            passphrase.chmod(0o600)
            files = {
                name: {
                    **{k: v for k, v in base.items() if k not in PASSPHRASES},
                    "CCLOGIN_HOME": str(root / name),
                    "CCLOGIN_BACKEND": "encrypted-file",
                    "CCLOGIN_PASSPHRASE_FILE": str(passphrase),
                }
                for name in ("cached", "uncached")
            }
            for env in (keyring, *files.values()):
                subprocess.run(
                    [cclogin, "login", "--with-api-key", "--profile", PROFILE],
                    input=KEY + "\n",
                    text=True,
                    env=env,
                    check=True,
                    capture_output=True,
                )
            subprocess.run(
                [cclogin, "unlock", "--for", "1h"],
                env=files["cached"],
                check=True,
                capture_output=True,
            )
            del files["cached"]["CCLOGIN_PASSPHRASE_FILE"]  # the cache alone opens it
            commands = {
                "token, Secret Service": ([cclogin, "token"], keyring),
                # The same through the full path (accounts/, store/): what `token` cost on
                # every backend before the lean one (hotpath/ leaves a timeout this
                # large to the full path), the path the encrypted file takes.
                "token, SS, full path": ([cclogin, "token"], full_path),
                "token, file, unlocked": ([cclogin, "token"], files["cached"]),
                "token, file, no cache": ([cclogin, "token"], files["uncached"]),
                "secret-tool lookup": (
                    [
                        "secret-tool",
                        "lookup",
                        "service",
                        "cclogin",
                        "username",
                        f"profile:{PROFILE}",
                    ],
                    keyring,
                ),
            }
            for name, (argv, env) in commands.items():
                out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
                if name.startswith("token") and out.stdout != KEY + "\n":
                    print(f"{name} printed {out.stdout!r}", file=sys.stderr)
                    return 1
            times: dict[str, list[float]] = {name: [] for name in commands}
            names = list(commands)
            for round_no in range(args.warmup + args.n):
                shift = round_no % len(names)
                for name in names[shift:] + names[:shift]:
                    argv, env = commands[name]
                    start = time.perf_counter()
                    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
                    elapsed = time.perf_counter() - start
                    if round_no >= args.warmup:
                        times[name].append(elapsed)
            subprocess.run([cclogin, "lock"], env=files["cached"], check=True, capture_output=True)
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)

    report(times, args.n, args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
