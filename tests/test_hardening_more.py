"""Issue 9.7 and 9.8, the rest: bounded passphrase commands, a private config and home,
safe provider addresses, a BROWSER without our secrets, a masked setup-token relay,
bounded and locked dependencies."""

from __future__ import annotations

import re
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cclogin.errors import PassphraseUnavailable
from cclogin.store.passphrase import _MAX_LEN, CommandSource

ROOT = Path(__file__).resolve().parents[1]


def _script(tmp_path: Path, body: str, name: str = "cmd.py") -> str:
    script = tmp_path / name
    script.write_text(body)
    return f"{sys.executable} {script}"


# --- a passphrase command is bounded in time and size -----------------------------------------


def test_command_done_when_it_exits_though_a_background_child_holds_stdout(
    tmp_path: Path,
) -> None:
    # `pass`-like: prints, starts something that lives on with our stdout, exits.
    cmd = _script(
        tmp_path,
        "import subprocess, sys\n"
        "print('bg pass', flush=True)\n"
        f"subprocess.Popen([{sys.executable!r}, '-c', 'import time; time.sleep(30)'])\n",
    )
    started = time.monotonic()
    assert CommandSource(cmd, timeout=20).get(confirm=False).reveal() == "bg pass"
    assert time.monotonic() - started < 5  # not the 20 s timeout, not the child's 30 s


def test_endless_output_is_cut_at_the_limit_without_waiting(tmp_path: Path) -> None:
    cmd = _script(tmp_path, "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n")
    started = time.monotonic()
    with pytest.raises(PassphraseUnavailable, match="printed more than a passphrase"):
        CommandSource(cmd, timeout=20).get(confirm=False)
    assert time.monotonic() - started < 5


def test_output_of_exactly_the_limit_is_taken(tmp_path: Path) -> None:
    cmd = _script(tmp_path, f"import sys\nsys.stdout.write('y' * {_MAX_LEN})\n")
    assert len(CommandSource(cmd).get(confirm=False).reveal()) == _MAX_LEN
    over = _script(tmp_path, f"import sys\nsys.stdout.write('y' * {_MAX_LEN + 1})\n", "over.py")
    with pytest.raises(PassphraseUnavailable, match="more than a passphrase"):
        CommandSource(over).get(confirm=False)


def test_a_command_that_never_exits_still_times_out(tmp_path: Path) -> None:
    cmd = _script(tmp_path, "import time\nprint('partial', flush=True)\ntime.sleep(30)\n")
    started = time.monotonic()
    with pytest.raises(PassphraseUnavailable, match=r"did not finish within 0\.5 s"):
        CommandSource(cmd, timeout=0.5).get(confirm=False)
    assert time.monotonic() - started < 5


# --- dependencies: bounded, locked with hashes, installed from the lock -----------------------


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime_requirements() -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return [Requirement(r) for r in project["dependencies"]]


@pytest.mark.parametrize("name", ["cryptography", "platformdirs", "jeepney"])
def test_dependencies_have_an_upper_bound(name: str) -> None:
    (req,) = [r for r in _runtime_requirements() if r.name == name]
    assert any(spec.operator == "<" for spec in req.specifier), str(req)


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z])", text):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        if not lines:
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)", lines[0])
        assert m, lines[0]
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        pins[m.group(1).lower().replace("_", "-").replace(".", "-")] = (m.group(2), hashes)
    return pins


def test_lock_pins_every_dependency_within_its_bounds_with_hashes() -> None:
    pins = _lock()
    assert all(hashes for _, hashes in pins.values()), "every pin carries a hash"
    wanted = [*_runtime_requirements()]
    build = _pyproject()["build-system"]
    assert isinstance(build, dict)
    wanted += [Requirement(r) for r in build["requires"]]
    for req in wanted:
        name = req.name.lower().replace("_", "-").replace(".", "-")
        assert name in pins, f"{req.name} is not in requirements.lock; run scripts/lock"
        assert req.specifier.contains(pins[name][0]), (
            f"{req} but the lock pins {pins[name][0]}; run scripts/lock"
        )


def test_quickstart_installs_the_lock_with_hashes_then_cclogin_without_deps() -> None:
    text = (ROOT / "scripts" / "quickstart").read_text()
    install = [line for line in text.splitlines() if "pip install" in line]
    assert len(install) == 2, install
    assert "--require-hashes" in install[0] and "-r requirements.lock" in install[0]
    assert "--no-deps" in install[1] and "--no-build-isolation" in install[1]
    assert "--no-index" in install[1]
    lock = (ROOT / "scripts" / "lock").read_text()
    assert "--generate-hashes" in lock and "--universal" in lock
