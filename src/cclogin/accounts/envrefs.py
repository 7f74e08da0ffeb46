"""`run` and `exec --env-file`: the environment a child starts from, with every
`cclogin://PROFILE` reference in it resolved (the grammar is in envfile.py).

Layers, lowest first: the environment cclogin itself was started with, then each
`--env-file` in the order given (in a file, the last line for a name wins). A file
named on the command line is a deliberate choice, so it beats whatever the shell
happens to export, as with `op run --env-file`.

Then every variable whose value is exactly a reference gets the secret that
`cclogin token --profile PROFILE` prints in the same shell (`resolve_stored`: refresh,
Claude logins, team profiles alike). For the variable `ANTHROPIC_API_KEY` that
includes cclogin's one rule above profiles: an `ANTHROPIC_API_KEY` exported as a key
(not as a reference) wins (`resolve_secret`), so CI that exports the key runs the same
committed `.env`. Any other variable gets the profile's own secret whatever
`ANTHROPIC_API_KEY` says, as `exec --env NAME` does.

A reference that cannot be resolved stops everything before the child exists: the
error names the variable and where it came from (FILE:LINE or the environment), never
a value, and exits with the code of what went wrong (3 unknown profile, 4 locked
store, ...). cclogin's own settings (CCLOGIN_*) are never taken from a file: a
committed file must not steer where cclogin reads secrets from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from ..envfile import BadReference, EnvFileInvalid, check, reference
from ..errors import CcloginError, InvalidInput
from ..fsio import read_at_most
from .context import AppContext
from .token import ENV_OVERRIDE, resolve_secret, resolve_stored

MAX_ENV_FILE = 1 << 20  # an env file of a megabyte is something else
OWN_PREFIX = "CCLOGIN_"
ENVIRONMENT = "the environment"


class Binding(NamedTuple):
    value: str
    origin: str  # "FILE:LINE", or ENVIRONMENT


class Layered(NamedTuple):
    env: dict[str, str]  # what the child gets: every reference replaced by its secret
    resolved: dict[str, str]  # variable -> the profile its reference named


class ReferenceUnresolved(CcloginError):
    """A reference whose profile could not give a secret; exits as that failure did."""

    def __init__(self, message: str, hint: str, exit_code: int) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


def read_env_file(path: Path) -> str:
    """The text of one --env-file (UTF-8, at most MAX_ENV_FILE bytes)."""
    shown = str(path)[:200]
    try:
        with open(path, "rb") as f:  # a symlink (.env -> .env.dev) is fine: only read
            data = read_at_most(f.fileno(), MAX_ENV_FILE + 1)
    except FileNotFoundError:
        raise InvalidInput(
            f"env file {shown} does not exist", "check the path given to --env-file"
        ) from None
    except IsADirectoryError:
        raise InvalidInput(f"env file {shown} is a folder", "give --env-file a file") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read env file {shown}: {exc.strerror or exc}") from None
    if len(data) > MAX_ENV_FILE:
        raise InvalidInput(
            f"env file {shown} is larger than 1 MiB; not read", "give --env-file a .env file"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"env file {shown} is not UTF-8 text", "save it as UTF-8") from None


def layers(environ: Mapping[str, str], files: Sequence[Path]) -> dict[str, Binding]:
    """Each variable's value and where it came from, files over the environment.

    Every file is read and checked before anything is resolved: a typo in the second
    file fails before the keychain is asked for anything.
    """
    out = {name: Binding(value, ENVIRONMENT) for name, value in environ.items()}
    for path in files:
        for entry in check(read_env_file(path), str(path)).entries:
            origin = f"{path}:{entry.line}"
            if entry.name.startswith(OWN_PREFIX):
                raise EnvFileInvalid(
                    f"{origin}: {entry.name} is one of cclogin's own settings, which are "
                    "never taken from an env file",
                    "set it in the environment that runs cclogin, or remove the line",
                )
            out[entry.name] = Binding(entry.value, origin)
    return out


def references(bindings: Mapping[str, Binding]) -> dict[str, str]:
    """Variable -> profile, for every value that is a reference (checked, not resolved)."""
    found: dict[str, str] = {}
    for name, binding in bindings.items():
        if name.startswith(OWN_PREFIX):
            continue  # cclogin's own settings are never references
        try:
            profile = reference(binding.value)
        except BadReference as exc:
            raise BadReference(f"{binding.origin}: {name}: {exc.message}") from None
        if profile is not None:
            found[name] = profile
    return found


def resolve(ctx: AppContext, files: Sequence[Path]) -> Layered:
    """The child's environment: cclogin's own, the files over it, references resolved."""
    bindings = layers(ctx.environ, files)
    wanted = references(bindings)
    env = {name: b.value for name, b in bindings.items()}
    # An ANTHROPIC_API_KEY that is itself a reference is no key that could win.
    inherited = ctx.environ.get(ENV_OVERRIDE)
    override_ctx = (
        ctx.with_environ({k: v for k, v in ctx.environ.items() if k != ENV_OVERRIDE})
        if inherited is not None and _is_reference(inherited)
        else ctx
    )
    secrets: dict[tuple[str, bool], str] = {}  # one read (and refresh) per profile
    for name, profile in wanted.items():
        honours_override = name == ENV_OVERRIDE
        key = (profile, honours_override)
        if key not in secrets:
            try:
                found = (
                    resolve_secret(override_ctx, profile)
                    if honours_override
                    else resolve_stored(ctx, profile)
                )
            except CcloginError as exc:
                raise ReferenceUnresolved(
                    f"{bindings[name].origin}: {name} refers to cclogin://{profile}, which "
                    f"cannot be resolved: {exc.message}; nothing was run",
                    exc.hint,
                    exc.exit_code,
                ) from None
            secrets[key] = found.secret.reveal()
        ctx.debug(f"{name} ({bindings[name].origin}): the secret of profile {profile!r}")
        env[name] = secrets[key]
    return Layered(env, wanted)


def _is_reference(value: str) -> bool:
    try:
        return reference(value) is not None
    except BadReference:
        return True


def with_env_files(ctx: AppContext, files: Sequence[Path]) -> AppContext:
    """`exec --env-file`: the context exec works in, as if the files' variables (their
    references resolved) had been exported in the shell that runs it. cclogin's own
    settings stay as they were (files cannot set them), so stores open as before."""
    if not files and not any(
        _is_reference(v) for k, v in ctx.environ.items() if not k.startswith(OWN_PREFIX)
    ):
        return ctx
    return ctx.with_environ(resolve(ctx, files).env)


def run_environment(
    ctx: AppContext, files: Sequence[Path], command: Sequence[str]
) -> dict[str, str]:
    """`run`: the resolved environment minus cclogin's unlock variables, and a note
    when the child is Claude Code and a credential variable came from a reference."""
    from .execute import STRIPPED_PREFIXES

    layered = resolve(ctx, files)
    env = {k: v for k, v in layered.env.items() if not k.startswith(STRIPPED_PREFIXES)}
    _claude_note(ctx, command, env, layered.resolved)
    return env


def _claude_note(
    ctx: AppContext, command: Sequence[str], env: Mapping[str, str], resolved: Mapping[str, str]
) -> None:
    from ..claude_handover import CREDENTIAL_VARIABLES, claude_program

    if not command or claude_program(command, env.get("PATH")) is None:
        return
    for name in CREDENTIAL_VARIABLES:
        if name in resolved:
            ctx.notify(
                f"cclogin: note: Claude Code gets {name} in its environment, which its Bash "
                "tool, hooks and MCP servers inherit; `cclogin exec --profile "
                f"{resolved[name]} -- claude` hands the profile over without that"
            )
