"""`cclogin token` for the common case, or "ask the full path".

`lean_token` mirrors, step for step, what cli/token_cmd.py `run_token` does:

    AppContext.from_environment()  -> `_dirs` (paths.py, without pathlib/platformdirs)
    settle_leftovers()             -> `_leftovers` (migrate/pending.py: one listdir)
    check_command(ctx, "token")    -> `_policy_may_apply` (policy/__init__.py `locate`)
    resolve_secret()               -> the ANTHROPIC_API_KEY override, then the profile
                                      (accounts/profiles.py, model.py `Profile.from_json`)
    usable_credential()            -> `_printable` (accounts/token.py, model.py
                                      `load_credential`, store/chunking.py `parse_entry`)

and answers only where every step has a plain answer: a Secret Service profile whose
entry is one `cl1:` value, or an encrypted-file profile whose store `cclogin unlock`
opened in this session (hotpath/encrypted.py: the cached data key, the file MAC, the
record's AES-256-GCM), holding an API key, a Claude token, a Claude login that is
still valid, or a provider token that needs no refresh. Everything else returns None
and the caller runs the full path, which then does and says exactly what it always
did: other backends, team profiles, a refresh or a Vault renewal, a missing profile or
item, a locked collection, a chunked value, anything malformed, a policy file.

Where a check of the full path coerces (float("1e3"), bool([])), this one accepts only
the types cclogin writes and leaves the rest to the full path: it may fall back where
the full path would have answered, never answer where the full path would not.
"""

import _json
import binascii
import os
import stat
import sys
import time

from . import wire

APP = "cclogin"
ENV_OVERRIDE = "ANTHROPIC_API_KEY"  # accounts/token.py
REFRESH_MARGIN = 60.0  # accounts/token.py
INFERENCE_SCOPE = "user:inference"  # accounts/token.py
BACKEND = "secret-service"  # the keychain this path reads
FILE_BACKEND = "encrypted-file"  # store/select.py ENCRYPTED_FILE, model.py StorageClass
STORE_FILE = "store.cclogin"  # paths.py `encrypted_store`
SECRET_KEY_PREFIX = "profile:"  # model.py PROFILE_KEY_PREFIX
SCHEMA_VERSION = 1  # accounts/profiles.py
MAX_METADATA_BYTES = 4 << 20  # accounts/profiles.py
CREDENTIAL_VERSION = 1  # model.py
KINDS = frozenset(("api_key", "oauth", "claude_token", "claude_login", "vault_token"))
STORAGE_CLASSES = frozenset(("keychain", "encrypted-file", "secret-server"))
JOURNAL_SUFFIX = ".journal.json"  # migrate/pending.py
LOCKS_RECORD = "claude-locks.json"  # migrate/pending.py
POLICY_FILE = "/etc/cclogin/policy.toml"  # policy/__init__.py system_path() on Linux
POLICY_TEST_ENV = "CCLOGIN_TEST_ONLY_POLICY_FILE"  # policy/__init__.py TEST_ENV
DEFAULT_TIMEOUT = 5.0  # store/select.py
INTERACTIVE_TIMEOUT = 60.0  # store/select.py
LINGER = 1.0  # store/deadline.py EXIT_GRACE: an OpenSession in flight may finish
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_B64URL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_TO_STANDARD_B64 = bytes.maketrans(b"-_", b"+/")


class KeychainTimeout(Exception):
    """The Secret Service did not answer in time: the full path's StoreTimeout, same
    message. `linger()` after reporting it."""

    def __init__(self, message: str, read: wire.SecretRead) -> None:
        super().__init__(message)
        self.message = message
        self._read = read

    def linger(self) -> None:
        self._read.linger(LINGER)


def lean_token(profile: str | None, valid_for: float | None) -> str | None:  # noqa: PLR0911
    """What `cclogin token [--profile P] [--valid-for N]` prints (without the newline),
    or None when the full path must answer. Raises KeychainTimeout."""
    if not sys.platform.startswith("linux"):
        return None
    env = os.environ
    dirs = _dirs(env)
    if dirs is None:
        return None
    config_dir, state_dir = dirs
    if _leftovers(state_dir) or _policy_may_apply(env):
        return None
    override = env.get(ENV_OVERRIDE, "").strip()
    if override:
        # The override wins; with --profile or CCLOGIN_PROFILE the full path adds a note.
        return None if profile or env.get("CCLOGIN_PROFILE") else override
    chosen = _chosen_profile(config_dir, profile or env.get("CCLOGIN_PROFILE") or None)
    margin = max(REFRESH_MARGIN, REFRESH_MARGIN if valid_for is None else valid_for)
    if (
        chosen is not None
        and chosen.get("backend") == FILE_BACKEND
        and chosen.get("storage_class") == FILE_BACKEND
        and chosen.get("kind") != "vault_token"
        and not chosen.get("needs_login")
    ):
        return _from_encrypted_file(env, str(chosen["name"]), margin)
    if (
        chosen is None
        or chosen.get("backend") != BACKEND
        or chosen.get("storage_class") != "keychain"
        or chosen.get("kind") == "vault_token"  # renewed when due: accounts/vault_renew.py
        or chosen.get("needs_login")
    ):
        return None
    timeout = _keychain_timeout(env)
    if timeout is None:
        return None
    try:
        read = wire.SecretRead(env, timeout)
    except wire.Fallback:
        return None
    try:
        text = read.run(SECRET_KEY_PREFIX + str(chosen["name"]))
    except wire.Timeout:
        raise KeychainTimeout(
            f"{BACKEND}: read did not answer within {timeout:g} s", read
        ) from None
    except wire.Fallback:
        return None
    if text is None:
        return None  # no such item: the full path names what to do
    return _printable(text, margin)


def _from_encrypted_file(env: "os._Environ[str]", name: str, margin: float) -> str | None:
    """The encrypted-file profile's secret where `cclogin unlock` cached the store's
    data key in this session (hotpath/encrypted.py), else None. The record holds the
    credential blob itself (no `cl1:` entry: that is the keychains' framing)."""
    data_dir = _data_dir(env)
    if data_dir is None:
        return None
    from . import encrypted

    blob = encrypted.read_record(_join(data_dir, STORE_FILE), SECRET_KEY_PREFIX + name, env)
    return None if blob is None else _printable_blob(blob, margin)


# --- paths (paths.py) ------------------------------------------------------------------


def _dirs(env: "os._Environ[str]") -> tuple[str, str] | None:
    """(config dir, state dir) as `paths.get_paths` gives them, or None."""
    home = env.get("CCLOGIN_HOME")
    if home:
        root = _cclogin_home(home, env)
        if root is None:
            return None
        return _join(root, "config"), _join(root, "state")
    config = _xdg(env, "XDG_CONFIG_HOME", "/.config")
    state = _xdg(env, "XDG_STATE_HOME", "/.local/state")
    if config is None or state is None:
        return None
    return config, state


def _data_dir(env: "os._Environ[str]") -> str | None:
    """The data dir `paths.get_paths` gives (the encrypted store's folder), or None."""
    home = env.get("CCLOGIN_HOME")
    if home:
        root = _cclogin_home(home, env)
        return None if root is None else _join(root, "data")
    return _xdg(env, "XDG_DATA_HOME", "/.local/share")


def _xdg(env: "os._Environ[str]", variable: str, default: str) -> str | None:
    """platformdirs' user_*_dir(APP) on Linux (platformdirs/_xdg.py): an absolute XDG
    variable, else HOME + the default. A relative variable (whose meaning changed
    between platformdirs releases) or a relative or missing HOME: the full path."""
    value = env.get(variable, "")
    if value.startswith("/"):
        return os.path.join(value, APP)
    if value.strip():
        return None
    home = env.get("HOME", "")
    if not home.startswith("/"):
        return None
    return os.path.join(home.rstrip("/") + default, APP)


def _join(folder: str, name: str) -> str:
    return folder + name if folder.endswith("/") else f"{folder}/{name}"


def _normal(path: str) -> str | None:
    """str(PurePosixPath(path)) for an absolute path ('.' and empty parts dropped, '..'
    kept), or None for a path pathlib reads otherwise (a '//' root)."""
    if path.startswith("//") and not path.startswith("///"):
        return None
    return "/" + "/".join(p for p in path.split("/") if p and p != ".")


def _cclogin_home(value: str, env: "os._Environ[str]") -> str | None:
    """`Path(CCLOGIN_HOME).expanduser().absolute()` once `check_home` passed, else None."""
    if value.startswith("~"):
        home = env.get("HOME", "")
        if (value != "~" and not value.startswith("~/")) or not home.startswith("/"):
            return None  # ~user, or a home only pwd knows: pathlib's business
        value = (home.rstrip("/") + value[1:]) or "/"
    if not value.startswith("/"):
        try:
            value = f"{os.getcwd()}/{value}"
        except OSError:
            return None
    root = _normal(value)
    if root is None:
        return None
    real = _normal(os.path.realpath(root))
    if real is None:
        return None
    uid = os.getuid()
    for chain in (root, real) if real != root else (root,):
        if not _chain_is_safe(chain, uid):
            return None  # the full path raises UnsafeFile with the details
    return root


def _chain_is_safe(leaf: str, uid: int) -> bool:
    """paths.py `_check_chain`: every existing folder from `leaf` up to / is ours or
    root's and not writable by others, except a sticky folder above one of ours."""
    parts = [p for p in leaf.split("/") if p]
    below_is_ours = False
    for n in range(len(parts), -1, -1):
        folder = "/" + "/".join(parts[:n])
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            continue
        except OSError:
            return True  # the full path stops looking here as well
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid not in (uid, 0):
            return False
        writable = not stat.S_ISLNK(st.st_mode) and mode & 0o022
        sticky_above_ours = mode & stat.S_ISVTX and below_is_ours and folder != leaf
        if writable and not sticky_above_ours:
            return False
        below_is_ours = True
    return True


# --- what runs before the profile is read ------------------------------------------------


def _leftovers(state_dir: str) -> bool:
    """migrate/pending.py `has_leftovers`: a killed `migrate` waits to be settled."""
    try:
        names = os.listdir(_join(state_dir, "journal"))
    except OSError:
        return False
    return any(n.endswith(JOURNAL_SUFFIX) or n == LOCKS_RECORD for n in names)


def _policy_may_apply(env: "os._Environ[str]") -> bool:
    """THE place where the hot path asks the admin policy: True when a policy file may
    exist (policy/__init__.py `locate`: anything at the system path, or the test-only
    variable), and the full path then loads and enforces it. One lstat when there is
    none; keep it the only policy check here, and keep it this cheap."""
    try:
        os.lstat(POLICY_FILE)
    except (FileNotFoundError, NotADirectoryError):
        return bool(env.get(POLICY_TEST_ENV))
    except OSError:
        return True  # cannot tell: the full path refuses, with the reason
    return True


def _keychain_timeout(env: "os._Environ[str]") -> float | None:
    """store/select.py `keychain_timeout`; None where it would raise (the full path
    reports the bad value) or where the value is not a plain socket timeout."""
    raw = env.get("CCLOGIN_KEYCHAIN_TIMEOUT")
    if raw:
        try:
            value = float(raw)
        except ValueError:
            return None
        if value > 0:
            return value if value < 1e6 else None
    interactive = os.isatty(0) and os.isatty(2)  # select.py `is_interactive`
    return INTERACTIVE_TIMEOUT if interactive else DEFAULT_TIMEOUT


# --- the profile (accounts/profiles.py, model.py Profile.from_json) --------------------


def _chosen_profile(config_dir: str, explicit: str | None) -> dict[str, object] | None:
    """The profile `resolve_profile` picks: `explicit`, else the active one; None when
    there is none, or the metadata file is anything but plainly valid."""
    data = _read_private(_join(config_dir, "metadata.json"), MAX_METADATA_BYTES)
    if data is None:
        return None
    try:
        doc = _loads(data.decode("utf-8"))
    except Exception:
        return None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        return None
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict):
        return None
    # parse_metadata checks every profile, so one malformed profile fails every command.
    if not all(_profile_is_plain(name, raw) for name, raw in profiles.items()):
        return None
    name = explicit or doc.get("active")
    chosen = profiles.get(name) if isinstance(name, str) else None
    return chosen if isinstance(chosen, dict) else None


def _read_private(path: str, limit: int) -> bytes | None:
    """fsio.py `read_private`, where every refusal is None (the full path says why)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_uid != os.getuid()
            or stat.S_IMODE(st.st_mode) & 0o077
            or st.st_size > limit
        ):
            return None
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _profile_is_plain(name: object, raw: object) -> bool:  # noqa: PLR0911 - one rule each
    """What `Profile.from_json` accepts, restricted to the types cclogin writes."""
    if not isinstance(raw, dict) or not isinstance(name, str) or raw.get("name") != name:
        return False
    if not _valid_name(name):
        return False
    kind, storage = raw.get("kind"), raw.get("storage_class")
    if not isinstance(kind, str) or kind not in KINDS:
        return False
    if not isinstance(storage, str) or storage not in STORAGE_CLASSES:
        return False
    if not isinstance(raw.get("backend"), str) or not _is_number(raw.get("created_at")):
        return False
    if not all(_is_opt_str(raw.get(k)) for k in ("account", "provider", "base_url", "source")):
        return False
    expires = raw.get("expires_at")
    if expires is not None and not _is_number(expires):
        return False
    if not isinstance(raw.get("needs_login", False), bool):
        return False
    extra = raw.get("extra")
    return extra is None or (
        isinstance(extra, dict) and all(isinstance(v, str) for v in extra.values())
    )


def _valid_name(name: str) -> bool:
    """model.py `_PROFILE_RE`: [A-Za-z0-9][A-Za-z0-9._-]{0,63}, whole."""
    return (
        0 < len(name) <= 64
        and name.isascii()
        and name[0].isalnum()
        and all(c in _NAME_CHARS for c in name)
    )


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(10**18) < value < 10**18  # float() of it is exact enough and never fails
    return isinstance(value, float)


def _is_opt_str(value: object) -> bool:
    return value is None or isinstance(value, str)


# --- the credential (store/chunking.py, model.py load_credential, accounts/token.py) ---


def _printable(entry: str, margin: float) -> str | None:
    """The secret `usable_credential` + `primary_secret` give for this keychain entry,
    or None where the full path has more to do (refresh, chunks, an error to report)."""
    blob = _entry_value(entry)
    return None if blob is None else _printable_blob(blob, margin)


def _printable_blob(blob: bytes, margin: float) -> str | None:
    """model.py `load_credential` of a credential blob, then as `_printable`."""
    try:
        doc = _loads(blob.decode("utf-8"))
    except Exception:
        return None
    if not isinstance(doc, dict) or doc.get("v") != CREDENTIAL_VERSION:
        return None
    kind = doc.get("kind")
    now = time.time()
    if kind in ("api_key", "claude_token"):
        secret = doc.get("key" if kind == "api_key" else "token")
        return secret if isinstance(secret, str) else None
    if kind == "oauth":
        return _oauth_access(doc, margin, now)
    if kind == "claude_login":
        return _claude_access(doc, now)
    return None  # vault_token (renewal) and kinds this release does not know


def _entry_value(entry: str) -> bytes | None:
    """chunking.py `parse_entry` for an inline `cl1:` entry; None for a chunk header
    (`cl1c:`, read by the full path with its digest check) or anything else."""
    if not entry.startswith("cl1:"):
        return None
    text = entry[4:]
    body = text.rstrip("=")
    if len(text) - len(body) > 2 or not all(c in _B64URL_CHARS for c in body):
        return None
    try:
        return binascii.a2b_base64(text.encode("ascii").translate(_TO_STANDARD_B64))
    except (binascii.Error, ValueError):
        return None


def _expiry(doc: dict[object, object]) -> tuple[bool, float | None]:
    """(readable, expires_at as float) of a credential document."""
    value = doc.get("expires_at")
    if value is None:
        return True, None
    if not _is_number(value):
        return False, None
    return True, float(value)  # type: ignore[arg-type]  # _is_number: int or float


def _oauth_access(doc: dict[object, object], margin: float, now: float) -> str | None:
    access, refresh = doc.get("access_token"), doc.get("refresh_token")
    readable, expires = _expiry(doc)
    if not isinstance(access, str) or not readable or not isinstance(doc.get("scopes", []), list):
        return None
    if not (isinstance(refresh, str) and refresh):
        # check_unrenewable: usable for every second it is valid, then a relogin.
        return access if expires is None or expires > now else None
    # OAuthTokens.expires_within: the full path refreshes it first.
    return None if expires is not None and expires - margin <= now else access


def _claude_access(doc: dict[object, object], now: float) -> str | None:
    """_check_claude_login: not expired, and `user:inference` among its scopes if it
    names any (a raw object that does not parse: the full path decides)."""
    raw, access = doc.get("raw"), doc.get("access_token")
    readable, expires = _expiry(doc)
    if not isinstance(raw, str) or not isinstance(access, str) or not readable:
        return None
    if expires is not None and expires <= now:
        return None
    try:
        login = _loads(raw)
    except Exception:
        return None
    scopes = login.get("scopes") if isinstance(login, dict) else None
    if isinstance(scopes, list) and INFERENCE_SCOPE not in [
        s for s in scopes if isinstance(s, str)
    ]:
        return None
    return access


# --- json.loads without json (which imports re, ~5 ms) ----------------------------------


class _Decoding:
    """The settings json's default decoder hands its C scanner (json/decoder.py)."""

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        constants = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
        self.parse_constant = constants.__getitem__
        self.memo: dict[str, str] = {}


_scan = _json.make_scanner(_Decoding())  # type: ignore[arg-type]  # duck-typed context


def _loads(text: str) -> object:
    """`json.loads(text)`: the same C scanner, and the same whitespace rule ([ \\t\\n\\r]
    around the value). Raises on any defect (StopIteration, ValueError, ...)."""
    body = text.strip(" \t\n\r")
    value, end = _scan(body, 0)
    if end != len(body):
        raise ValueError("extra data after the JSON value")
    return value
