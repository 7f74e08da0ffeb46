"""Where the admin policy meets the use cases (docs/policy.md).

Every command passes `check_command` first: a policy file that cannot be honoured
stops it (exit 9), and under `migrate.require_clean` a command other than the ones
that find or fix plaintext waits until `cclogin migrate` has moved every plaintext
Claude Code credential. `check_profile_use` runs where a stored profile's secret is
about to be used (`token`, `exec`, `run`). Without a policy each costs one `lstat`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PolicyRefused
from ..model import Profile

if TYPE_CHECKING:
    from ..policy.rules import Policy
    from .context import AppContext

# The commands that find, fix, show or remove what the policy is about: they work
# while plaintext is left (`report` also works, and reports, under an unusable policy).
CLEAN_EXEMPT = frozenset({"migrate", "scan", "doctor", "status", "backends", "logout", "report"})


def check_command(ctx: AppContext, command: str | None) -> None:
    if command == "report":
        return  # it reports the policy's state itself, unusable included
    from ..policy import current

    policy = current()
    if policy is None or not policy.require_clean or command is None or command in CLEAN_EXEMPT:
        return
    for path, labels in plaintext_left(ctx):
        raise policy.refused(
            "migrate.require_clean",
            f"a plaintext Claude Code credential is still in {path} ({', '.join(labels)}); "
            f"`cclogin {command}` waits until it is moved into the store",
            "run `cclogin migrate` (`cclogin migrate --dry-run` shows what it moves)",
        )


def plaintext_left(ctx: AppContext) -> Iterator[tuple[Path, list[str]]]:
    """Each file where `migrate` would find a credential to move, with what it holds."""
    from ..migrate.scan import scan

    for item in scan(ctx.environ):
        if item.detection.hits:
            yield item.path, [h.label for h in item.detection.hits]


def check_profile_use(profile: Profile) -> None:
    """A stored profile is about to be used: it must sit where the policy allows, and a
    provider login must come from an allowed issuer (it will be refreshed there)."""
    from ..policy import current

    policy = current()
    if policy is None:
        return
    for exc in profile_violations(policy, profile):
        raise exc


def profile_violations(policy: Policy, profile: Profile) -> list[PolicyRefused]:
    """Every rule `profile` breaks, as the refusals its use would meet (for the report)."""
    found: list[PolicyRefused] = []

    def collect(check: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            check(*args, **kwargs)
        except PolicyRefused as exc:
            found.append(exc)

    collect(policy.check_team_server, profile.name, profile.backend, stored=True)
    collect(policy.check_stored_backend, profile.name, profile.backend, stored=True)
    issuer = profile.extra.get("oauth.issuer") if profile.kind == "oauth" else None
    if issuer:
        collect(policy.check_issuer, issuer, f"the OAuth issuer of profile {profile.name!r}")
    addresses = profile.extra.get("vault_addr") if profile.kind == "vault_token" else None
    if addresses:
        parts = tuple(a.strip() for a in addresses.split(",") if a.strip())
        collect(policy.check_vault_addresses, parts)
    return found


def check_revoked(not_revoked: list[str], why: dict[str, str]) -> None:
    """Under `logout.require_revoke`, a logout whose revocation failed is no success:
    every local copy is gone (keeping them would not help), but the exit says so."""
    from ..policy import current

    policy = current()
    if policy is None or not policy.require_revoke or not not_revoked:
        return
    names = "; ".join(
        f"{name!r} ({why[name]})" if why.get(name) else repr(name) for name in not_revoked
    )
    raise policy.refused(
        "logout.require_revoke",
        f"the tokens of {names} could not be revoked at their server; every local copy "
        "was deleted, but the logout is not complete",
        "the tokens stay valid at the server until they expire: ask its administrator "
        "to revoke them",
    )
