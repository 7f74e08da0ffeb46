"""Issue 9.3: entries in a backend that no current profile uses are found and removed.

The real `cclogin` on a real gnome-keyring (private bus) plus the encrypted file. Each
orphan is made by writing a key straight into a backend with cclogin.store, as a backend
move whose old delete hit a frozen keychain leaves it: `doctor` names it with the fix,
`doctor --fix` removes it and nothing else, `logout --all` leaves no trace of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.cli import WEAK_KDF, World, make_keyring_world, write_passphrase_file
from support.secret_service import SecretServiceDaemon

KEY_A = "sk-ant-api03-orphan-test-keyring-0001"
KEY_B = "sk-ant-api03-orphan-test-file-0002"

COPY = """
import sys
from cclogin.paths import get_paths
from cclogin.store.select import open_backend
paths = get_paths()
src, dst, key = sys.argv[1:4]
blob = open_backend(src, paths).get(key)
assert blob is not None, key
open_backend(dst, paths).set(key, blob)
"""

INDEX_ADD = """
import sys
from cclogin.paths import get_paths
from cclogin.store.keychain_index import KeychainIndex
KeychainIndex(get_paths(), sys.argv[1]).add_all(sys.argv[2:])
"""

INDEX_NAMES = """
import sys
from cclogin.paths import get_paths
from cclogin.store.keychain_index import KeychainIndex
print("\\n".join(KeychainIndex(get_paths(), sys.argv[1]).names()))
"""

FILE_KEYS = """
from cclogin.paths import get_paths
from cclogin.store.select import open_backend
print("\\n".join(sorted(open_backend("encrypted-file", get_paths()).keys())))
"""


def two_store_world(tmp_path: Path, daemon: SecretServiceDaemon) -> World:
    """Keyring by default, and the encrypted file usable beside it."""
    world = make_keyring_world(tmp_path, daemon)
    world.env.update(WEAK_KDF)
    world.env["CCLOGIN_PASSPHRASE_FILE"] = str(write_passphrase_file(tmp_path / "passphrase"))
    return world


def py(world: World, code: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=world.environ(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def orphan_findings(world: World, *flags: str) -> tuple[int, list[dict[str, str]], str]:
    res = world.cclogin("doctor", "--json", *flags)
    found = [f for f in json.loads(res.stdout) if f["check"] == "orphans"]
    return res.rc, found, res.output


def login_both(world: World) -> None:
    """'personal' in the keyring, 'work' in the encrypted file."""
    assert world.login("personal", KEY_A).rc == 0
    res = world.cclogin("login", "--with-api-key", "--profile", "work", input=KEY_B + "\n",
                        extra={"CCLOGIN_BACKEND": "encrypted-file"})
    assert res.rc == 0, res
    assert world.daemon is not None
    assert world.daemon.items() == ["profile:personal"]


def test_a_clean_home_is_reported_clean(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    rc, found, _ = orphan_findings(world)
    assert rc == 0
    assert [f["level"] for f in found] == ["ok"], found
    assert "agree" in found[0]["message"]
    assert "secret-service" in found[0]["message"] and "encrypted-file" in found[0]["message"]


def test_doctor_reports_an_indexed_orphan_and_fix_removes_only_it(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    # 'work' moved to the encrypted file; its old keychain copy was never deleted.
    py(world, COPY, "encrypted-file", "secret-service", "profile:work")
    assert secret_service_daemon.items() == ["profile:personal", "profile:work"]

    rc, found, output = orphan_findings(world)
    assert rc == 0  # doctor exits 1 only for failures; an orphan is a warning with a fix
    warns = [f for f in found if f["level"] == "warn"]
    assert len(warns) == 1, found
    assert "secret-service holds profile:work" in warns[0]["message"]
    assert "pinned to encrypted-file" in warns[0]["message"]
    assert "cclogin doctor --fix" in warns[0]["fix"]
    assert KEY_B not in output and KEY_A not in output
    text = world.cclogin("doctor")
    assert "WARN" in text.stdout and "doctor --fix" in text.stdout

    fixed = world.cclogin("doctor", "--fix")
    assert fixed.rc == 0, fixed
    assert "removed orphaned entry profile:work from secret-service" in fixed.stdout
    assert fixed.stdout.count("removed ") == 1, fixed
    assert KEY_B not in fixed.output and KEY_A not in fixed.output
    # Nothing else went: both profiles still hand out their secrets.
    assert secret_service_daemon.items() == ["profile:personal"]
    assert world.cclogin("token", "--profile", "personal").stdout == KEY_A + "\n"
    assert world.cclogin("token", "--profile", "work").stdout == KEY_B + "\n"
    assert world.traces(KEY_B) == []  # no keyring item, no plain file (the record is sealed)
    assert "profile:work" not in py(world, INDEX_NAMES, "secret-service").split()
    rc, found, _ = orphan_findings(world)
    assert rc == 0, found
    assert [f["level"] for f in found] == ["ok"], found


def test_an_item_the_index_lost_is_found_by_enumeration(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    # Written behind cclogin's back: no index line names it (keys() cannot see it).
    secret_service_daemon.store_raw("profile:gone", "cl1:c2stYW50LWFwaTAzLWdvbmU=")
    rc, found, _ = orphan_findings(world)
    assert rc == 0, found
    warns = [f for f in found if f["level"] == "warn"]
    assert len(warns) == 1 and "profile:gone" in warns[0]["message"], found
    assert "no profile named 'gone'" in warns[0]["message"]

    fixed = world.cclogin("doctor", "--fix")
    assert fixed.rc == 0, fixed
    assert "removed orphaned entry profile:gone from secret-service" in fixed.stdout
    assert secret_service_daemon.items() == ["profile:personal"]
    assert world.cclogin("token", "--profile", "personal").stdout == KEY_A + "\n"


def test_a_stale_index_line_is_dropped_and_nothing_else(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    py(world, INDEX_ADD, "secret-service", "profile:ghost", "profile:personal#0123456789abcdef.0")
    rc, found, _ = orphan_findings(world)
    assert rc == 0, found
    warns = sorted(f["message"] for f in found if f["level"] == "warn")
    assert len(warns) == 2, found
    assert "profile:ghost" in warns[0] and "no longer exist" in warns[0]
    assert "profile:personal" in warns[1] and "1 chunk entry" in warns[1]

    fixed = world.cclogin("doctor", "--fix")
    assert fixed.rc == 0, fixed
    assert "index line(s) profile:ghost of secret-service" in fixed.stdout
    assert "profile:personal#0123456789abcdef.0" in fixed.stdout
    assert py(world, INDEX_NAMES, "secret-service").split() == ["profile:personal"]
    assert secret_service_daemon.items() == ["profile:personal"]
    assert world.cclogin("token", "--profile", "personal").stdout == KEY_A + "\n"


def test_an_orphan_in_the_encrypted_file_is_found_though_no_profile_uses_the_file(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    assert world.login("personal", KEY_A).rc == 0
    # 'personal' moved into the keyring; the file kept its old record.
    py(world, COPY, "secret-service", "encrypted-file", "profile:personal")
    rc, found, _ = orphan_findings(world)
    assert rc == 0, found
    warns = [f for f in found if f["level"] == "warn"]
    assert len(warns) == 1, found
    assert "encrypted-file holds profile:personal" in warns[0]["message"]
    assert "pinned to secret-service" in warns[0]["message"]

    fixed = world.cclogin("doctor", "--fix")
    assert fixed.rc == 0, fixed
    assert "removed orphaned entry profile:personal from encrypted-file" in fixed.stdout
    assert py(world, FILE_KEYS).split() == []
    assert secret_service_daemon.items() == ["profile:personal"]
    assert world.cclogin("token").stdout == KEY_A + "\n"


def test_logout_all_removes_orphans_in_every_backend_and_leaves_no_trace(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    py(world, COPY, "encrypted-file", "secret-service", "profile:work")  # indexed orphan
    secret_service_daemon.store_raw("profile:old", "cl1:" + "c2stYW50LWFwaTAzLW9sZA==")
    py(world, COPY, "secret-service", "encrypted-file", "profile:personal")
    # Only the keyring profile is left in the metadata: the orphans belong to nobody now.
    assert world.cclogin("logout", "--profile", "work").rc == 0

    out = world.cclogin("logout", "--all")
    assert out.rc == 0, out
    assert "verified: no copy" in out.stderr
    for key in ("profile:work from secret-service", "profile:old from secret-service",
                "profile:personal from encrypted-file"):
        assert f"orphaned entry {key}" in out.stderr, out
    assert KEY_A not in out.output and KEY_B not in out.output
    assert world.traces(KEY_A) == []
    assert world.traces(KEY_B) == []
    assert secret_service_daemon.items() == []
    assert py(world, FILE_KEYS).split() == []
    assert py(world, INDEX_NAMES, "secret-service").split() == []
    rc, found, _ = orphan_findings(world)
    assert rc == 0, found
    assert [f["level"] for f in found] == ["ok"], found


def test_logout_all_with_only_an_orphan_left_removes_it(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    py(world, COPY, "encrypted-file", "secret-service", "profile:work")
    assert world.cclogin("logout", "--all").rc == 0  # every profile; the orphan too
    assert secret_service_daemon.items() == []
    assert world.traces(KEY_B) == [] and world.traces(KEY_A) == []


INDEX_DROP = """
import sys
from cclogin.paths import get_paths
from cclogin.store.keychain_index import KeychainIndex
index = KeychainIndex(get_paths(), sys.argv[1])
index.discard_all([n for n in index.names() if n.partition("#")[0] in sys.argv[2:]])
"""

BIG = """
import os
from cclogin.paths import get_paths
from cclogin.store.select import open_backend
open_backend("secret-service", get_paths()).set("profile:big", os.urandom(40 * 1024))
"""


def test_a_live_entry_the_index_lost_is_listed_again(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    py(world, INDEX_DROP, "secret-service", "profile:personal")
    rc, found, _ = orphan_findings(world)
    assert rc == 0, found
    warns = [f["message"] for f in found if f["level"] == "warn"]
    assert any("profile:personal" in m and "does not list its entry" in m for m in warns), found

    fixed = world.cclogin("doctor", "--fix")
    assert fixed.rc == 0, fixed
    assert "listed profile:personal in the secret-service index" in fixed.stdout
    assert "removed" not in fixed.stdout  # the live secret is never deleted
    assert py(world, INDEX_NAMES, "secret-service").split() == ["profile:personal"]
    assert world.cclogin("token", "--profile", "personal").stdout == KEY_A + "\n"


def test_a_chunked_orphan_the_index_lost_goes_with_all_its_chunks(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    py(world, BIG)
    py(world, INDEX_DROP, "secret-service", "profile:big")
    assert len(secret_service_daemon.items()) > 3  # header + chunks + personal
    rc, found, _ = orphan_findings(world)
    assert rc == 0, found
    assert any("profile:big" in f["message"] for f in found if f["level"] == "warn"), found

    fixed = world.cclogin("doctor", "--fix")
    assert fixed.rc == 0, fixed
    assert "removed orphaned entry profile:big from secret-service" in fixed.stdout
    assert secret_service_daemon.items() == ["profile:personal"]
    assert py(world, INDEX_NAMES, "secret-service").split() == ["profile:personal"]


def test_a_frozen_keychain_is_never_reported_as_agreeing(
    secret_service_daemon: SecretServiceDaemon, tmp_path: Path
) -> None:
    world = two_store_world(tmp_path, secret_service_daemon)
    login_both(world)
    with secret_service_daemon.frozen():
        res = world.cclogin("doctor", "--json", extra={"CCLOGIN_KEYCHAIN_TIMEOUT": "1"})
    found = [f for f in json.loads(res.stdout) if f["check"] == "orphans"]
    assert not any("agree" in f["message"] for f in found), found
    assert any(f["level"] == "warn" and "secret-service: could not check" in f["message"]
               for f in found), found
