"""What `cclogin scan` prints: a table for people, `--json` for programs (docs/scan.md).

Neither ever holds a secret: a finding has no copy of it, only its place, its shape
and 8 hex digits of its SHA-256. A path is shown with any `sk-ant-...` in it masked
(a file named after its key would print it), control characters and undecodable
bytes escaped, so one line of output is one line of the table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import EXIT_OK, EXIT_PLAINTEXT_FOUND
from .findings import SCHEMA, SKIP_LABELS, Finding, ScanResult
from .patterns import KIND_LABELS

COMMITTED = "committed: rotate this key — moving it does not unleak it"
IN_GIT_HISTORY = "in git history: rotate this key — moving it does not unleak it"
IN_HISTORY_FILE = (
    "in a shell history: a running shell keeps its history in memory and writes it back "
    "when it exits; `cclogin scan --fix` names the open ones and says what to run in them"
)
MAX_SKIPPED_PATHS = 1000
_KEYISH = re.compile(r"sk-ant-[A-Za-z0-9_-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown_path(path: Path | str, home: Path | None = None) -> str:
    text = str(path)
    if home is not None and (text == str(home) or text.startswith(str(home) + "/")):
        text = "~" + text[len(str(home)) :]
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _KEYISH.sub("sk-ant-(hidden)", text)


def exit_code(result: ScanResult) -> int:
    return EXIT_PLAINTEXT_FOUND if result.findings else EXIT_OK


def advice(f: Finding) -> list[str]:
    out = []
    if f.git.status == "tracked":
        out.append(COMMITTED)
    elif f.git.in_history:
        out.append(IN_GIT_HISTORY)
    if f.shape == "history":
        out.append(IN_HISTORY_FILE)
    return out


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "path": shown_path(f.path),
        "line": f.line,
        "column": f.column,
        "span": list(f.span),
        "line_span": list(f.line_span),
        "entry_span": list(f.entry_span),
        "kind": f.kind,
        "exact_shape": f.exact_shape,
        "variable": f.variable,
        "quote": f.quote,
        "shape": f.shape,
        "history_format": f.history_format,
        "location": f.location,
        "note": f.note,
        "fingerprint": f.fingerprint,
        "in_store": f.in_store,
        "profiles": list(f.profiles),
        "git": {
            "status": f.git.status,
            "repo": None if f.git.repo is None else shown_path(f.git.repo),
            "in_history": f.git.in_history,
        },
        "advice": advice(f),
    }


def to_json(result: ScanResult) -> dict[str, Any]:
    paths = result.skipped.paths
    return {
        "schema": SCHEMA,
        "cclogin_version": __version__,
        "roots": [shown_path(r) for r in result.roots],
        "max_size": result.max_size,
        "store": result.store,
        "summary": {
            "findings": len(result.findings),
            "files_with_findings": len({f.path for f in result.findings}),
            "committed": sum(1 for f in result.findings if f.git.leaked),
            "in_store": sum(1 for f in result.findings if f.in_store == "yes"),
            "files_scanned": result.files,
            "bytes_scanned": result.bytes,
            "seconds": round(result.seconds, 3),
        },
        "findings": [finding_json(f) for f in result.findings],
        "skipped": {
            "counts": dict(sorted(result.skipped.counts.items())),
            "paths": [
                {"path": shown_path(p), "reason": r}
                for p, r in sorted(paths, key=lambda x: str(x[0]))[:MAX_SKIPPED_PATHS]
            ],
            "paths_truncated": len(paths) > MAX_SKIPPED_PATHS,
        },
    }


def _store_cell(f: Finding, checked: bool) -> str:
    if not checked:
        return "-"
    if f.in_store == "yes":
        return "yes (" + ", ".join(f.profiles) + ")"
    return f.in_store


def _git_cell(f: Finding) -> str:
    status = {"none": "-", "tracked": "COMMITTED"}.get(f.git.status, f.git.status)
    return status + (" +history" if f.git.in_history and f.git.status != "tracked" else "")


def render(result: ScanResult, verbose: bool = False) -> str:
    home = result.home
    lines: list[str] = []
    if result.findings:
        lines += _table(result)
        notes = [
            f"  {shown_path(f.path, home)}:{f.line}: {text}"
            for f in result.findings
            for text in advice(f)
            if text != IN_HISTORY_FILE
        ]
        histories = sorted({shown_path(f.path, home) for f in result.findings if f.shape == "history"})
        if histories:
            notes.append(f"  {', '.join(histories)}: {IN_HISTORY_FILE}")
        if notes:
            lines += ["", *notes]
        if result.store in ("unreadable", "partly unreadable"):
            lines += ["", f"in store: the store is {result.store} here; such rows say unknown"]
    else:
        lines.append("no plaintext Anthropic credentials found")
    lines += ["", _summary(result, verbose)]
    if verbose:
        lines += [
            f"  skipped {shown_path(p, home)}: {SKIP_LABELS[r][0]}"
            for p, r in sorted(result.skipped.paths, key=lambda x: str(x[0]))
        ]
    return "\n".join(lines)


def _table(result: ScanResult) -> list[str]:
    found = result.findings
    files = {f.path for f in found}
    committed = sum(1 for f in found if f.git.leaked)
    title = (
        f"{len(found)} plaintext Anthropic credential{'s' if len(found) != 1 else ''} "
        f"in {len(files)} file{'s' if len(files) != 1 else ''}"
        + (f" ({committed} committed to git: rotate)" if committed else "")
    )
    head = ("FILE:LINE", "KIND", "VARIABLE", "FINGERPRINT", "IN STORE", "GIT")
    checked = result.store != "not checked"
    rows = [
        (
            f"{shown_path(f.path, result.home)}:{f.line}",
            KIND_LABELS[f.kind] + ("" if f.exact_shape or f.kind == "unknown" else "?"),
            f.variable or "-",
            f.fingerprint or "(short)",
            _store_cell(f, checked),
            _git_cell(f),
        )
        for f in found
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    table = [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (head, *rows)
    ]
    return [title, "", *table]


def _summary(result: ScanResult, verbose: bool) -> str:
    size = f"{result.bytes / 1e6:.1f} MB"
    text = f"scanned {result.files} files ({size}) in {result.seconds:.2f} s"
    counts = result.skipped.counts
    if counts:
        parts = []
        for reason, n in sorted(counts.items()):
            label = SKIP_LABELS[reason][0 if n == 1 else 1]
            if reason == "too_large":
                label += f" (over {result.max_size / (1 << 20):g} MiB)"
            parts.append(f"{n} {label}")
        text += "; skipped: " + ", ".join(parts)
        if not verbose:
            text += " (-v lists them)"
    return text


def fix_hint(result: ScanResult) -> str | None:
    if not result.findings:
        return None
    hint = (
        "`cclogin scan --fix` moves each key into the store and out of its file "
        "(`--fix --dry-run` shows how first; `cclogin scan --undo` puts the files back)"
    )
    if any(_is_login_file(f) for f in result.findings):
        hint += "; Claude Code's login file goes with `cclogin migrate`"
    if any(f.git.leaked for f in result.findings):
        hint += "; rotate every key marked COMMITTED (Console > API keys) first"
    return hint


def _is_login_file(f: Finding) -> bool:
    return f.location == "claude-code" and f.path.name.endswith("credentials.json")
