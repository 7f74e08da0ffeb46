"""`cclogin vault ...`: the user's own Vault / OpenBao login, and the CLI's token helper."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..accounts.vault_login import DEFAULT_LOGIN, METHODS, save_token, settings_for
from ..errors import InvalidInput, UsageError
from ..secret import Secret
from .app import app_context
from .login_cmd import MAX_STDIN, _confirm_replace, _read_secret
from .output import note


@click.group("vault")
def command() -> None:
    """Log in to a team's HashiCorp Vault / OpenBao server (the token stays in the keychain)."""


@command.command("login")
@click.option(
    "-p", "--profile", "name", metavar="NAME", default=DEFAULT_LOGIN, show_default=True,
    help="Profile that keeps the Vault token.",
)
@click.option("--vault-addr", "address", metavar="URL[,URL...]", help="Server (default: BAO_ADDR / VAULT_ADDR, then config).")
@click.option("--namespace", metavar="NS", help="Vault namespace (default: VAULT_NAMESPACE).")
@click.option("--with-token", is_flag=True, help="Read an existing Vault token from stdin (or a hidden prompt).")
@click.option(
    "--method", type=click.Choice(METHODS), default=None,
    help="Auth method: token (= --with-token), approle, jwt, or oidc (browser).",
)
@click.option("--path", "auth_path", metavar="MOUNT", help="Where the auth method is mounted (default: its name).")
@click.option("--role", metavar="ROLE", help="jwt, oidc: the role to log in as (oidc: default role if omitted).")
@click.option("--role-id", metavar="ID", help="approle: the role id (not a secret).")
@click.option(
    "--secret-id-file", metavar="FILE",
    help="approle: file holding the secret id (yours alone, mode 600; never argv).",
)
@click.option(
    "--jwt-file", metavar="FILE",
    help="jwt: file holding the JWT (yours alone, mode 600), or - for stdin.",
)
@click.option(
    "--redirect-uri", metavar="URL",
    help="oidc: loopback callback the role allows (default http://localhost:8250/oidc/callback; port 0: any free port, where the identity provider accepts that).",
)
@click.option("--force", is_flag=True, help="Replace an existing profile without asking.")
def login(
    name: str,
    address: str | None,
    namespace: str | None,
    with_token: bool,
    method: str | None,
    auth_path: str | None,
    role: str | None,
    role_id: str | None,
    secret_id_file: str | None,
    jwt_file: str | None,
    redirect_uri: str | None,
    force: bool,
) -> int:
    """Store a Vault token for the team server: an existing one (checked with the
    server first), or one from the AppRole, JWT or OIDC auth method."""
    ctx = app_context()
    if with_token and method not in (None, "token"):
        raise UsageError("--with-token is --method token; give one of them")
    chosen = "token" if with_token else method
    if chosen is None:
        raise UsageError(
            "choose how to log in: --with-token (token on stdin), --method approle, "
            "--method jwt or --method oidc"
        )
    _refuse_stray(chosen, role=role, role_id=role_id, secret_id_file=secret_id_file,
                  jwt_file=jwt_file, redirect_uri=redirect_uri, auth_path=auth_path)
    settings = settings_for(ctx, address=address, namespace=namespace)
    if chosen == "token":
        from ..accounts.login import clean_secret

        token = clean_secret(_read_secret("Vault token", ctx.interactive), "Vault token", "--with-token")
        profile = save_token(
            ctx, name, settings, token, method="token", force=force,
            confirm_replace=_confirm_replace(ctx.interactive),
        )
    else:
        from ..accounts.vault_login import method_login, read_secret_file

        secret = None
        if chosen == "approle":
            if not role_id or not secret_id_file:
                raise UsageError(
                    "--method approle needs --role-id ID and --secret-id-file FILE",
                    "the secret id comes from a file of yours alone (chmod 600), never argv",
                )
            secret = read_secret_file(secret_id_file, "AppRole secret id", "--secret-id-file")
        elif chosen == "jwt":
            if not role or not jwt_file:
                raise UsageError("--method jwt needs --role ROLE and --jwt-file FILE (or - for stdin)")
            secret = _jwt_from(jwt_file)
        profile = method_login(
            ctx, name, settings, chosen, path=auth_path, role=role, role_id=role_id,
            secret=secret, redirect_uri=redirect_uri, force=force,
            confirm_replace=_confirm_replace(ctx.interactive),
        )
    note(
        f"cclogin: logged in to {settings.address} as profile {profile.name!r} "
        f"({chosen}; token stored in {profile.backend}; no ~/.vault-token)"
    )
    return 0


_ONLY_FOR = {
    "role_id": ("--role-id", ("approle",)),
    "secret_id_file": ("--secret-id-file", ("approle",)),
    "jwt_file": ("--jwt-file", ("jwt",)),
    "role": ("--role", ("jwt", "oidc")),
    "redirect_uri": ("--redirect-uri", ("oidc",)),
    "auth_path": ("--path", ("approle", "jwt", "oidc")),
}


def _refuse_stray(method: str, **given: str | None) -> None:
    for key, value in given.items():
        flag, methods = _ONLY_FOR[key]
        if value is not None and method not in methods:
            raise UsageError(f"{flag} is for --method {' / '.join(methods)}, not {method}")


def _jwt_from(where: str) -> Secret:
    from ..accounts.login import clean_secret
    from ..accounts.vault_login import read_secret_file

    if where != "-":
        return read_secret_file(where, "JWT", "--jwt-file")
    if sys.stdin.isatty():
        raise UsageError("--jwt-file - reads the JWT from stdin, which is a terminal",
                         "pipe it in: `cclogin vault login --method jwt --role R --jwt-file - < token`")
    data = sys.stdin.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise InvalidInput(f"more than {MAX_STDIN} bytes on stdin; that is not one JWT")
    return clean_secret(data, "JWT", "--jwt-file -")


# --- the token helper -------------------------------------------------------------------


@command.command("token-helper")
@click.argument("operation", type=click.Choice(["get", "store", "erase"]))
def token_helper(operation: str) -> int:
    """The Vault / OpenBao CLI's token_helper protocol (run by the CLI, not by you):
    `get` prints the token for BAO_ADDR / VAULT_ADDR, `store` keeps the one on stdin,
    `erase` forgets it. Set it up with `cclogin vault install-token-helper`."""
    from ..accounts import vault_login

    ctx = app_context()
    if operation == "get":
        token = vault_login.helper_get(ctx)
        if token is not None:
            sys.stdout.write(token.reveal())  # exactly the token: no newline (bao refuses one)
            sys.stdout.flush()
        return 0
    if operation == "store":
        from ..accounts.login import clean_secret

        data = sys.stdin.read(MAX_STDIN + 1)
        if len(data) > MAX_STDIN:
            raise InvalidInput(f"more than {MAX_STDIN} bytes on stdin; that is not one token")
        vault_login.helper_store(ctx, clean_secret(data, "Vault token", "store"))
        return 0
    vault_login.helper_erase(ctx)
    return 0


@command.command("install-token-helper")
@click.option(
    "--cli", "clis", type=click.Choice(["bao", "vault"]), multiple=True,
    help="Whose config file to set: bao (~/.bao), vault (~/.vault); default both.",
)
@click.option(
    "--path", "wrapper", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the wrapper script (default: in cclogin's data folder).",
)
@click.option("--force", is_flag=True, help="Replace another token_helper setting.")
@click.option("--uninstall", is_flag=True, help="Remove the setting and the wrapper again.")
def install_token_helper(clis: tuple[str, ...], wrapper: Path | None, force: bool, uninstall: bool) -> int:
    """Make `bao login` / `vault login` keep their token in cclogin (not ~/.vault-token)."""
    from ..accounts import vault_helper

    ctx = app_context()
    chosen = clis or vault_helper.CLIS
    if uninstall:
        report = vault_helper.uninstall(ctx, chosen, wrapper)
        for line in report.removed:
            note(f"cclogin: removed {line}" if not line.startswith("(") else f"cclogin: {line[1:-1]}")
        if not report.removed:
            note("cclogin: no token_helper of cclogin's was set")
        else:
            note("cclogin: the CLIs now keep their token in ~/.vault-token again; "
                 "Vault logins stored in cclogin stay until `cclogin logout --profile NAME`")
        return 0
    report = vault_helper.install(ctx, chosen, wrapper, force=force)
    note(f"cclogin: wrote the token helper {report.wrapper} (mode 700)")
    for path in report.written:
        old = report.replaced.get(str(path))
        note(f"cclogin: set token_helper in {path}" + (f" (it was {old!r})" if old else ""))
    for path in report.unchanged:
        note(f"cclogin: {path} already uses it")
    note("cclogin: `bao login` / `vault login` now store their token in cclogin; "
         "undo with `cclogin vault install-token-helper --uninstall`")
    for path in report.plaintext_tokens:
        note(f"cclogin: warning: {path} still holds a token in plaintext (written before "
             f"the helper); move it with `cclogin vault login --with-token < {path}` "
             f"and then delete it")
    return 0
