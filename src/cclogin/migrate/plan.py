"""From detected credentials to a plan: profile names, the edits that remove the
plaintext, and the blob that keeps what `migrate --undo` needs to write the file back.

The undo data lives inside the secret blob (`"migrated_from"`, ignored by
`load_credential`), never as a plaintext copy on disk.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..envfile import SCHEME
from ..errors import CcloginError
from ..model import Credential, Profile, dump_credential, primary_secret
from . import jsonedit
from .files import Read, sha256
from .sources import Hit, kept_secret_keys, parse_json
from .splice import Spliced

MIGRATION_ID = "0001-claude-code-plaintext"
Action = Literal["store", "same", "replace", "conflict"]


@dataclass(frozen=True)
class Edit:
    offset: int  # byte offset in the file as it is before this edit
    old: bytes
    new: bytes

    def to_json(self) -> list[Any]:
        return [self.offset, _b64(self.old), _b64(self.new)]

    @classmethod
    def from_json(cls, doc: Any) -> Edit:
        offset, old, new = doc
        return cls(int(offset), base64.b64decode(old), base64.b64decode(new))


@dataclass
class Item:
    hit: Hit
    profile: str
    action: Action
    edits: list[Edit] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # JSON member texts removed
    after_sha: str = ""  # the file once this item's edits are applied
    mode: int | None = None  # the file's mode before the migration (undo restores it)

    def origin(self, path: Path) -> dict[str, Any]:
        doc = {
            "migration": MIGRATION_ID,
            "at": time.time_ns(),  # undo goes newest first, so exact reversal applies
            "path": str(path),
            "shape": self.hit.shape,
            "variable": self.hit.variable,
            "after_sha256": self.after_sha,
            "edits": [e.to_json() for e in self.edits],
            "members": self.members,
        }
        if self.hit.within:
            doc["within"] = list(self.hit.within)  # the members sit in this nested object
        if self.mode is not None:
            doc["mode"] = self.mode
        return doc


@dataclass
class FilePlan:
    path: Path
    read: Read
    items: list[Item]
    after: Spliced = field(default_factory=lambda: Spliced(b""))  # views into read.data
    after_sha: str = ""
    delete: bool = False  # nothing but the credential was in it
    claude_file: bool = True  # take Claude Code's locks while touching it
    mode: int = 0o600  # the rewritten file's mode: its own, or 0600 if secrets stay in it
    reference: bool = False  # .env: the key becomes `cclogin://PROFILE`, not a comment

    @property
    def conflicts(self) -> list[Item]:
        return [i for i in self.items if i.action == "conflict"]


def same_credential(a: Credential, b: Credential) -> bool:
    return a.kind == b.kind and primary_secret(a) == primary_secret(b)


class Namer:
    """Profile names for this run: one per distinct credential, `-2`... on clashes."""

    def __init__(
        self, existing: dict[str, Profile], read_existing: Any, force: bool, owned: set[str]
    ) -> None:
        self.existing = existing
        self.read_existing = read_existing  # Profile -> Credential | None
        self.force = force
        self.owned = owned  # names this run already wrote: replaceable
        self.claims: dict[str, Credential] = {}

    def choose(self, hit: Hit) -> tuple[str, Action]:
        n = 1
        while True:
            name = hit.base_name if n == 1 else f"{hit.base_name}-{n}"
            n += 1
            claimed = self.claims.get(name)
            if claimed is not None:
                if same_credential(claimed, hit.cred):
                    return name, "same"
                continue
            self.claims[name] = hit.cred
            profile = self.existing.get(name)
            if profile is None:
                return name, "store"
            current = self.read_existing(profile)
            if current is not None and same_credential(current, hit.cred):
                return name, "same"
            if self.force or name in self.owned:
                return name, "replace"
            return name, "conflict"


def plan_file(
    path: Path,
    read: Read,
    hits: list[Hit],
    namer: Namer,
    reference: bool = False,
    index: jsonedit.Index | None = None,
) -> FilePlan:
    """`reference`: a `.env` entry keeps its line, its key replaced by `cclogin://PROFILE`
    (`migrate --leave-reference`); otherwise the line becomes a comment. `index`: the
    JSON file's, from its detection (parsed once: `sources.Detection.index`)."""
    if hits and hits[0].shape == "json":
        plan = _plan_json(path, read, hits, namer, index or parse_json(read.data))
    else:
        plan = _plan_dotenv(path, read, hits, namer, reference)
    plan.after_sha = plan.after.digest()
    return plan


def _plan_json(
    path: Path, read: Read, hits: list[Hit], namer: Namer, index: jsonedit.Index
) -> FilePlan:
    """Each hit's members cut out by byte span, in order, as if one after the other
    (each edit's offset is in the file as the earlier edits left it, for undo)."""
    after = Spliced(read.data)
    gone: list[tuple[int, int]] = []  # spans cut so far, in the bytes as read
    left: dict[tuple[str, ...], list[jsonedit.Member]] = {}  # members not cut, per object
    items: list[Item] = []
    for hit in hits:
        name, action = namer.choose(hit)
        item = Item(hit, name, action, mode=read.mode)
        if hit.within not in left:
            left[hit.within] = jsonedit.members(read.data, index, hit.within) or []
        found = left[hit.within]
        for key in hit.keys:
            for member in [m for m in reversed(found) if m.key == key]:  # the last first
                item.members.append(
                    after.slice(_now(gone, member.start), _now(gone, member.end)).decode()
                )
                start, end = jsonedit.removal_span(found, member)
                item.edits.append(_cut(after, gone, start, end))
                found.remove(member)
        item.after_sha = after.digest()
        items.append(item)
    plan = FilePlan(path, read, items, after)
    # Claude Code's other secrets stay in the file (sources.KEPT_SECRET_KEYS): 0600.
    plan.mode = 0o600 if items and kept_secret_keys(dict(index.values)) else read.mode
    top = left[()] if () in left else list(index.members or ())
    if items and not top:
        # Only Claude Code's secrets were in it: the file goes (undo writes it back).
        last = items[-1]
        last.edits.append(Edit(0, after.tobytes(), b""))  # what is left: `{}`, a BOM
        plan.after = Spliced(b"")
        last.after_sha = sha256(b"")
        plan.delete = True
    return plan


def _now(gone: list[tuple[int, int]], offset: int) -> int:
    """Where `offset` of the bytes as read is once the spans in `gone` are cut."""
    return offset - sum(min(end, offset) - start for start, end in gone if start < offset)


def _cut(after: Spliced, gone: list[tuple[int, int]], start: int, end: int) -> Edit:
    """Cut [start, end) of the bytes as read (parts cut before stay cut) from `after`."""
    offset, stop = _now(gone, start), _now(gone, end)
    old = after.replace(offset, stop - offset, b"")
    merged: list[tuple[int, int]] = []
    for span in sorted([*gone, (start, end)]):
        if merged and span[0] <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], span[1]))
        else:
            merged.append(span)
    gone[:] = merged
    return Edit(offset, old, b"")


def _plan_dotenv(
    path: Path, read: Read, hits: list[Hit], namer: Namer, reference: bool
) -> FilePlan:
    text = read.data.decode("utf-8")
    original = len(text)
    items: list[Item] = []
    for hit in hits:
        name, action = namer.choose(hit)
        item = Item(hit, name, action, mode=read.mode)
        text = _apply_line(text, item, len(text) - original, reference)
        item.after_sha = sha256(text.encode())
        items.append(item)
    plan = FilePlan(path, read, items, Spliced(text.encode()), claude_file=not hits)
    plan.reference = reference and bool(hits)
    plan.mode = read.mode
    return plan


def replan(path: Path, read: Read, names: list[str], reference: bool = False) -> FilePlan:
    """The same plan again for the same bytes and names (recovery: journals hold no secret)."""
    from .sources import detect

    detection = detect(path, read.data)
    fixed = iter(names)

    class _Fixed(Namer):
        def choose(self, hit: Hit) -> tuple[str, Action]:
            return next(fixed, hit.base_name), "store"

    namer = _Fixed({}, None, True, set())
    return plan_file(path, read, detection.hits, namer, reference, detection.index)


def _apply_line(text: str, item: Item, shift: int, reference: bool) -> str:
    """Replace one `.env` entry's line in `text`; `shift`: how far earlier edits moved it
    (hits come in file order, so every earlier edit lies before this one)."""
    hit = item.hit
    start, end = (p + shift for p in hit.span)
    old = text[start:end]
    if reference:
        # Only the value changes: indent, `export`, quotes, comment and line end stay.
        value_start, value_end = (p + shift for p in hit.value_span)
        new = f"{text[start:value_start]}{SCHEME}{item.profile}{text[value_end:end]}"
    else:
        eol = "\r\n" if old.endswith("\r\n") else "\n" if old.endswith("\n") else ""
        new = (
            f"# {hit.variable} moved to the keychain by cclogin: profile {item.profile} "
            f"(use `cclogin exec --profile {item.profile} -- CMD`){eol}"
        )
    # The whole line is the edit, so an undo into a changed file finds the right one.
    item.edits.append(Edit(len(text[:start].encode()), old.encode(), new.encode()))
    return text[:start] + new + text[end:]


def build_blob(cred: Credential, origins: list[dict[str, Any]]) -> bytes:
    doc = json.loads(dump_credential(cred))
    doc["migrated_from"] = origins
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def origins_of(blob: bytes | None) -> list[dict[str, Any]]:
    """The undo records kept in a stored blob (empty for a credential not migrated)."""
    if blob is None:
        return []
    try:
        doc = json.loads(blob)
    except ValueError:
        raise CcloginError("the stored credential is not valid JSON") from None
    found = doc.get("migrated_from") if isinstance(doc, dict) else None
    return [o for o in found if isinstance(o, dict)] if isinstance(found, list) else []


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


SETTINGS_SHAPE = "settings"  # an origin that records a setting cclogin wrote, not a secret


def settings_origin(
    path: Path,
    key: str,
    before: str | None,
    written: str,
    edits: list[Edit],
    after_sha: str,
    *,
    created: bool,
) -> dict[str, Any]:
    """The undo record of a top-level setting cclogin wrote (`apiKeyHelper`).

    `before` is the member as it was written (`"key": value`), None if it was absent;
    `written` the value text cclogin put there. Undo reverses `edits` when the file is
    as cclogin left it, else puts `before` back only while the value is still `written`.
    """
    return {
        "migration": MIGRATION_ID,
        "at": time.time_ns(),
        "path": str(path),
        "shape": SETTINGS_SHAPE,
        "key": key,
        "before": before,
        "written": written,
        "created": created,
        "after_sha256": after_sha,
        "edits": [e.to_json() for e in edits],
    }
