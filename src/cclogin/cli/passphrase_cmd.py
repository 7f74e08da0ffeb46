"""`cclogin passphrase`: change the encrypted file's passphrase (re-keys: a new data key, every record re-encrypted)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from .app import app_context
from .output import note


@click.command("passphrase")
@click.option(
    "--new-passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the new passphrase from this file (mode 600) instead of a prompt.",
)
def command(new_passphrase_file: Path | None) -> int:
    """Change the passphrase of the encrypted-file store.

    The current passphrase comes from the usual source (CCLOGIN_PASSPHRASE_COMMAND,
    CCLOGIN_PASSPHRASE_FILE, CCLOGIN_PASSPHRASE or the terminal); the new one from
    --new-passphrase-file or a prompt, asked twice. The store is re-keyed: a new
    random data key, every record re-encrypted, so an old copy of the file opened
    with the old passphrase holds nothing written after the change.
    """
    from ..store.encrypted_file import EncryptedFileStore
    from ..store.passphrase import FileSource, PassphraseSource, PromptSource

    ctx = app_context()
    store = ctx.store_named("encrypted-file")
    if not isinstance(store, EncryptedFileStore):  # pragma: no cover - by construction
        raise UsageError("the encrypted-file backend is not available")
    new: PassphraseSource
    if new_passphrase_file is not None:
        new = FileSource(new_passphrase_file)
    elif ctx.interactive:
        new = PromptSource()
    else:
        raise UsageError(
            "no terminal to ask the new passphrase on", "pass --new-passphrase-file PATH (mode 600)"
        )
    dropped_cache = store.change_passphrase(new)
    note(
        f"cclogin: the passphrase of {store.path} was changed and every record "
        "re-encrypted under a new data key; update "
        "CCLOGIN_PASSPHRASE_FILE / CCLOGIN_PASSPHRASE_COMMAND if they supply it"
    )
    if dropped_cache:
        note("cclogin: the unlock cache held the old data key and was dropped; "
             "`cclogin unlock` caches the new one")
    return 0
