"""Making cclogin the Vault / OpenBao CLI's token helper, and undoing it.

How the CLIs run a `token_helper` (read in openbao's `internal/command/config` and
`internal/command/token/helper_external.go`, and checked with the real `bao` 2.7.2):

- the setting lives in an HCL file whose only allowed key is `token_helper`: for
  `bao`, `$BAO_CONFIG_PATH` (when set at all, even empty), else `$VAULT_CONFIG_PATH`,
  else `~/.bao` (`~/.vault` is not read by bao); for HashiCorp's `vault`,
  `$VAULT_CONFIG_PATH`, else `~/.vault`;
- the value is one path: a relative one is made absolute against the current
  directory, and the whole string must name an existing file (`"cclogin vault
  token-helper"` fails with "unknown error getting the external helper path"). It is
  then run as `$SHELL -c "<value> get"` (`/bin/sh` without SHELL), so a path with a
  space or any other character a shell splits or expands breaks too;
- `get` prints the token exactly (a trailing newline makes it "contains
  non-printable characters"), nothing when there is none; `store` gets it on stdin
  without a newline; the helper's environment is the CLI's plus `BAO_ADDR` and
  `VAULT_ADDR` set to the server it talks to. `erase` is never run by bao 2.7.2,
  not even by `bao token revoke -self`.

So `install` writes a small private wrapper script (mode 0700) that runs
`<this cclogin> vault token-helper "$@"` with cclogin's own location variables
(CCLOGIN_HOME, CCLOGIN_PASSPHRASE_FILE/_COMMAND, as the apiKeyHelper gets them), at
a path with no shell-special characters, and one `token_helper = "..."` line in
each CLI's config file. `uninstall` removes that line (the file, if nothing else is
left in it) and the wrapper.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CcloginError, InvalidInput, UsageError
from ..fsio import atomic_write
from .context import AppContext

CLIS = ("bao", "vault")
WRAPPER_NAME = "vault-token-helper"
MARK = "cclogin vault install-token-helper"
_SHELL_SAFE = re.compile(r"[A-Za-z0-9/._+@%:,-]+")
_LINE = re.compile(r'^\s*"?token_helper"?\s*[=:]\s*"((?:[^"\\]|\\.)*)"\s*,?\s*$', re.M)


class HelperConflict(CcloginError):
    default_hint = "pass --force to replace it (the old value is printed), or leave it"


@dataclass
class HelperReport:
    wrapper: Path
    written: list[Path] = field(default_factory=list)  # config files changed
    unchanged: list[Path] = field(default_factory=list)  # already set to our wrapper
    replaced: dict[str, str] = field(default_factory=dict)  # file -> old token_helper
    removed: list[str] = field(default_factory=list)  # human lines (uninstall)
    plaintext_tokens: list[Path] = field(default_factory=list)  # ~/.vault-token left


def home(environ: Mapping[str, str]) -> Path:
    raw = environ.get("HOME") or str(Path.home())
    return Path(raw)


def config_file(cli: str, environ: Mapping[str, str]) -> Path:
    """Where `cli` (bao or vault) reads its token_helper setting."""
    if cli == "bao":
        if "BAO_CONFIG_PATH" in environ:
            raw = environ["BAO_CONFIG_PATH"] or "~/.bao"
        else:
            raw = environ.get("VAULT_CONFIG_PATH") or "~/.bao"
    else:
        raw = environ.get("VAULT_CONFIG_PATH") or "~/.vault"
    if raw.startswith("~"):
        return home(environ) / raw[1:].lstrip("/")
    return Path(raw).absolute()


def default_wrapper(ctx: AppContext) -> Path:
    return ctx.paths.data_dir / "bin" / WRAPPER_NAME


def wrapper_script(environ: Mapping[str, str]) -> str:
    from ..claude_handover import cclogin_argv, helper_pointers

    lines = [
        "#!/bin/sh",
        f"# Written by `{MARK}`: the Vault / OpenBao CLI's token helper.",
        f"# `{MARK} --uninstall` removes it and its token_helper line.",
    ]
    for name, value in helper_pointers(environ).items():
        lines.append(f"{name}={shlex.quote(value)}; export {name}")
    lines.append(f"exec {shlex.join([*cclogin_argv(environ), 'vault', 'token-helper'])} \"$@\"")
    return "\n".join(lines) + "\n"


def _hcl_string(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _current(text: str) -> str | None:
    found = _LINE.search(text)
    return found.group(1).replace('\\"', '"').replace("\\\\", "\\") if found else None


def _check_safe(path: Path) -> None:
    if not path.is_absolute() or not _SHELL_SAFE.fullmatch(str(path)):
        raise InvalidInput(
            f"the token helper's path {str(path)[:120]!r} has characters the CLI's shell "
            "would split or expand (it runs `$SHELL -c \"<path> get\"`)",
            "pass --path with an absolute path of letters, digits and / . _ - only",
        )


def install(
    ctx: AppContext,
    clis: tuple[str, ...] = CLIS,
    wrapper: Path | None = None,
    *,
    force: bool = False,
) -> HelperReport:
    if os.name != "posix":
        raise UsageError("the token helper wrapper is a POSIX shell script; not on this OS")
    target = (wrapper or default_wrapper(ctx)).expanduser()
    target = target if target.is_absolute() else target.absolute()
    _check_safe(target)
    report = HelperReport(target)
    plans: list[tuple[Path, str]] = []
    for cli in clis:
        path = config_file(cli, ctx.environ)
        try:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise CcloginError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
        old = _current(text)
        line = f"token_helper = {_hcl_string(target)}"
        if old == str(target):
            report.unchanged.append(path)
            continue
        if old is not None and not force:
            raise HelperConflict(f"{path} already sets token_helper = {old!r}")
        if old is not None:
            report.replaced[str(path)] = old
            new_text = _LINE.sub(line.replace("\\", "\\\\"), text, count=1)
        else:
            new_text = (text.rstrip("\n") + "\n" if text.strip() else "") + line + "\n"
        plans.append((path, new_text))
    # The wrapper first: a config line never points at a file that is not there.
    atomic_write(target, wrapper_script(ctx.environ).encode(), mode=0o700,
                 private_dir=wrapper is None)
    for path, new_text in plans:
        atomic_write(path, new_text.encode(), mode=0o600, private_dir=False)
        report.written.append(path)
    token_file = home(ctx.environ) / ".vault-token"
    if token_file.exists():
        report.plaintext_tokens.append(token_file)
    return report


def uninstall(ctx: AppContext, clis: tuple[str, ...] = CLIS, wrapper: Path | None = None) -> HelperReport:
    target = (wrapper or default_wrapper(ctx)).expanduser()
    target = target if target.is_absolute() else target.absolute()
    report = HelperReport(target)
    for cli in clis:
        path = config_file(cli, ctx.environ)
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        old = _current(text)
        if old is None or Path(old) != target:
            if old is not None:
                report.removed.append(f"(kept {path}: its token_helper is {old!r}, not cclogin's)")
            continue
        rest = _LINE.sub("", text, count=1)
        if rest.strip() and any(
            ln.strip() and not ln.strip().startswith(("#", "//")) for ln in rest.splitlines()
        ):
            atomic_write(path, rest.encode(), mode=0o600, private_dir=False)
            report.removed.append(f"token_helper line from {path}")
        else:
            path.unlink()
            report.removed.append(f"{path} (it held only the token_helper line)")
    if target.exists():
        head = target.read_text(errors="replace")[:400]
        if MARK in head:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            report.removed.append(f"wrapper {target}")
        else:
            report.removed.append(f"(kept {target}: cclogin did not write it)")
    return report
