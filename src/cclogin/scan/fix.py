"""`cclogin scan --fix`: every credential the scan found into the store, then out of its file.

The scan runs in process (never from its printed output), then per file: the file is
read again and each finding's bytes at `span` must still hash to its digest (after
unescaping, for `fish_variables`), or the file is refused as changed since the scan.
Each distinct secret goes to one profile: the one that already holds it (the scan's
`profiles`), else a new one named from where it was found (`bash-history-api-key`,
`shell-api-key`, `env-<project>`, `claude-api-key`, ...). What takes its place, by shape:

  history           the whole entry is cut (bash's `#<time>` line, zsh's continuation
                    lines, fish's `when:`/`paths:` lines go with it)
  rc (sh, bash,     the value asks cclogin when the shell starts:
  zsh, .envrc)      `export ANTHROPIC_API_KEY="$(/abs/cclogin token --profile P)"`
  rc (fish)         `set -gx ANTHROPIC_API_KEY (/abs/cclogin token --profile P)`
  rc (csh)          ``setenv ANTHROPIC_API_KEY "`/abs/cclogin token --profile P`"``
  .pam_environment, the line is cut: those files cannot run a command
  environment.d
  fish_variables    the `SETUVAR` line is cut (a universal variable cannot run one)
  dotenv            the value becomes the reference `cclogin://P` (quotes, `export`,
                    comment and line end kept), which `cclogin run --env-file` resolves
  json              the member is removed (migrate's jsonedit: every other byte kept); a
                    file that is not one JSON document (a `.jsonl` transcript) or a key
                    inside an array gets `cclogin://P` as the string's value instead
  text              the key becomes `cclogin://P`

The moving is migrate/spanfix.py: journaled, the store written and read back before the
file is touched, every other byte kept, mode and group kept, undoable with `--undo`.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..accounts.context import AppContext
from ..accounts.profiles import read_metadata
from ..claude_handover import cclogin_argv
from ..errors import CcloginError, StoreError
from ..migrate import jsonedit, spanfix
from ..migrate.crash import crash_point
from ..migrate.files import hard_linked
from ..migrate.journal import migrate_lock
from ..migrate.recover import recover_all
from ..migrate.sources import env_profile_stem
from ..model import ApiKey, ClaudeToken, Credential, OAuthTokens, Profile, profile_name
from ..secret import Secret
from ..store.base import SecretStore
from .engine import ScanOptions, scan
from .findings import Finding, digest_of
from .histories import unmetafy
from .patterns import KIND_LABELS
from .report import COMMITTED, IN_GIT_HISTORY, shown_path
from .shells import history_advice, running_shells

Say = Callable[[str], None]
SCHEME = "cclogin://"
_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_KIND_SUFFIX = {
    "api_key": "api-key",
    "admin_key": "admin-key",
    "oauth_token": "oauth-token",
    "refresh_token": "refresh-token",
    "anthropic_key": "key",
}
_HISTORY_PREFIX = {
    "bash": "bash-history",
    "zsh": "zsh-history",
    "zsh-extended": "zsh-history",
    "fish": "fish-history",
}
# Which finding names a secret's profile when it is in several places: the likeliest
# home of a key first, a history last.
_NAMING_ORDER = {"dotenv": 1, "rc": 2, "json": 3, "text": 4, "fish_variables": 5, "history": 6}
_GENERIC_STEMS = {"", "config", "settings", "credentials", "secrets", "auth", "env", "keys"}
CSH_NAMES = (".cshrc", ".tcshrc", ".login")


class Refused(CcloginError):
    """A file the fix leaves as it is (changed since the scan, not ours, ...)."""


@dataclass
class FixOptions:
    scan: ScanOptions = field(default_factory=ScanOptions)
    dry_run: bool = False


@dataclass
class Choice:
    """The profile one secret goes to."""

    name: str
    reuse: bool  # it already holds the same secret


@dataclass
class FixReport:
    findings: int = 0
    files: int = 0  # files fixed (or, in a dry run, that would be)
    failures: int = 0


@dataclass
class _Planned:
    plan: spanfix.SpanPlan
    actions: list[tuple[Finding, str]]  # each finding and what is done to it


# --- names and credentials -------------------------------------------------------------------


def _suffix(f: Finding) -> str:
    if f.variable == "ANTHROPIC_AUTH_TOKEN":
        return "auth-token"
    if f.variable == "CLAUDE_CODE_OAUTH_TOKEN":
        return "oauth-token"
    return _KIND_SUFFIX.get(f.kind, "token")


def _clean(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned[:48].rstrip("-._") or "key"


def base_name(f: Finding) -> str:
    """The profile name a secret found here wants (before `-2`, `-3` on a clash)."""
    suffix = _suffix(f)
    if f.location == "claude-code":
        return f"claude-{suffix}"
    if f.shape == "dotenv":
        stem = env_profile_stem(f.path)
        return _clean(f"env-{stem}" + ("" if suffix == "api-key" else f"-{suffix}"))
    if f.shape == "history":
        return f"{_HISTORY_PREFIX.get(f.history_format or 'bash', 'history')}-{suffix}"
    if f.shape == "fish_variables" or (f.shape == "rc" and f.path.name.endswith(".fish")):
        return f"fish-{suffix}"
    if f.shape == "rc":
        return f"shell-{suffix}"
    stem = (
        f.path.name.split(".")[0]
        if not f.path.name.startswith(".")
        else f.path.name[1:].split(".")[0]
    )
    if stem.lower() in _GENERIC_STEMS:
        stem = f.path.parent.name.lstrip(".")
    return _clean(f"{stem}-{suffix}")


def credential_of(f: Finding, secret: str) -> Credential:
    """ANTHROPIC_AUTH_TOKEN is a gateway's bearer token (the `oauth` kind, never
    refreshed), CLAUDE_CODE_OAUTH_TOKEN and `sk-ant-oat01-` a Claude token; any other
    key is kept as an API key (`cclogin token` prints it as it was)."""
    if f.variable == "ANTHROPIC_AUTH_TOKEN":
        return OAuthTokens(access_token=Secret(secret))
    if f.variable == "CLAUDE_CODE_OAUTH_TOKEN" or f.kind == "oauth_token":
        return ClaudeToken(Secret(secret))
    return ApiKey(Secret(secret))


def choose_profiles(ctx: AppContext, findings: list[Finding]) -> dict[bytes, Choice]:
    """One profile per distinct secret: the one already holding it, else a new name."""
    taken = set(read_metadata(ctx.paths).profiles)
    choices: dict[bytes, Choice] = {}
    ordered = sorted(
        findings,
        key=lambda f: (
            0 if f.location == "claude-code" else _NAMING_ORDER.get(f.shape, 9),
            str(f.path),
            f.span,
        ),
    )
    for f in ordered:
        if f.digest in choices:
            continue
        if f.profiles:
            choices[f.digest] = Choice(f.profiles[0], reuse=True)
            continue
        base, n = base_name(f), 1
        name = base
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        choices[f.digest] = Choice(str(profile_name(name)), reuse=False)
    return choices


# --- what replaces each finding ----------------------------------------------------------------


def _dialect(path: Path) -> str:
    name = path.name
    if name.endswith(".fish"):
        return "fish"
    if name in CSH_NAMES:
        return "csh"
    if name == ".pam_environment" or (
        path.parent.name == "environment.d" and name.endswith(".conf")
    ):
        return "plain"
    return "sh"


def token_command(profile: str) -> str:
    """`/abs/path/cclogin token --profile P`: absolute, as apiKeyHelper is written, since
    a shell reads its rc file before it may have ~/.local/bin on PATH."""
    return shlex.join([*cclogin_argv(), "token", "--profile", profile])


def _rc_replacement(data: bytes, f: Finding, profile: str) -> tuple[int, int, bytes]:
    """(start, end, new) putting a cclogin call in place of the key at `f.span`."""
    s, e = f.span
    quoted = f.quote in ('"', "'") and data[s - 1 : s] == f.quote.encode() == data[e : e + 1]
    cmd = token_command(profile)
    dialect = _dialect(f.path)
    if dialect == "fish":
        return (s - 1, e + 1, f"({cmd})".encode()) if quoted else (s, e, f"({cmd})".encode())
    sub = f"`{cmd}`" if dialect == "csh" else f"$({cmd})"
    if quoted and f.quote == '"':
        return s, e, sub.encode()
    if quoted:
        return s - 1, e + 1, f'"{sub}"'.encode()
    return s, e, f'"{sub}"'.encode()


def _cuts(
    found: list[Finding], holes: dict[int, spanfix.Hole], data: bytes
) -> list[spanfix.SpanEdit]:
    """Cut each finding's `entry_span`; entries that overlap become one cut."""
    spans: list[tuple[int, int, list[Finding]]] = []
    for f in sorted(found, key=lambda f: f.entry_span):
        s, e = f.entry_span
        if spans and s < spans[-1][1]:
            last = spans[-1]
            spans[-1] = (last[0], max(last[1], e), [*last[2], f])
        else:
            spans.append((s, e, [f]))
    return [_edit(data, s, e, b"", members, holes) for s, e, members in spans]


def _edit(
    data: bytes,
    start: int,
    end: int,
    new: bytes,
    found: list[Finding],
    holes: dict[int, spanfix.Hole],
) -> spanfix.SpanEdit:
    inside = [(f.span[0], f.span[1], holes[id(f)]) for f in found]
    old, placed = spanfix.masked(data, start, end, inside)
    return spanfix.SpanEdit(start, end, new, old, placed)


def _member_of(
    data: bytes, index: jsonedit.Index, span: tuple[int, int]
) -> tuple[tuple[str, ...], jsonedit.Member] | None:
    """The JSON member whose string value is exactly `span`, and the keys down to its
    object; None when an array (or a duplicate key) is on the way."""
    within: tuple[str, ...] = ()
    found = jsonedit.members(data, index, within)
    while found:
        holder = next(
            (m for m in reversed(found) if m.value_start <= span[0] and span[1] <= m.end), None
        )
        if holder is None:
            return None
        first = data[holder.value_start : holder.value_start + 1]
        if first == b'"' and (holder.value_start + 1, holder.end - 1) == span:
            return within, holder
        last = next(m for m in reversed(found) if m.key == holder.key)
        if first != b"{" or last is not holder:
            return None
        within = (*within, holder.key)
        found = jsonedit.members(data, index, within)
    return None


def _json_cuts(
    data: bytes, found: list[Finding], holes: dict[int, spanfix.Hole]
) -> list[tuple[Finding, spanfix.SpanEdit]] | None:
    """Each finding's member removed; None if one of them cannot be (then every value
    gets a reference instead)."""
    try:
        index = jsonedit.parse(data)
    except ValueError:
        return None
    left: dict[tuple[str, ...], list[jsonedit.Member]] = {}
    out = []
    for f in found:
        located = _member_of(data, index, f.span)
        if located is None:
            return None
        within, member = located
        siblings = left.setdefault(within, list(jsonedit.members(data, index, within) or []))
        if member not in siblings:
            return None  # two findings in one member
        start, end = jsonedit.removal_span(siblings, member)
        siblings.remove(member)
        out.append((f, _edit(data, start, end, b"", [f], holes)))
    return out


def _edits(
    data: bytes, found: list[Finding], choices: dict[bytes, Choice], holes: dict[int, spanfix.Hole]
) -> tuple[list[spanfix.SpanEdit], list[tuple[Finding, str]]]:
    shape = found[0].shape
    dialect = _dialect(found[0].path)
    if shape in ("history", "fish_variables") or (shape == "rc" and dialect == "plain"):
        what = "the history entry is removed" if shape == "history" else "the line is removed"
        return _cuts(found, holes, data), [(f, what) for f in found]
    if shape == "json":
        cuts = _json_cuts(data, found, holes)
        if cuts is not None:
            return [e for _f, e in cuts], [
                (f, f"member {f.variable or '(the key)'} removed") for f, _e in cuts
            ]
    edits, actions = [], []
    for f in found:
        profile = choices[f.digest].name
        if shape == "rc":
            s, e, new = _rc_replacement(data, f, profile)
            what = f"the value now asks cclogin: {new.decode()}"
        else:
            (s, e), new = f.span, f"{SCHEME}{profile}".encode()
            what = f"the key is replaced by {SCHEME}{profile}"
        edits.append(_edit(data, s, e, new, [f], holes))
        actions.append((f, what))
    return edits, actions


# --- one file ------------------------------------------------------------------------------------


def _secret_at(data: bytes, f: Finding) -> tuple[bytes, str]:
    """The secret at a finding's span now, and how it is written there."""
    written = data[f.span[0] : f.span[1]]
    if f.shape == "fish_variables":
        secret = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), written)
        form = spanfix.FISH
    else:
        secret = unmetafy(written) if (f.history_format or "").startswith("zsh") else written
        form = spanfix.RAW
    if digest_of(secret) != f.digest:
        raise Refused(
            f"{shown_path(f.path)} changed since it was scanned (line {f.line} no longer holds "
            "the key found there); left as it is",
            "run `cclogin scan --fix` again",
        )
    if (
        not secret.isascii()
        or not secret.decode().isprintable()
        or spanfix.written_form(secret, form) != written
    ):
        raise Refused(
            f"{shown_path(f.path)}:{f.line}: the key is written in a form the fix cannot put "
            "back exactly; left as it is",
            "store it with `cclogin login --with-api-key` and remove it by hand",
        )
    return secret, form


def _is_claude_login_file(f: Finding) -> bool:
    return f.location == "claude-code" and f.path.name.endswith("credentials.json")


def plan_file(path: Path, found: list[Finding], choices: dict[bytes, Choice]) -> _Planned:
    if "sk-ant-" in str(path):
        raise Refused(
            f"{shown_path(path)}: its name holds a key; left as it is",
            "rename the file (and rotate the key), then run the fix again",
        )
    if _is_claude_login_file(found[0]):
        raise Refused(
            f"{shown_path(path)} is Claude Code's login file: moving a token out of it "
            "would break the login; left as it is",
            "run `cclogin migrate`, which moves the whole login into the store",
        )
    read = spanfix.read_user_file(path)
    if read is None:
        raise Refused(f"{shown_path(path)} is gone since it was scanned")
    if read.nlink > 1:
        refusal = hard_linked(path, read.nlink)
        raise Refused(refusal.message, refusal.hint)
    holes: dict[int, spanfix.Hole] = {}
    targets: dict[str, spanfix.Target] = {}
    for f in found:
        secret, form = _secret_at(read.data, f)
        choice = choices[f.digest]
        holes[id(f)] = spanfix.Hole(0, choice.name, spanfix.fingerprint(secret), form)
        if choice.name not in targets:
            cred = credential_of(f, secret.decode())
            profile = Profile(
                name=profile_name(choice.name),
                kind=cred.kind,
                backend="",  # the store's, once chosen (spanfix.fix_file)
                storage_class="keychain",
                created_at=time.time(),
                extra={"created_by": "cclogin scan --fix"},
            )
            targets[choice.name] = spanfix.Target(
                profile, Secret(secret.decode()), cred, choice.reuse
            )
    edits, actions = _edits(read.data, found, choices, holes)
    try:
        plan = spanfix.SpanPlan(
            path, read, edits, list(targets.values()), found[0].location == "claude-code"
        )
    except ValueError:
        raise Refused(
            f"{shown_path(path)}: the keys in it overlap in a way the fix cannot cut; left as it is"
        ) from None
    return _Planned(plan, actions)


# --- the run -------------------------------------------------------------------------------------


def _select(ctx: AppContext, dry: bool, say: Say) -> tuple[SecretStore | None, str]:
    if not dry:
        store = ctx.store_named(ctx.select_store().name)
        from ..store.encrypted_file import EncryptedFileStore

        if isinstance(store, EncryptedFileStore):
            store.unlock()  # asked once, before any file is touched
        return store, store.name
    try:
        return None, ctx.select_store().name
    except StoreError as exc:
        say(f"warning: no store is available, so a real run would stop here: {exc.message}")
        return None, "the store (none is available yet)"


def fix(ctx: AppContext, options: FixOptions, say: Say) -> FixReport:
    report = FixReport()
    lock = contextlib.nullcontext() if options.dry_run else migrate_lock(ctx.paths)
    with lock:
        if not options.dry_run:
            for line in recover_all(ctx):
                say(line)
        result = scan(ctx, options.scan)
        if not options.dry_run:
            crash_point("fix-scanned")
        report.findings = len(result.findings)
        if not result.findings:
            say("nothing to fix: no plaintext Anthropic credential found")
            return report
        choices = choose_profiles(ctx, result.findings)
        by_path: dict[Path, list[Finding]] = {}
        for f in result.findings:
            by_path.setdefault(f.path, []).append(f)
        run = _Run(ctx, options.dry_run, say, result.home, choices, report)
        if any(not c.reuse for c in choices.values()):
            run.store, run.store_name = _select(ctx, options.dry_run, say)
        claude = _claude_sessions(ctx, by_path)
        done = [
            f
            for path, found in by_path.items()
            if run.file(path, found, claude.get(path))
            for f in found
        ]
        for line in advice(ctx, done, choices, result.home):
            say(line)
    return report


@dataclass
class _Run:
    ctx: AppContext
    dry: bool
    say: Say
    home: Path | None
    choices: dict[bytes, Choice]
    report: FixReport
    store: SecretStore | None = None
    store_name: str = ""

    def file(self, path: Path, found: list[Finding], claude: str | None) -> bool:
        """Fix (or in a dry run, describe) one file; whether it was (would be) fixed."""
        try:
            if claude is not None and not self.dry:
                raise Refused(
                    f"{claude}, and would write the key back into {shown_path(path)}; "
                    "left as it is",
                    "quit it and run `cclogin scan --fix` again (then start it with "
                    "`cclogin exec -- claude`)",
                )
            if claude is not None:
                self.say(
                    f"warning: {claude}; a real run leaves {shown_path(path, self.home)} alone"
                )
            planned = plan_file(path, found, self.choices)
            if not self.dry:
                spanfix.fix_file(self.ctx, self.store, planned.plan)
        except CcloginError as exc:
            self.report.failures += 1
            self.say(_tilde(f"error: {exc.message} ({exc.hint})", self.home))
            return False
        self.report.files += 1
        for f, what in planned.actions:
            choice = self.choices[f.digest]
            self.say(_line(f, what, choice, self.store_name, self.dry, self.home))
        return True


def _claude_sessions(ctx: AppContext, by_path: dict[Path, list[Finding]]) -> dict[Path, str]:
    """Claude Code's files with findings that a running Claude Code session uses: it
    keeps `~/.claude.json` in memory and writes it whole, the key back in it."""
    from ..migrate.claude_running import describe, running_claude

    out: dict[Path, str] = {}
    for path, found in by_path.items():
        if found[0].location == "claude-code":
            sessions = running_claude(ctx.environ, [path])
            if sessions:
                out[path] = describe(sessions)
    return out


def _tilde(text: str, home: Path | None) -> str:
    """Paths under the home shown as `~/...`, as the scan shows them."""
    return text if home is None else text.replace(str(home) + "/", "~/")


def _line(f: Finding, what: str, choice: Choice, store: str, dry: bool, home: Path | None) -> str:
    label = KIND_LABELS.get(f.kind, f.kind) + ("" if f.exact_shape else "?")
    fp = f.fingerprint or "(short)"
    where = "already holds it" if choice.reuse else f"new, in {store}"
    verb = "would fix" if dry else "fixed"
    return f"{verb} {shown_path(f.path, home)}:{f.line}: {label} {fp} -> profile {choice.name!r} ({where}); {what}"


def advice(
    ctx: AppContext, done: list[Finding], choices: dict[bytes, Choice], home: Path | None
) -> list[str]:
    """What the user still has to do about what was fixed."""
    lines: list[str] = []
    seen: set[Path] = set()
    for f in done:
        if f.git.leaked and f.path not in seen:
            seen.add(f.path)
            lines.append(
                f"{shown_path(f.path, home)}: {COMMITTED if f.git.status == 'tracked' else IN_GIT_HISTORY}: anyone with a clone has it"
            )
    formats = sorted({f.history_format or "bash" for f in done if f.shape == "history"})
    if formats:
        lines += history_advice(formats, running_shells(home or Path.home()))
    rc = sorted({f.path for f in done if f.shape == "rc" and _dialect(f.path) != "plain"})
    if rc:
        lines.append(
            f"{', '.join(shown_path(p, home) for p in rc)}: each new shell now runs "
            "`cclogin token --profile ...` when it starts (a locked keychain may ask to be "
            "unlocked); shells open now keep the old value until they end. For Claude Code "
            "alone, `cclogin exec -- claude` keeps the key out of every shell's environment"
        )
    for f in done:
        name = choices[f.digest].name
        if f.shape == "fish_variables":
            lines.append(
                f"fish's universal variable {f.variable} is gone from {shown_path(f.path, home)}; "
                f"to have it again, put `set -gx {f.variable} (cclogin token --profile {name})` "
                "in ~/.config/fish/config.fish"
            )
        elif f.shape == "rc" and _dialect(f.path) == "plain":
            lines.append(
                f"{shown_path(f.path, home)}: {f.variable or 'the key'} is no longer set for your "
                f"sessions (this file cannot run a command); use `cclogin exec --profile {name} -- CMD`"
            )
        elif f.shape == "json" and f.location != "claude-code":
            lines.append(
                f"{shown_path(f.path, home)}: the program that reads it no longer finds its key "
                f"there; `cclogin token --profile {name}` prints it"
            )
    dotenvs = sorted({f.path for f in done if f.shape == "dotenv"})
    for path in dotenvs:
        lines.append(
            f"{shown_path(path, home)} now names profiles (cclogin://...): load it with "
            f"`cclogin run --env-file {shown_path(path, home)} -- CMD`"
        )
    if done:
        lines.append("`cclogin scan --undo` puts every fixed file back as it was")
    return lines
