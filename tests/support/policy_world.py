"""An admin policy in a temporary system location, and an unprivileged user under it.

    def test_x(policy_world):
        policy_world.write_policy('schema = 1\\n[backends]\\nallowed = ["secret-service"]\\n')
        r = policy_world.run("login", "--with-api-key", input=KEY + "\\n")   # as the user
        assert r.rc == 9 and "line 3 (backends.allowed)" in r.stderr

The test runs as root. A second user (`useradd`, a random name) is made once per
module and removed at the end; each test gets a fresh HOME of theirs and a fresh
root-owned folder (0755, under /run) that CCLOGIN_TEST_ONLY_POLICY_FILE points into:
the real /etc/cclogin is never touched (other tests run on this machine meanwhile).
The user runs the real `cclogin` executable with the encrypted file (a passphrase
file of theirs, the weak test-only KDF) and no D-Bus.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .cli import CCLOGIN, PASSPHRASE, Result

POLICY_ENV = "CCLOGIN_TEST_ONLY_POLICY_FILE"
KEY = "sk-ant-api03-policytest-" + "A1b2" * 10  # 64 characters, never printed


@dataclass(frozen=True)
class UnixUser:
    name: str
    uid: int
    gid: int
    home: Path


def need_root() -> None:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip(
            "the admin-policy tests run as root on Linux: they make root-owned policy files "
            "and a second, unprivileged user who must not get around them"
        )


SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="session")
def user_cclogin() -> Iterator[Path]:
    """The `cclogin` executable for a second user: the test venv's own Python may sit
    where they cannot reach it (pyenv under /root), so a venv of the system Python
    (same 3.11 ABI) reads this venv's packages and the source tree, and gets the same
    console script pip made for .venv/bin/cclogin."""
    need_root()
    ours = Path(CCLOGIN)
    if _reachable_by_others(Path(sys.executable).resolve()) and _reachable_by_others(ours):
        yield ours
        return
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"no Python that a second user can run ({sys.executable} is private, no {SYSTEM_PYTHON})")
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')"],
                           capture_output=True, text=True, check=False)
    if probe.stdout.strip() != major_minor:
        pytest.skip(f"no Python {major_minor} that a second user can run ({SYSTEM_PYTHON} is {probe.stdout.strip()})")
    root = Path("/opt") / f"cclogin-policy-test-venv-{secrets.token_hex(4)}"
    try:
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120,
                       capture_output=True)
        site_dir = next((root / "lib").glob("python3*/site-packages"))
        # Copied, not pointed at: the checkout and its .venv may sit where the second
        # user cannot read (a clone under /root, which is 0700).
        _copy_runtime(site_dir)
        script = root / "bin" / "cclogin"
        body = ours.read_text().split("\n", 1)[1]
        script.write_text(f"#!{root}/bin/python\n{body}")
        os.chmod(script, 0o755)  # noqa: S103 - the second user must reach it
        for folder in (root, *root.rglob("*")):
            if folder.is_dir() and not folder.is_symlink():
                os.chmod(folder, 0o755)  # noqa: S103 - the second user must reach it
        yield script
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy_runtime(site_dir: Path) -> None:
    """cclogin's source under test and its runtime dependencies (their installed files,
    as pip recorded them), into `site_dir`."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    import cclogin

    todo, seen = ["cclogin"], set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # a dependency of another platform
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
        if name == "cclogin":
            continue  # installed editable: its files point back into the checkout
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if ".." in file.parts or not source.is_file():
                continue
            target = site_dir / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    shutil.copytree(Path(cclogin.__file__).parent, site_dir / "cclogin",
                    ignore=shutil.ignore_patterns("__pycache__"))


def _reachable_by_others(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in path.parents) and bool(os.stat(path).st_mode & 0o001)


@pytest.fixture(scope="module")
def unix_user() -> Iterator[UnixUser]:
    need_root()
    name = "ccpol" + secrets.token_hex(4)
    subprocess.run(
        ["useradd", "--create-home", "--shell", "/bin/sh", "--user-group", name],
        check=True, timeout=60, capture_output=True,
    )
    try:
        pw = pwd.getpwnam(name)
        assert pw.pw_uid != 0
        yield UnixUser(name, pw.pw_uid, pw.pw_gid, Path(pw.pw_dir))
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, timeout=60, capture_output=True)


def _policy_root() -> Path:
    base = Path("/run") if Path("/run").is_dir() else Path("/srv")
    folder = base / f"cclogin-policy-test-{secrets.token_hex(6)}"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # noqa: S103 - the second user must reach it, whatever the umask
    return folder


@dataclass
class PolicyWorld:
    user: UnixUser
    exe: Path  # the `cclogin` executable the user runs
    home: Path  # the user's HOME for this test
    policy_dir: Path  # root-owned, 0755
    env: dict[str, str] = field(default_factory=dict)

    @property
    def policy_file(self) -> Path:
        return self.policy_dir / "policy.toml"

    def write_policy(self, text: str, *, mode: int = 0o644, path: Path | None = None) -> Path:
        """A policy owned by root (the test runs as root), `mode` whatever the umask."""
        target = path or self.policy_file
        target.write_text(text)
        os.chmod(target, mode)
        return target

    def use_policy(self, path: Path | None) -> None:
        if path is None:
            self.env.pop(POLICY_ENV, None)
        else:
            self.env[POLICY_ENV] = str(path)

    def user_file(self, rel: str, text: str | bytes, mode: int = 0o600) -> Path:
        """A file of the user's under their HOME (parents made theirs too)."""
        path = self.home / rel
        folder = path.parent
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for f in reversed(missing):
            f.mkdir(mode=0o700)
            os.chown(f, self.user.uid, self.user.gid)
        if isinstance(text, str):
            path.write_text(text)
        else:
            path.write_bytes(text)
        os.chown(path, self.user.uid, self.user.gid)
        os.chmod(path, mode)
        return path

    def environ(self, extra: Mapping[str, str] | None = None, drop: Sequence[str] = ()) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if k not in drop}
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        input: str | None = None,
        extra: Mapping[str, str] | None = None,
        drop: Sequence[str] = (),
        timeout: float = 120,
    ) -> Result:
        """The real `cclogin ARGS`, as the unprivileged user, stdin not a terminal."""
        proc = subprocess.run(
            [str(self.exe), *args],
            input=input if input is not None else "",
            capture_output=True, text=True, timeout=timeout, check=False,
            env=self.environ(extra, drop), cwd=self.home,
            user=self.user.uid, group=self.user.gid, extra_groups=[],
        )
        return Result(proc.returncode, proc.stdout, proc.stderr, tuple(args))

    def python(self, code: str, *, extra: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A snippet of Python with cclogin importable, as the user."""
        proc = subprocess.run(
            [str(self.exe.with_name("python")), "-c", code],
            capture_output=True, text=True, timeout=120, check=False,
            env=self.environ(extra), cwd=self.home,
            user=self.user.uid, group=self.user.gid, extra_groups=[],
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    def login(self, profile: str = "default", key: str = KEY, *flags: str, extra: Mapping[str, str] | None = None) -> Result:
        return self.run("login", "--with-api-key", "--profile", profile, *flags, input=key + "\n", extra=extra)


@pytest.fixture
def policy_world(unix_user: UnixUser, user_cclogin: Path) -> Iterator[PolicyWorld]:
    home = unix_user.home / f"t-{secrets.token_hex(4)}"
    home.mkdir(mode=0o700)
    os.chown(home, unix_user.uid, unix_user.gid)
    policy_dir = _policy_root()
    world = PolicyWorld(unix_user, user_cclogin, home, policy_dir)
    passphrase = world.user_file("passphrase", PASSPHRASE + "\n")
    world.env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "USER": unix_user.name,
        "LOGNAME": unix_user.name,
        "LANG": "C.UTF-8",
        "CCLOGIN_PASSPHRASE_FILE": str(passphrase),
        "CCLOGIN_TEST_ONLY_WEAK_KDF": "1",
        POLICY_ENV: str(world.policy_file),
    }
    try:
        yield world
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(policy_dir, ignore_errors=True)


def assert_refused(result: Result, line: int, rule: str, *, path: Path | None = None) -> None:
    """Exit 9, one error line naming the policy file, the line and the rule, one hint."""
    assert result.rc == 9, str(result)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("cclogin: error: ")]
    hints = [ln for ln in result.stderr.splitlines() if ln.startswith("cclogin: hint: ")]
    assert len(errors) == 1 and len(hints) == 1, str(result)
    where = f"{path} line {line} ({rule})" if path else f"line {line} ({rule})"
    assert where in errors[0], str(result)
    assert KEY not in result.output


def make_oauth_profile(w: PolicyWorld, name: str, issuer: str) -> None:
    """A provider login as `login --issuer` would store it (no server needed)."""
    w.python(
        "import time\n"
        "from cclogin.accounts.context import AppContext\n"
        "from cclogin.accounts.credentials import save_credential\n"
        "from cclogin.model import OAuthTokens\n"
        "from cclogin.oauth.provider import Provider, to_extra\n"
        "from cclogin.secret import Secret\n"
        f"issuer = {issuer!r}\n"
        f"p = Provider(name={name!r}, issuer=issuer, client_id='cclogin', token_endpoint=issuer + '/token',\n"
        "             revocation_endpoint=issuer + '/revoke')\n"
        f"t = OAuthTokens(Secret('at-{name}-' + 'x' * 30), Secret('rt-{name}-' + 'y' * 30), time.time() + 3600)\n"
        f"save_credential(AppContext.from_environment(), {name!r}, t, force=True, switch=False,\n"
        "                provider=p.name, extra=to_extra(p))\n",
        extra={"CCLOGIN_TEST_ONLY_POLICY_FILE": ""},
    )
