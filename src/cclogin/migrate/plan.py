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
from .sources import Hit, kept_secret_keys

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
    after: bytes = b""
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
    path: Path, read: Read, hits: list[Hit], namer: Namer, reference: bool = False
) -> FilePlan:
    """`reference`: a `.env` entry keeps its line, its key replaced by `cclogin://PROFILE`
    (`migrate --leave-reference`); otherwise the line becomes a comment."""
    text = read.data.decode("utf-8")
    original = len(text)
    items: list[Item] = []
    for hit in hits:
        name, action = namer.choose(hit)
        item = Item(hit, name, action, mode=read.mode)
        text = _apply_hit(text, item, len(text) - original, reference)
        item.after_sha = sha256(text.encode())
        items.append(item)
    plan = FilePlan(path, read, items, claude_file=all(h.shape == "json" for h in hits))
    plan.reference = reference and any(h.shape == "dotenv" for h in hits)
    # Claude Code's other secrets stay in the file (sources.KEPT_SECRET_KEYS): 0600.
    plan.mode = 0o600 if items and kept_secret_keys(text) else read.mode
    if items and items[0].hit.shape == "json" and jsonedit.members(text) == []:
        # Only Claude Code's secrets were in it: the file goes (undo writes it back).
        last = items[-1]
        last.edits.append(Edit(0, text.encode(), b""))
        text = ""
        last.after_sha = sha256(b"")
        plan.delete = True
    plan.after = text.encode()
    return plan


def replan(path: Path, read: Read, names: list[str], reference: bool = False) -> FilePlan:
    """The same plan again for the same bytes and names (recovery: journals hold no secret)."""
    from .sources import detect

    hits = detect(path, read.data).hits
    fixed = iter(names)

    class _Fixed(Namer):
        def choose(self, hit: Hit) -> tuple[str, Action]:
            return next(fixed, hit.base_name), "store"

    return plan_file(path, read, hits, _Fixed({}, None, True, set()), reference)


def _apply_hit(text: str, item: Item, shift: int, reference: bool) -> str:
    """Remove one hit's plaintext from `text`; `shift`: how far earlier edits moved a
    .env entry (hits come in file order, so every earlier edit lies before this one)."""
    hit = item.hit
    if hit.shape == "json":
        for key in hit.keys:
            while (span := jsonedit.removal_span(text, key, hit.within)) is not None:
                member = jsonedit.member_text(text, key, hit.within)
                if member is not None:
                    item.members.append(member)
                start, end = span
                item.edits.append(Edit(len(text[:start].encode()), text[start:end].encode(), b""))
                text = text[:start] + text[end:]
        return text
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
