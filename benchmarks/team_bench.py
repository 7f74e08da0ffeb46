"""How fast is `cclogin token` on a team profile next to `bao kv get` for the same secret?

Starts a three-node OpenBao cluster with integrated Raft storage on loopback (the test
fixture's code, `tests/support/openbao.py`; `--dev` uses one `bao server -dev` instead)
and a private D-Bus bus + gnome-keyring-daemon for the local keychain; puts one shared
key at secret/team/anthropic; makes a read-only token; logs cclogin in to Vault with it
(the token goes to the keychain) and links a team profile. Then times whole processes,
interleaved round by round (the order rotates each round):

    cclogin token --profile team      (keychain: the Vault token; then one KV read)
    bao kv get -field=api_key ...     (the Go CLI; BAO_TOKEN in its environment)
    cclogin token --profile local     (a plain keychain profile: no server at all)

cclogin is given all three addresses, the leader first (`--standby-first`: a standby
first, which costs it a sys/health call to find the leader); bao is given the leader.

Usage: .venv/bin/python benchmarks/team_bench.py [-n 50] [--warmup 5] [--dev]
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.bao_tokens import child_token, read_policy
from support.openbao import bao_binary, clean_env, start_cluster, start_dev_server
from support.secret_service import start_secret_service

KEY = "sk-ant-api03-FAKE-bench-team-0001"
LOCAL_KEY = "sk-ant-api03-FAKE-bench-local-0002"
PATH = "team/anthropic"


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per command first")
    parser.add_argument("--dev", action="store_true", help="one dev server, not a cluster")
    parser.add_argument("--standby-first", action="store_true",
                        help="list a standby first for cclogin (cluster only)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE from the environment")
    return parser.parse_args()


def servers(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack) -> tuple[Any, str, str, str]:
    """(who runs bao commands, the leader's address, cclogin's address list, a label)."""
    if args.dev:
        server = start_dev_server(work / "bao")
        stack.callback(server.stop)
        return server, server.address, server.address, f"one dev server ({server.address})"
    cluster = start_cluster(work / "cluster")
    stack.callback(cluster.stop)
    lead = cluster.leader()
    others = [n for n in cluster.nodes if n is not lead]
    nodes = [*others, lead] if args.standby_first else [lead, *others]
    first = "a standby" if args.standby_first else "the leader"
    return (cluster, lead.address, ",".join(n.address for n in nodes),
            f"a three-node Raft cluster on loopback, cclogin given {first} first")


def timed(commands: dict[str, tuple[list[str], dict[str, str]]], n: int,
          warmup: int) -> dict[str, list[float]]:
    """Whole processes, interleaved; the order rotates each round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_no in range(warmup + n):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            argv, env = commands[name]
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            if round_no >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def main() -> int:
    args = parse_args()
    cclogin = shutil.which("cclogin", path=str(Path(sys.executable).parent))
    if cclogin is None:
        print("needs the cclogin entry point next to this python", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cclogin-team-bench-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        daemon = start_secret_service()
        stack.callback(daemon.stop)
        admin, leader, order, where = servers(args, work, stack)
        admin.bao("kv", "put", "-mount=secret", PATH, "api_key=-", input=KEY)
        token = child_token(admin, "bench-reader", read_policy("secret", "team/*"))

        env = daemon.environ()
        env.update(CCLOGIN_HOME=str(work / "cclogin"), CCLOGIN_BACKEND="secret-service")
        if not args.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # as token_bench.py: measure a wheel
        for argv, stdin in (
            ([cclogin, "vault", "login", "--with-token", "--vault-addr", order], token),
            ([cclogin, "login", "--profile", "team", "--vault", PATH], None),
            ([cclogin, "login", "--profile", "local", "--with-api-key", "--no-switch"], LOCAL_KEY),
        ):
            subprocess.run(argv, input=(stdin + "\n") if stdin else "", text=True, env=env,
                           check=True, capture_output=True)
        (work / "bao-home").mkdir(mode=0o700)
        bao_env = clean_env(work / "bao-home")
        bao_env.update(BAO_ADDR=leader, BAO_TOKEN=token)
        commands = {
            "cclogin token (team)": ([cclogin, "token", "--profile", "team"], env),
            "bao kv get -field": ([str(bao_binary()), "kv", "get", "-mount=secret",
                                   "-field=api_key", PATH], bao_env),
            "cclogin token (local)": ([cclogin, "token", "--profile", "local"], env),
        }
        # Every command must really find the secret.
        done = {name: subprocess.run(argv, env=e, capture_output=True, text=True, check=False)
                for name, (argv, e) in commands.items()}
        if [d.stdout.strip() for d in done.values()] != [KEY, KEY, LOCAL_KEY]:
            for name, d in done.items():
                print(f"{name}: rc {d.returncode}, stderr {d.stderr.strip()!r}", file=sys.stderr)
            print("the tools disagree (or one failed)", file=sys.stderr)
            return 1
        times = timed(commands, args.n, args.warmup)

    med = {name: statistics.median(v) for name, v in times.items()}
    cached = "off (PYTHONDONTWRITEBYTECODE kept)" if args.no_bytecode else "on"
    print(f"{where}; N={args.n} per command after {args.warmup} warm-up runs, interleaved; "
          f".pyc caching {cached}\n")
    print(f"{'command':<24}{'median ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for name, values in times.items():
        print(f"{name:<24}{med[name] * 1e3:>10.1f}{p90(values) * 1e3:>10.1f}"
              f"{min(values) * 1e3:>10.1f}")
    print()
    print(f"cclogin token (team) / bao kv get      : "
          f"{med['cclogin token (team)'] / med['bao kv get -field']:.2f}x")
    print(f"cclogin token (team) / cclogin (local) : "
          f"{med['cclogin token (team)'] / med['cclogin token (local)']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
