"""Many processes, one encrypted file: nothing written is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from cclogin.store.file_format import decode
from cclogin.store.kdf import TEST_DEFAULT

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from cclogin.store.encrypted_file import EncryptedFileStore
    from cclogin.store.passphrase import passphrase_source

    path, index, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    store = EncryptedFileStore(path, passphrase_source(os.environ, interactive=False))
    while not go.exists():  # start together, to collide on creation and on the lock
        time.sleep(0.005)
    store.set(f"profile:p{index}", f"value-{index}".encode())
    """
)


def _env(tmp_path: Path) -> dict[str, str]:
    pass_file = tmp_path / "pass"
    pass_file.write_text("concurrent-pass\n")
    os.chmod(pass_file, 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCLOGIN_")}
    env.update(CCLOGIN_TEST_ONLY_WEAK_KDF="1", CCLOGIN_PASSPHRASE_FILE=str(pass_file))
    return env


def test_twenty_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path, go = tmp_path / "data" / "store.cclogin", tmp_path / "go"
    env = _env(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(i), str(go)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for i in range(20)
    ]
    go.touch()
    outcomes = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    for _, err, code in outcomes:
        assert code == 0, err.decode()
    parsed = decode(path.read_bytes())
    assert parsed.header.kdf == TEST_DEFAULT
    assert sorted(r.name for r in parsed.records) == sorted(f"profile:p{i}" for i in range(20))
    reader = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from cclogin.store.encrypted_file import EncryptedFileStore
        from cclogin.store.passphrase import passphrase_source
        store = EncryptedFileStore(Path(sys.argv[1]), passphrase_source(os.environ, False))
        for key in store.keys():
            print(key, store.get(key).decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", reader, str(path)], env=env, capture_output=True, check=True
    )
    lines = out.stdout.decode().split("\n")
    assert sorted(filter(None, lines)) == sorted(f"profile:p{i} value-{i}" for i in range(20))
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.cclogin", "store.cclogin.lock"]


def test_the_weak_test_cost_needs_its_variable(tmp_path: Path) -> None:
    path, go = tmp_path / "store.cclogin", tmp_path / "go"
    go.touch()
    env = _env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), "0", str(go)],
        env=env, capture_output=True, check=False,
    )
    assert done.returncode == 0
    assert b"cclogin: warning:" in done.stderr and b"CCLOGIN_TEST_ONLY_WEAK_KDF" in done.stderr
    del env["CCLOGIN_TEST_ONLY_WEAK_KDF"]
    again = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), "1", str(go)],
        env=env, capture_output=True, check=False,
    )
    assert again.returncode != 0
    assert b"MalformedStore" in again.stderr and b"below cclogin's minimum" in again.stderr
    assert [r.name for r in decode(path.read_bytes()).records] == ["profile:p0"]
