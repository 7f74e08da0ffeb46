"""`doctor`: every check prints what it found and, for each problem, the fix.

Without `--fix` it writes nothing: backends are probed read-only (store/select.py
`survey`: a keychain's lock state and a search, never a test entry, never an unlock)
and a locked collection is not read (accounts/orphans.py)."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from typing import Literal

from ..errors import CcloginError
from ..model import PROFILE_KEY_PREFIX, secret_key
from ..store.select import survey
from .context import AppContext
from .profiles import read_metadata

Level = Literal["ok", "info", "warn", "fail"]
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    message: str
    fix: str | None = None


def doctor(ctx: AppContext, *, fix: bool = False) -> list[Finding]:
    """Every check; with `fix`, orphaned entries and stale index lines are repaired
    (and each removal is reported) instead of listed."""
    findings: list[Finding] = []
    for check in (
        _config,
        _backends,
        _files,
        _profiles_and_orphans,
        _plaintext,
        _api_key_helper,
        _unlock_cache,
        _environment,
    ):
        try:
            if check is _profiles_and_orphans:
                findings += _profiles_and_orphans(ctx, fix)
            else:
                findings += check(ctx)
        except CcloginError as exc:
            findings.append(Finding(check.__name__.strip("_"), "fail", exc.message, exc.hint))
    return findings


def _config(ctx: AppContext) -> list[Finding]:
    """Where cclogin keeps things, and whether its config files parse."""
    from ..config import load_config

    paths = ctx.paths
    out = [
        Finding(
            "config",
            "info",
            f"config {paths.config_dir}, data {paths.data_dir}, "
            f"state {paths.state_dir} (CCLOGIN_HOME moves them all)",
        )
    ]
    providers = load_config(paths, ctx.environ).get("providers") or {}
    sources = [str(paths.config_file)] if paths.config_file.exists() else []
    if ctx.environ.get("CCLOGIN_PROVIDERS_FILE"):
        sources.append(ctx.environ["CCLOGIN_PROVIDERS_FILE"])
    where = ", ".join(sources) or f"none yet ({paths.config_file})"
    names = ", ".join(sorted(providers)) if isinstance(providers, dict) else ""
    out.append(Finding("config", "ok", f"config files: {where}; providers: {names or 'none'}"))
    return out


def _backends(ctx: AppContext) -> list[Finding]:
    out: list[Finding] = []
    for info in survey(ctx.paths, ctx.environ):
        if info.usable:
            out.append(
                Finding("backend", "ok", f"{info.name}: usable ({info.description})")
            )
        else:
            out.append(Finding("backend", "info", f"{info.name}: unusable: {info.reason}"))
    if not any(f.level == "ok" for f in out):
        out.append(
            Finding(
                "backend",
                "fail",
                "no backend can store secrets here",
                "set CCLOGIN_PASSPHRASE_FILE for the encrypted file, or start a "
                "Secret Service (gnome-keyring); in CI export ANTHROPIC_API_KEY",
            )
        )
    return out


def _files(ctx: AppContext) -> list[Finding]:
    out: list[Finding] = []
    paths = ctx.paths
    for path in (paths.metadata_file, paths.encrypted_store, paths.keychain_index):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            out.append(
                Finding(
                    "files", "fail", f"{path} is a symlink", "replace it with the file it points to"
                )
            )
        elif os.name == "posix" and (mode & 0o077 or st.st_uid != os.getuid()):
            out.append(
                Finding(
                    "files",
                    "fail",
                    f"{path} has mode {mode:03o} or another owner",
                    f"run `chmod 600 {path}`",
                )
            )
        else:
            out.append(Finding("files", "ok", f"{path} is private ({mode:03o})"))
    return out


def _profiles_and_orphans(ctx: AppContext, fix: bool = False) -> list[Finding]:
    """Each profile's secret where its metadata says; then every backend that holds
    cclogin entries, whatever the metadata says (accounts/orphans.py)."""
    from . import orphans

    meta = read_metadata(ctx.paths)
    out: list[Finding] = []
    by_backend: dict[str, set[str]] = {}
    for p in meta.profiles.values():
        by_backend.setdefault(p.backend, set()).add(secret_key(p.name))
    for backend, expected in sorted(by_backend.items()):
        try:
            present = {k for k in ctx.store_named(backend).keys() if k.startswith(PROFILE_KEY_PREFIX)}
        except CcloginError as exc:
            out.append(Finding("orphans", "fail", f"{backend}: {exc.message}", exc.hint))
            continue
        for key in sorted(expected - present):
            name = key.removeprefix(PROFILE_KEY_PREFIX)
            out.append(
                Finding(
                    "orphans",
                    "warn",
                    f"profile {name!r} has no secret in {backend}",
                    f"log in again (`cclogin login --profile {name}`) or "
                    f"`cclogin logout --profile {name}`",
                )
            )
    walked = orphans.walk(ctx)
    for backend, (message, hint) in sorted(walked.unreachable.items()):
        out.append(
            Finding(
                "orphans",
                "warn",
                f"{backend}: could not check it for leftover entries: {message}",
                hint,
            )
        )
    if fix:
        done = orphans.repair(ctx, walked.strays, kinds=("orphan", "stale", "unindexed"))
        out += [Finding("orphans", "ok", f"removed {line}") for line in done.removed]
        out += [Finding("orphans", "ok", f"listed {line}") for line in done.listed]
        out += [Finding("orphans", "info", line) for line in done.kept]
        out += [
            Finding("orphans", "fail", line, "unlock or reach the store and run it again")
            for line in done.failed
        ]
    else:
        out += [
            Finding("orphans", "warn", stray.describe(), orphans.fix_hint(stray))
            for stray in walked.strays
        ]
    if not out:
        where = ", ".join(walked.checked) or "none here"
        out.append(
            Finding(
                "orphans",
                "ok",
                f"{len(meta.profiles)} profile(s), metadata and stores agree "
                f"(backends checked: {where})",
            )
        )
    return out


def _plaintext(ctx: AppContext) -> list[Finding]:
    """Every shape `cclogin migrate` recognises (by content), in every known location,
    and Claude Code's secrets that stay in its credentials file (by name, never value)."""
    from ..migrate.scan import scan
    from ..migrate.sources import kept_lines

    out: list[Finding] = []
    for item in scan(ctx.environ):
        where = f" ({item.note})" if item.note else ""
        if item.error is not None:
            out.append(Finding("plaintext", "warn", item.error.message, item.error.hint))
        elif item.detection.problem:
            out.append(
                Finding(
                    "plaintext",
                    "warn",
                    item.detection.problem,
                    item.detection.hint
                    or "fix or remove the file; `cclogin migrate` cannot read it",
                )
            )
        elif item.detection.hits:
            labels = ", ".join(h.label for h in item.detection.hits)
            out.append(
                Finding(
                    "plaintext",
                    "warn",
                    f"plaintext credential in {item.path}{where}: {labels}",
                    "move it into the keychain with `cclogin migrate`",
                )
            )
        if item.error is None and item.detection.kept:
            for line in kept_lines(item.path, item.detection.kept):
                out.append(Finding("plaintext-kept", "info", line))
            if item.exposed_kept and item.read is not None:
                out.append(
                    Finding(
                        "plaintext-kept",
                        "warn",
                        f"{item.path} keeps Claude Code's secrets but has mode "
                        f"{item.read.mode:03o}",
                        f"run `chmod 600 {item.path}`",
                    )
                )
    if not any(f.check == "plaintext" for f in out):
        out.append(Finding("plaintext", "ok", "no plaintext credential files found"))
    return out


def _api_key_helper(ctx: AppContext) -> list[Finding]:
    from .doctor_helper import helper_findings  # it imports Finding from here

    return helper_findings(ctx)


def _unlock_cache(ctx: AppContext) -> list[Finding]:
    """Whether this session holds the encrypted store's unlock cache, and until when."""
    from .unlock import cache_state, describe_state

    state = cache_state(ctx)
    return [] if state is None else [Finding("unlock-cache", "info", describe_state(state))]


def _environment(ctx: AppContext) -> list[Finding]:
    env = ctx.environ
    out: list[Finding] = []
    if env.get("ANTHROPIC_API_KEY"):
        out.append(
            Finding(
                "environment",
                "info",
                "ANTHROPIC_API_KEY is set and wins over every stored profile",
                "unset it to use stored profiles",
            )
        )
    if env.get("CCLOGIN_PASSPHRASE"):
        out.append(
            Finding(
                "environment",
                "warn",
                "CCLOGIN_PASSPHRASE is set; environment variables leak to child processes",
                "use CCLOGIN_PASSPHRASE_FILE (mode 600) or CCLOGIN_PASSPHRASE_COMMAND",
            )
        )
    proxies = [
        f"{k}={env[k] if k.lower() == 'no_proxy' else _safe_proxy(env[k])}"
        for k in PROXY_VARS
        if env.get(k)
    ]
    if proxies:
        out.append(Finding("proxy", "info", "proxy settings: " + ", ".join(proxies)))
    ca = env.get("SSL_CERT_FILE")
    if ca and not os.path.isfile(ca):
        out.append(
            Finding(
                "proxy",
                "fail",
                f"SSL_CERT_FILE={ca} does not exist",
                "point SSL_CERT_FILE at your company's CA bundle",
            )
        )
    return out


def _safe_proxy(value: str) -> str:
    """Proxy URLs can carry a password: show scheme and host only."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value if "://" in value else f"http://{value}")
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "(unparseable)"


def findings_json(findings: list[Finding]) -> list[dict[str, object]]:
    return [asdict(f) for f in findings]
