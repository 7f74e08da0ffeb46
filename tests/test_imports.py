"""Dependencies point down, and `cclogin token` stays lean.

The first tests read every module of src/cclogin with `ast` (imports inside functions
count too: a lazy import is still a dependency). The last ones run the real lean path
against a real Secret Service and list what it imported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import cclogin
from support.cli import CCLOGIN, World, open_world

PACKAGE_DIR = Path(cclogin.__file__).parent
KEY = "sk-ant-api03-test-0041"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, absolute, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            # `from . import x` / `from ..store import os_keyring` may name submodules.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


GRAPH: dict[str, set[str]] = {
    module_name(p): imports_of(p) for p in sorted(PACKAGE_DIR.rglob("*.py"))
}


def importers_of(top: str) -> set[str]:
    return {
        mod
        for mod, deps in GRAPH.items()
        if any(dep == top or dep.startswith(top + ".") for dep in deps)
    }


def under(prefix: str) -> set[str]:
    return {m for m in GRAPH if m == prefix or m.startswith(prefix + ".")}


def test_the_walk_sees_the_package() -> None:
    assert "cclogin.cli.entry" in GRAPH
    assert "cclogin.store.os_keyring" in GRAPH
    assert "keyring.backends.SecretService" not in GRAPH  # only our modules are walked
    # The walk resolves relative imports: entry imports its sibling lazily.
    assert "cclogin.cli.token_cmd" in GRAPH["cclogin.cli.entry"]


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("click", "cclogin.cli"),
        ("keyring", "cclogin.store.os_keyring"),
        ("secretstorage", "cclogin.store.os_keyring"),
        ("jeepney", "cclogin.store.secret_service_reader"),
        ("platformdirs", "cclogin.paths"),
        ("httpx", "cclogin.oauth"),
    ],
)
def test_third_party_libraries_stay_in_their_module(library: str, allowed: str) -> None:
    assert importers_of(library) - under(allowed) == set()


def test_only_the_encrypted_file_code_imports_cryptography() -> None:
    allowed = {
        "cclogin.store.kdf",
        "cclogin.store.encrypted_file",
        "cclogin.store.file_format",
        # The lean token's encrypted-file branch (issue 13.3): cryptography's AES-GCM
        # only, to open the one record the unlock cache's data key unlocks.
        "cclogin.hotpath.encrypted",
    }
    assert importers_of("cryptography") - allowed == set()


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("cclogin.store", "cclogin.accounts"),
        ("cclogin.store", "cclogin.cli"),
        ("cclogin.store", "cclogin.oauth"),
        ("cclogin.store", "cclogin.migrate"),
        ("cclogin.accounts", "cclogin.cli"),
        ("cclogin.oauth", "cclogin.cli"),
        ("cclogin.oauth", "cclogin.accounts"),
        ("cclogin.migrate", "cclogin.cli"),
        ("cclogin.scan", "cclogin.cli"),
        ("cclogin.migrate", "cclogin.scan"),
        ("cclogin.accounts", "cclogin.scan"),
        ("cclogin.store", "cclogin.scan"),
    ],
)
def test_layers_depend_downwards(layer: str, forbidden: str) -> None:
    offenders = importers_of(forbidden) & under(layer)
    assert offenders == set()


def test_core_modules_import_only_core() -> None:
    core = {
        f"cclogin.{m}" for m in ("errors", "secret", "model", "paths", "fsio", "config", "envfile")
    }
    for mod in core:
        outside = {
            d
            for d in GRAPH[mod]
            if d.startswith("cclogin") and not any(d == c or d.startswith(c + ".") for c in core)
        }
        assert outside == set(), mod


# --- the lean path, for real ----------------------------------------------------------------

# Everything `cclogin token` imports beyond the interpreter's own start-up, on the lean
# path (src/cclogin/hotpath/): no other cclogin module, no json/re/socket/typing/pathlib/
# threading. `resource` and `_ctypes` harden the process (cli/entry.py).
LEAN_IMPORTS = {
    "cclogin", "cclogin.cli", "cclogin.cli.entry", "resource", "_ctypes",
    "cclogin.hotpath", "cclogin.hotpath.token", "cclogin.hotpath.wire",
    "_json", "binascii", "_socket",
}
# What the hot path's modules may import at all (the test above proves what they do).
HOTPATH_ALLOWED = {"_json", "_socket", "binascii", "os", "stat", "sys", "time"}
# The encrypted-file branch (hotpath/encrypted.py, imported only for a profile pinned to
# the encrypted file) adds the kernel keyring through `_ctypes` (already loaded by
# entry.py), HMAC/HKDF-SHA256 and SHA-256 from `_hashlib`, and cryptography's AES-GCM
# from the Rust binding that defines it (ciphers.aead re-exports that class; importing
# it costs ~10 ms of typing/re/utils more). The only cryptography on the hot path.
ENCRYPTED_ALLOWED = HOTPATH_ALLOWED | {
    "_ctypes", "_hashlib",
    "cryptography.hazmat.bindings._rust", "cryptography.hazmat.bindings._rust.openssl",
}
# What that branch imports on top of LEAN_IMPORTS when it answers (run for real below).
LEAN_ENCRYPTED_IMPORTS = {
    "cclogin.hotpath.encrypted", "_hashlib", "cryptography", "cryptography.__about__",
    "cryptography.hazmat", "cryptography.hazmat.bindings",
    "cryptography.hazmat.bindings._rust", "_cffi_backend",
}
# The full path behind it (what a fallback runs) still stays clear of these.
HEAVY = ("click", "keyring", "secretstorage", "cryptography", "httpx")
FULL_PATH = (
    "import sys; from cclogin.cli.entry import _fast_token_args, harden_process; "
    "from cclogin.cli.token_cmd import run_token; harden_process(); "
    "_, p, v = _fast_token_args(sys.argv[1:]); sys.exit(run_token(p, v))"
)


@pytest.fixture
def keyring_world(tmp_path: Path) -> Iterator[World]:
    with open_world("secret-service", tmp_path) as w:
        yield w


def imported_by(world: World, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    return imported(world, "-m", "cclogin", *args)


def imported(world: World, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env=world.environ(),
        timeout=60,
        check=False,
    )
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return proc, modules


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_token_lean_path_imports_exactly_its_list(keyring_world: World) -> None:
    world = keyring_world
    assert world.login("default", KEY).rc == 0
    _, startup = imported(world, "-c", "pass")
    for args in (("token",), ("token", "--profile", "default"), ("token", "-p", "default"),
                 ("token", "--valid-for", "300")):
        proc, modules = imported(world, CCLOGIN, *args)  # the installed entry point
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout == KEY + "\n"
        assert modules - startup == LEAN_IMPORTS, sorted(modules - startup)


def test_token_lean_encrypted_branch_imports_exactly_its_list(tmp_path: Path) -> None:
    from support.cli import make_encrypted_world
    from support.kernel_keyring import own_session

    if not Path("/proc/keys").exists():
        pytest.skip("the unlock cache is the Linux kernel keyring's")
    with own_session():
        world = make_encrypted_world(tmp_path)
        assert world.login("default", KEY).rc == 0
        assert world.cclogin("unlock", "--for", "10m").rc == 0
        world.env.pop("CCLOGIN_PASSPHRASE_FILE")
        _, startup = imported(world, "-c", "pass")
        proc, modules = imported(world, CCLOGIN, "token")
        assert (proc.returncode, proc.stdout) == (0, KEY + "\n"), proc.stderr[-2000:]
        extra = modules - startup - LEAN_IMPORTS
        assert extra - {"types", "__future__"} == LEAN_ENCRYPTED_IMPORTS, sorted(extra)
        assert not tops(modules) & {"typing", "re", "click", "keyring"}


def test_the_hot_path_imports_nothing_but_its_list() -> None:
    hot = under("cclogin.hotpath")
    assert hot == {
        "cclogin.hotpath", "cclogin.hotpath.token", "cclogin.hotpath.wire",
        "cclogin.hotpath.encrypted",
    }
    for mod in hot:
        allowed = ENCRYPTED_ALLOWED if mod == "cclogin.hotpath.encrypted" else HOTPATH_ALLOWED
        assert GRAPH[mod] - hot - allowed == set(), mod
    # Only the entry point reaches it: it is the one place that may end the process.
    assert importers_of("cclogin.hotpath") - hot == {"cclogin.cli.entry"}


def test_the_full_path_behind_it_imports_nothing_heavy(keyring_world: World) -> None:
    world = keyring_world
    assert world.login("default", KEY).rc == 0
    proc, modules = imported(world, "-c", FULL_PATH, "token")
    assert (proc.returncode, proc.stdout) == (0, KEY + "\n"), proc.stderr[-2000:]
    assert "cclogin.accounts.token" in modules and "jeepney" in tops(modules)
    assert tops(modules) & set(HEAVY) == set(), sorted(tops(modules) & set(HEAVY))


def test_importtime_parsing_sees_click_on_the_slow_path(keyring_world: World) -> None:
    """The check above can fail: the click path does import click."""
    proc, modules = imported_by(keyring_world, "status")
    assert proc.returncode == 3
    assert "click" in tops(modules)


def test_the_policy_is_core_and_costs_token_one_lstat(keyring_world: World) -> None:
    """cclogin.policy sits beside config.py (core); with no policy file, `token` imports
    at most its small front module (a stat), never the loader, TOML or the rules."""
    core = {f"cclogin.{m}" for m in ("errors", "fsio", "paths", "secret", "model")}
    for mod in under("cclogin.policy"):
        outside = {
            d for d in GRAPH[mod]
            if d.startswith("cclogin")
            and not any(d == c or d.startswith(c + ".") for c in core)
            and not d.startswith("cclogin.policy")
        }
        assert outside == set(), mod
    assert keyring_world.login("default", KEY).rc == 0
    proc, modules = imported_by(keyring_world, "token")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not {"cclogin.policy.load", "cclogin.policy.rules", "tomllib"} & modules
