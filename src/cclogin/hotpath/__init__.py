"""The lean `cclogin token`: the common case answered in ~1 ms of Python of our own.

Claude Code runs `cclogin token` as its apiKeyHelper all day. The full path (accounts,
store, model, platformdirs, jeepney, a deadline thread) costs ~25 ms of imports on
every call; this package answers the common case without any of it:

    metadata.json -> the profile -> one Secret Service read over the session bus
                                 -> or the encrypted file, opened with the data key
                                    `cclogin unlock` cached in the session keyring

and says "fall back" for everything else, which the caller then hands to the full
path unchanged (`cli/token_cmd.py`). It never prints a wrong or partial value: what it
does not implement, or cannot vouch for, it leaves to the full path.

Rules for every module here (tests/test_imports.py runs the real thing and checks):
- import only what the interpreter has loaded anyway (os, sys, stat, time) and small
  C modules (`_socket`, `_json`, `binascii`); never `re`, `json`, `socket`, `typing`,
  `pathlib`, `threading`, `dataclasses`, nor any other cclogin module; the one
  exception is `encrypted.py`, imported only for an encrypted-file profile: `_ctypes`
  (keyctl), `_hashlib` (HMAC/HKDF-SHA256) and cryptography's AES-GCM binding;
- no `from __future__ import annotations` (it is an import too): annotations here are
  evaluated, so they use only builtins;
- every rule of the full path that it mirrors names its source, and a test compares
  the two against the same real gnome-keyring (tests/test_token_lean.py).
"""
