"""Switching the active profile: a pointer in the metadata file, nothing else."""

from __future__ import annotations

from ..model import Profile
from .context import AppContext
from .profiles import editing_metadata, read_metadata


def list_profiles(ctx: AppContext) -> tuple[list[Profile], str | None]:
    meta = read_metadata(ctx.paths)
    return sorted(meta.profiles.values(), key=lambda p: p.name), meta.active


def switch(ctx: AppContext, name: str) -> Profile:
    with editing_metadata(ctx.paths) as meta:
        profile = meta.get(name)
        meta.active = profile.name
    return profile
