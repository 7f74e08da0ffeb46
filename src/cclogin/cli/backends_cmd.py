"""`cclogin backends`: which stores exist here, which is selected, why others are not."""

from __future__ import annotations

import click

from ..errors import CcloginError
from ..store.select import select_store, survey
from .app import app_context
from .output import answer, answer_json


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json: bool) -> int:
    """List the backends on this machine and which one new logins would use."""
    ctx = app_context()
    infos = survey(ctx.paths, ctx.environ)
    try:
        selected: str | None = select_store(
            ctx.paths, ctx.environ, ctx.backend_flag, read_only=True
        ).store.name
        why = None
    except CcloginError as exc:
        selected, why = None, exc.message
    if as_json:
        answer_json(
            {
                "selected": selected,
                "selection_error": why,
                "backends": [
                    {
                        "name": i.name,
                        "storage_class": i.storage_class,
                        "description": i.description,
                        "usable": i.usable,
                        "reason": i.reason,
                    }
                    for i in infos
                ],
            }
        )
        return 0 if selected else 4
    lines = []
    for i in infos:
        mark = "*" if i.name == selected else " "
        state = "usable" if i.usable else f"unusable: {i.reason}"
        lines.append(f"{mark} {i.name:<27} {i.storage_class:<15} {state}")
    lines.append(f"selected: {selected}" if selected else f"selected: none ({why})")
    answer("\n".join(lines))
    return 0 if selected else 4
