"""Several processes writing one key to a real Secret Service (issue 9, item 9).

Three long-lived worker processes each write the same key twice per round, released
at the same instant; small values (one entry) and 40 KB values (four chunks). After
every round: every write said success, the stored value is exactly one of the written
values, whole, and the keychain holds the key's entry and the chunks its header names,
all listed in the index, nothing else. Then a delete leaves nothing at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cclogin.errors import StoreError
from cclogin.paths import get_paths
from cclogin.store import chunking
from cclogin.store.keychain_index import KeychainIndex
from cclogin.store.os_keyring import _DEFAULT_ENTRY_CHARS, OsKeyringStore
from support.secret_service import SecretServiceDaemon

KEY = "profile:raced"
WORKERS = 3
ROUNDS = 6
LARGE = 40 * 1024

WORKER = textwrap.dedent(
    """
    import sys
    from cclogin.paths import get_paths
    from cclogin.store.os_keyring import OsKeyringStore

    store = OsKeyringStore("secret-service", get_paths(), timeout=30)
    me = int(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, rnd, size = line.split()
        try:
            if cmd == "write":
                for i in (0, 1):
                    tag = f"{rnd}-{me}-{i}-".encode()
                    store.set("profile:raced", (tag * (int(size) // len(tag) + 1))[: int(size)])
            else:
                store.delete("profile:raced")
            print("ok", flush=True)
        except Exception as exc:
            print("err", type(exc).__name__, str(exc).replace("\\n", " "), flush=True)
    """
)


def written(rnd: int, size: int) -> set[bytes]:
    out = set()
    for me in range(WORKERS):
        for i in (0, 1):
            tag = f"{rnd}-{me}-{i}-".encode()
            out.add((tag * (size // len(tag) + 1))[:size])
    return out


class Workers:
    def __init__(self, daemon: SecretServiceDaemon, script: Path) -> None:
        env = daemon.environ()
        src = Path(__file__).resolve().parents[1] / "src"
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(me)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            )
            for me in range(WORKERS)
        ]
        assert [self._reply(p) for p in self.procs] == ["ready"] * WORKERS

    @staticmethod
    def _reply(proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        return proc.stdout.readline().strip()

    def run(self, line: str, procs: list[subprocess.Popen[str]] | None = None) -> list[str]:
        chosen = self.procs if procs is None else procs
        for proc in chosen:  # all released before any reply is read: they race
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        return [self._reply(p) for p in chosen]

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            proc.wait(timeout=30)
            proc.stdout.close()


@pytest.fixture
def workers(
    secret_service: SecretServiceDaemon, tmp_path: Path
) -> Iterator[Workers]:
    script = tmp_path / "writer.py"
    script.write_text(WORKER)
    pool = Workers(secret_service, script)
    try:
        yield pool
    finally:
        pool.close()


def expected_items(value: bytes) -> list[str]:
    return sorted([KEY, *chunking.planned_chunk_names(KEY, value, _DEFAULT_ENTRY_CHARS)])


@pytest.mark.parametrize("size", [64, LARGE], ids=["small", "chunked-40KB"])
def test_concurrent_writers_of_one_key_lose_nothing_and_leave_nothing(
    secret_service: SecretServiceDaemon, workers: Workers, size: int
) -> None:
    paths = get_paths()
    store = OsKeyringStore("secret-service", paths, timeout=30)
    index = KeychainIndex(paths, "secret-service")
    for rnd in range(ROUNDS):
        replies = workers.run(f"write {rnd} {size}")
        assert replies == ["ok"] * WORKERS, (rnd, replies)
        final = store.get(KEY)
        assert final in written(rnd, size), (rnd, None if final is None else final[:40])
        assert final is not None
        items = secret_service.items()
        assert items == expected_items(final), rnd  # no stray or missing chunk
        assert set(items) <= set(index.names()), rnd  # every entry is listed
        if size == LARGE:
            assert len(items) == 5  # header + 4 chunks: the chunked path really ran

        # A delete racing nothing must leave nothing; the next round starts clean.
        assert workers.run(f"delete {rnd} 0", workers.procs[:1]) == ["ok"]
        assert store.get(KEY) is None
        assert secret_service.items() == [], rnd
        assert [n for n in index.names() if n.startswith(KEY)] == [], rnd


def test_writers_and_deleters_racing_never_leave_pieces(
    secret_service: SecretServiceDaemon, workers: Workers
) -> None:
    """Writes and deletes of one chunked key at once: whatever wins, it is whole."""
    paths = get_paths()
    store = OsKeyringStore("secret-service", paths, timeout=30)
    for rnd in range(4):
        writers, deleter = workers.procs[:2], workers.procs[2]
        assert deleter.stdin is not None
        deleter.stdin.write(f"delete {rnd} 0\n")
        deleter.stdin.flush()
        replies = workers.run(f"write {rnd} {LARGE}", writers)
        replies.append(workers._reply(deleter))
        assert replies == ["ok"] * WORKERS, (rnd, replies)
        final = store.get(KEY)
        if final is None:
            assert secret_service.items() == [], rnd
        else:
            assert final in written(rnd, LARGE)
            assert secret_service.items() == expected_items(final), rnd
        store.delete(KEY)
        assert secret_service.items() == [], rnd


class _Interloper:
    """TextSlots where, at the commit write of `key`, someone else's value lands instead."""

    def __init__(self, key: str, theirs: str) -> None:
        self.entries: dict[str, str] = {}
        self._key, self._theirs = key, theirs

    def read(self, name: str) -> str | None:
        return self.entries.get(name)

    def write(self, name: str, text: str) -> None:
        self.entries[name] = self._theirs if name == self._key else text

    def remove(self, name: str) -> bool:
        return self.entries.pop(name, None) is not None


@pytest.mark.parametrize("size", [64, LARGE], ids=["small", "chunked-40KB"])
def test_a_write_superseded_by_another_writer_keeps_their_value(size: int) -> None:
    """Defence in depth for writers without the lock: another complete value read back
    is not called truncation, and is never undone or deleted."""
    theirs = b"their committed value"
    slots = _Interloper(KEY, chunking.SINGLE + chunking.encode(theirs))
    with pytest.raises(chunking.Superseded, match="another program wrote"):
        chunking.write_value(slots, KEY, b"m" * size, _DEFAULT_ENTRY_CHARS)
    assert chunking.read_value(slots, KEY) == theirs
    assert sorted(slots.entries) == [KEY]  # our chunks, orphans now, are gone


def test_a_truncated_read_back_is_still_reported_and_undone() -> None:
    slots = _Interloper(KEY, chunking.SINGLE + chunking.encode(b"mine")[:3])
    with pytest.raises(StoreError, match="did not keep") as info:
        chunking.write_value(slots, KEY, b"mine", _DEFAULT_ENTRY_CHARS)
    assert not isinstance(info.value, chunking.Superseded)
    assert slots.entries == {}  # nothing was there before: nothing half-written stays
