"""Pointing Claude Code at cclogin: `apiKeyHelper` in its settings.json.

Claude Code runs `apiKeyHelper` and takes its stdout as the API key, so after a
migration it still finds the key, now from the keychain. The file is edited
atomically; every other setting is kept (key order included).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import CcloginError
from .files import read_source, replace_file
from .locations import claude_settings_file


def helper_command(profile: str) -> str:
    """`cclogin token --profile NAME`, with cclogin's full path when PATH would miss it."""
    exe = Path(sys.argv[0]).absolute() if sys.argv and sys.argv[0] else None
    on_path = shutil.which("cclogin")
    if exe is not None and exe.name == "cclogin" and (on_path is None or Path(on_path) != exe):
        prog = shlex.quote(str(exe))
    else:
        prog = "cclogin"
    return f"{prog} token --profile {shlex.quote(profile)}"


def set_api_key_helper(environ: Mapping[str, str], profile: str, force: bool = False) -> str:
    """Set apiKeyHelper; returns what was done, in one line for people."""
    path = claude_settings_file(environ)
    command = helper_command(profile)
    current = read_source(path)
    settings: dict[str, object] = {}
    if current is not None:
        try:
            loaded = json.loads(current.data.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError):
            raise CcloginError(
                f"{path} is not valid JSON; apiKeyHelper was not set",
                f'fix the file, then add "apiKeyHelper": "{command}"',
            ) from None
        if not isinstance(loaded, dict):
            raise CcloginError(f"{path} is not a JSON object; apiKeyHelper was not set")
        settings = loaded
    existing = settings.get("apiKeyHelper")
    if existing == command:
        return f"apiKeyHelper in {path} already runs `{command}`"
    if existing and not force:
        raise CcloginError(
            f"{path} already sets apiKeyHelper to something else; left as it is",
            f"pass --force to replace it with `{command}`",
        )
    settings["apiKeyHelper"] = command
    data = (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, data, current.mode if current else 0o600)
    return f"set apiKeyHelper in {path} to `{command}` (Claude Code now asks cclogin for the key)"
