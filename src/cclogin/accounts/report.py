"""`cclogin report`: one user's compliance with the admin policy, for fleet tools.

The document (docs/report.md; its JSON Schema is docs/report.schema.json) says which
policy is in force and its digest, each profile's backend and storage class, the
plaintext Claude Code credentials `migrate` would move, the counts of a `cclogin scan`
of the home, and every policy violation with its rule and line. It reads metadata and
files only: no secret is read, no keychain is probed (unlike `doctor`), it never prompts.

Exit codes, one meaning each: 0 compliant; 10 (EXIT_NONCOMPLIANT) violations found;
9 (EXIT_POLICY) a policy file exists that cannot be honoured (the document is still
printed, `policy.status` = "unusable"); other codes as every command's.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .. import __version__
from ..errors import EXIT_NONCOMPLIANT, EXIT_OK, EXIT_POLICY, CcloginError, PolicyRefused
from ..policy.rules import Policy
from .context import AppContext
from .policy_gate import profile_violations
from .profiles import read_metadata

REPORT_SCHEMA = 1


def build_report(ctx: AppContext, scan_result: Any | None = None) -> tuple[dict[str, Any], int]:
    """The report document and the exit code that goes with it.

    `scan_result` is what `cclogin scan` found in the home (a scan.ScanResult, made by
    the CLI: accounts/ does not import scan/), or None when no scan was run."""
    from .. import policy as policy_mod

    policy: Policy | None = None
    try:
        policy = policy_mod.current()
        section = _policy_section(policy)
    except PolicyRefused as exc:  # PolicyUnusable: the file exists but cannot be honoured
        section = {
            "status": "unusable",
            "path": _located_path(),
            "sha256": None,
            "schema": None,
            "rules": {},
            "error": exc.message,
        }
    meta = read_metadata(ctx.paths)
    profiles = [
        {
            "name": p.name,
            "kind": p.kind,
            "backend": p.backend,
            "storage_class": p.storage_class,
            "active": p.name == meta.active,
        }
        for p in sorted(meta.profiles.values(), key=lambda p: p.name)
    ]
    claude_code, problems = _plaintext(ctx)
    violations: list[dict[str, Any]] = []
    if policy is not None:
        for p in sorted(meta.profiles.values(), key=lambda p: p.name):
            violations += [_violation(exc, f"profile:{p.name}") for exc in profile_violations(policy, p)]
        violations += _setting_violations(ctx)
        violations += _store_violations(ctx, policy)
        if policy.require_clean:
            violations += [
                {
                    "rule": "migrate.require_clean",
                    "line": policy.line_of("migrate.require_clean"),
                    "subject": f"file:{item['path']}",
                    "message": f"a plaintext Claude Code credential is still in {item['path']} "
                    f"({', '.join(item['labels'])}); run `cclogin migrate`",
                }
                for item in claude_code
            ]
        if not policy.allow_env_passphrase and ctx.environ.get("CCLOGIN_PASSPHRASE"):
            violations.append(
                {
                    "rule": "passphrase.allow_environment",
                    "line": policy.line_of("passphrase.allow_environment"),
                    "subject": "environment:CCLOGIN_PASSPHRASE",
                    "message": "CCLOGIN_PASSPHRASE is set in this environment",
                }
            )
    compliant = section["status"] != "unusable" and not violations
    doc = {
        "report_schema": REPORT_SCHEMA,
        "cclogin_version": __version__,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "user": _user(ctx),
        "policy": section,
        "profiles": profiles,
        "plaintext": {"claude_code": claude_code, "problems": problems, "scan": scan_summary(scan_result)},
        "violations": violations,
        "compliant": compliant,
    }
    if section["status"] == "unusable":
        return doc, EXIT_POLICY
    return doc, EXIT_OK if compliant else EXIT_NONCOMPLIANT


def scan_summary(result: Any | None) -> dict[str, Any] | None:
    """The counts of a `cclogin scan` over the home (its findings never shown here:
    `cclogin scan` says where). Informational: no policy key covers them yet."""
    if result is None:
        return None
    from collections import Counter

    findings = list(result.findings)
    return {
        "findings": len(findings),
        "files_with_findings": len({f.path for f in findings}),
        "committed": sum(1 for f in findings if f.git.leaked),
        "by_kind": dict(sorted(Counter(str(f.kind) for f in findings).items())),
        "by_location": dict(sorted(Counter(str(f.location) for f in findings).items())),
        "files_scanned": int(result.files),
        "skipped": sum(result.skipped.counts.values()),
    }


def _located_path() -> str | None:
    from .. import policy as policy_mod

    try:
        return policy_mod.locate()
    except PolicyRefused:
        return policy_mod.system_path()


def _policy_section(policy: Policy | None) -> dict[str, Any]:
    if policy is None:
        return {"status": "none", "path": None, "sha256": None, "schema": None, "rules": {}, "error": None}
    import hashlib

    from ..policy import SCHEMA

    return {
        "status": "in_force",
        "path": policy.path,
        "sha256": hashlib.sha256(policy.data).hexdigest(),
        "schema": SCHEMA,
        "rules": dict(policy.values),  # the keys the file sets, as in force
        "error": None,
    }


def _violation(exc: PolicyRefused, subject: str) -> dict[str, Any]:
    return {"rule": exc.rule, "line": exc.line, "subject": subject, "message": exc.detail or exc.message}


def _setting_violations(ctx: AppContext) -> list[dict[str, Any]]:
    """The user's backend choice (CCLOGIN_BACKEND, config.toml) and Vault settings,
    where the next login would be refused for them."""
    from ..store.select import explicit_choice

    out: list[dict[str, Any]] = []
    try:
        explicit_choice(ctx.paths, ctx.environ, None)
    except PolicyRefused as exc:
        out.append(_violation(exc, "setting:backend"))
    except CcloginError:
        pass  # a broken config file: `doctor` says so, it is no policy matter
    from ..config import load_config
    from ..vault.settings import resolve_settings

    try:
        config = load_config(ctx.paths, ctx.environ)
        if config.get("vault") or any(ctx.environ.get(v) for v in ("VAULT_ADDR", "BAO_ADDR")):
            resolve_settings(ctx.environ, config)
    except PolicyRefused as exc:
        out.append(_violation(exc, "setting:vault"))
    except CcloginError:
        pass
    return out


def _store_violations(ctx: AppContext, policy: Policy) -> list[dict[str, Any]]:
    """The encrypted store's Argon2id cost against `[encrypted_file]` (header only)."""
    from ..fsio import read_private
    from ..store.file_format import MAX_FILE, decode

    path = ctx.paths.encrypted_store
    try:
        data = read_private(path, max_size=MAX_FILE)
        if data is None:
            return []
        kdf = decode(data).header.kdf
    except CcloginError:
        return []  # unreadable or damaged: `doctor` reports it
    return [
        {
            "rule": key,
            "line": policy.line_of(key),
            "subject": f"encrypted-store:{path}",
            "message": f"the encrypted store derives its key with {have}, below the minimum "
            f"of {need}; re-key it with `cclogin passphrase`",
        }
        for key, have, need in policy.kdf_shortfalls(kdf.memory_kib, kdf.iterations, kdf.lanes)
    ]


def _plaintext(ctx: AppContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What `migrate` would move (by content, never shown), and files it cannot judge."""
    from ..migrate.scan import scan

    found: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for item in scan(ctx.environ):
        if item.detection.hits:
            found.append(
                {
                    "path": str(item.path),
                    "kinds": sorted({h.cred.kind for h in item.detection.hits}),
                    "labels": [h.label for h in item.detection.hits],
                }
            )
        if item.error is not None:
            problems.append({"path": str(item.path), "reason": item.error.message})
        elif item.detection.problem:
            problems.append({"path": str(item.path), "reason": item.detection.problem})
    return found, problems


def _user(ctx: AppContext) -> dict[str, Any]:
    """Whose report this is: fleet tools run it once per user."""
    import getpass

    from ..paths import user_home

    try:
        name: str | None = getpass.getuser()
    except (KeyError, OSError):
        name = None
    uid = os.getuid() if hasattr(os, "getuid") else None
    return {"name": name, "uid": uid, "home": str(user_home(dict(ctx.environ)))}
