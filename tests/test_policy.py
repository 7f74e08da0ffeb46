"""The admin policy (docs/policy.md), through the real executable, against a real user.

The test runs as root: each policy file is root's, in a root-owned folder under /run
(CCLOGIN_TEST_ONLY_POLICY_FILE points there; /etc/cclogin is never touched), and a
second, unprivileged user made for this module runs cclogin with a HOME of their own
and tries to get around every rule: with flags, environment variables, their own
config.toml, the test-only weak KDF, or a policy file of their own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cclogin import policy
from cclogin.errors import PolicyRefused, PolicyUnusable
from support.policy_world import (
    KEY,
    PolicyWorld,
    assert_refused,
    make_oauth_profile,
    need_root,
    policy_world,
    unix_user,
    user_cclogin,
)

__all__ = ["policy_world", "unix_user", "user_cclogin"]  # fixtures, imported for pytest

BACKENDS_ONLY_FILE = 'schema = 1\n[backends]\nallowed = ["encrypted-file"]\n'
KEYCHAIN_ONLY = 'schema = 1\n# keychain only: no encrypted file on this machine\n[backends]\nallowed = ["secret-service"]\n'


def test_no_policy_everything_as_before(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.use_policy(None)
    assert w.login().rc == 0
    token = w.run("token")
    assert (token.rc, token.stdout) == (0, KEY + "\n")
    assert w.run("logout", "--no-revoke").rc == 0
    # The variable naming a file that is not there is an error, not "no policy".
    w.use_policy(w.policy_dir / "missing.toml")
    missing = w.run("status")
    assert missing.rc == 9 and "does not exist" in missing.stderr


def test_backends_allowed_holds_against_flag_env_and_config(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy(BACKENDS_ONLY_FILE)
    for result in (
        w.run("--backend", "secret-service", "login", "--with-api-key", input=KEY + "\n"),
        w.login(extra={"CCLOGIN_BACKEND": "keychain"}),
    ):
        assert_refused(result, 3, "backends.allowed", path=w.policy_file)
        assert "not allowed on this machine; allowed: encrypted-file" in result.stderr
    w.user_file(".config/cclogin/config.toml", 'backend = "secret-service"\n', 0o600)
    from_config = w.login()
    assert_refused(from_config, 3, "backends.allowed")
    assert "chosen by config.toml" in from_config.stderr
    (w.home / ".config/cclogin/config.toml").unlink()
    assert w.login().rc == 0  # the allowed backend works
    assert w.run("token").stdout == KEY + "\n"


def test_keychain_only_policy_refuses_the_encrypted_file(policy_world: PolicyWorld) -> None:
    """A profile made before the policy stays readable for logout, never for use."""
    w = policy_world
    w.use_policy(None)
    assert w.login().rc == 0
    w.write_policy(KEYCHAIN_ONLY)
    w.use_policy(w.policy_file)
    fallback = w.run("login", "--with-api-key", "--profile", "second", input=KEY + "\n")
    assert_refused(fallback, 4, "backends.allowed")
    assert "the fallback" in fallback.stderr
    flag = w.run("--backend", "encrypted-file", "login", "--with-api-key", "--profile", "x", input=KEY + "\n")
    assert_refused(flag, 4, "backends.allowed")
    for args in (("token",), ("exec", "--", "/bin/true")):
        used = w.run(*args)
        assert_refused(used, 4, "backends.allowed")
        assert "profile 'default' is stored in encrypted-file" in used.stderr
        assert "cclogin logout --profile default" in used.stderr  # the way out
        assert used.stdout == ""
    assert w.run("status").rc in (0, 3, 4)  # status reads metadata; it is not refused
    listed = {b["name"]: b for b in json.loads(w.run("backends", "--json").stdout)["backends"]}
    assert listed["encrypted-file"]["usable"] is False
    assert "line 4 (backends.allowed)" in listed["encrypted-file"]["reason"]
    out = w.run("logout")
    assert out.rc == 0, str(out)  # the way out stays open
    assert json.loads(w.run("status", "--json").stdout or "{}").get("profiles", []) == []


def test_require_team_server_for_matching_profiles(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy(
        'schema = 1\n[backends]\nallowed = ["encrypted-file", "vault"]\n'
        'require_team_server = ["team-*", "shared"]\n'
    )
    for name in ("team-a", "shared"):
        refused = w.login(name)
        assert_refused(refused, 4, "backends.require_team_server")
        assert f"profile {name!r} matches" in refused.stderr
    assert w.login("mine").rc == 0
    assert not (w.home / ".config/cclogin/metadata.json").read_text().count("team-a")


def test_kdf_minimums_refuse_weak_stores_and_passphrase_rekeys(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.use_policy(None)
    assert w.login().rc == 0  # a store with the weak test KDF (64 KiB, t=1)
    w.write_policy("schema = 1\n\n[encrypted_file]\nmin_memory_kib = 1024\nmin_iterations = 2\n")
    w.use_policy(w.policy_file)
    old = w.run("token")
    assert_refused(old, 4, "encrypted_file.min_memory_kib")
    assert "cclogin passphrase" in old.stderr
    adding = w.login("second")
    assert_refused(adding, 4, "encrypted_file.min_memory_kib")
    # The test-only weak KDF cannot make a new store below the minimum either.
    store = w.home / ".local/share/cclogin/store.cclogin"
    store.unlink()
    fresh = w.login("third")
    assert_refused(fresh, 4, "encrypted_file.min_memory_kib")
    assert not store.exists()
    # Without the weak KDF, cclogin's own cost (raised to the minimums) is used.
    made = w.run(
        "login", "--with-api-key", "--profile", "fourth", input=KEY + "\n",
        drop=["CCLOGIN_TEST_ONLY_WEAK_KDF"],
    )
    assert made.rc == 0, str(made)
    assert w.run("token", "--profile", "fourth", drop=["CCLOGIN_TEST_ONLY_WEAK_KDF"]).stdout == KEY + "\n"


@pytest.mark.slow
def test_passphrase_rekey_is_the_fix_for_a_store_below_the_minimum(policy_world: PolicyWorld) -> None:
    """cclogin's own cost (64 MiB, t=3) under a policy that asks for t=4: the store is
    refused until `cclogin passphrase` re-keys it, which uses the policy's cost."""
    w = policy_world
    w.env.pop("CCLOGIN_TEST_ONLY_WEAK_KDF")
    w.use_policy(None)
    assert w.login().rc == 0
    w.write_policy("schema = 1\n[encrypted_file]\nmin_iterations = 4\n")
    w.use_policy(w.policy_file)
    assert_refused(w.run("token"), 3, "encrypted_file.min_iterations")
    new = w.user_file("new-passphrase", "another passphrase (test)\n")
    rekey = w.run("passphrase", "--new-passphrase-file", str(new))
    assert rekey.rc == 0, str(rekey)
    after = w.run("token", extra={"CCLOGIN_PASSPHRASE_FILE": str(new)})
    assert (after.rc, after.stdout) == (0, KEY + "\n"), str(after)
    header = (w.home / ".local/share/cclogin/store.cclogin").read_bytes()
    assert int.from_bytes(header[14:18], "big") == 4  # the iterations field (docs/store-format.md)


def test_no_passphrase_from_the_environment(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy("schema = 1\n[passphrase]\nallow_environment = false\n")
    env_only = w.run(
        "login", "--with-api-key", input=KEY + "\n",
        extra={"CCLOGIN_PASSPHRASE": "from the environment (test)"}, drop=["CCLOGIN_PASSPHRASE_FILE"],
    )
    assert_refused(env_only, 3, "passphrase.allow_environment")
    assert "from the environment (test)" not in env_only.output
    assert not (w.home / ".local/share/cclogin/store.cclogin").exists()
    assert w.login().rc == 0  # the passphrase file is fine


def test_oauth_issuers_are_allowed_or_refused_before_any_request(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy(
        'schema = 1\n[oauth]\nallowed_issuers = [\n  "https://login.example.com/",\n'
        '  "http://127.0.0.1:9/realms/corp",\n]\n'
    )
    refused = w.run("login", "--issuer", "https://login.example.com.evil.test", "--client-id", "x")
    assert_refused(refused, 3, "oauth.allowed_issuers")
    w.user_file(
        ".config/cclogin/config.toml",
        '[providers.evil]\nissuer = "https://idp.evil.test"\nclient_id = "x"\n'
        'token_endpoint = "https://idp.evil.test/token"\nauthorization_endpoint = "https://idp.evil.test/auth"\n',
    )
    from_config = w.run("login", "--provider", "evil", "--paste")
    assert_refused(from_config, 3, "oauth.allowed_issuers")
    # An allowed issuer goes ahead (here to a closed port: a network error, not a refusal).
    allowed = w.run("login", "--issuer", "http://127.0.0.1:9/realms/corp", "--client-id", "x")
    assert allowed.rc == 6, str(allowed)
    assert "refused by" not in allowed.stderr


def test_a_stored_login_from_a_disallowed_issuer_is_not_used(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.use_policy(None)
    make_oauth_profile(w, "corp", "https://idp.old.test")
    w.write_policy('schema = 1\n[oauth]\nallowed_issuers = ["https://idp.new.test/"]\n')
    w.use_policy(w.policy_file)
    used = w.run("token", "--profile", "corp")
    assert_refused(used, 3, "oauth.allowed_issuers")
    assert "at-corp-" not in used.output


def test_vault_addresses(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy('schema = 1\n[vault]\nallowed_addresses = ["https://bao.example.com:8200"]\n')
    vault_token = "hvs.policy-test-" + "t" * 24
    for extra in ({"VAULT_ADDR": "http://127.0.0.1:1"}, {"BAO_ADDR": "https://bao.example.com:8201"}):
        refused = w.run("vault", "login", "--with-token", input=vault_token + "\n", extra=extra)
        assert_refused(refused, 3, "vault.allowed_addresses")
        assert vault_token not in refused.output
    flag = w.run("vault", "login", "--with-token", "--vault-addr", "http://127.0.0.1:1", input=vault_token + "\n")
    assert_refused(flag, 3, "vault.allowed_addresses")
    w.user_file(".config/cclogin/config.toml", '[vault]\naddress = "https://bao.example.com:8200, http://127.0.0.1:1"\n')
    cluster = w.run("vault", "login", "--with-token", input=vault_token + "\n")
    assert_refused(cluster, 3, "vault.allowed_addresses")  # every node must be allowed
    assert not (w.home / ".config/cclogin/metadata.json").exists()


def test_logout_must_revoke(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.use_policy(None)
    assert w.login().rc == 0
    make_oauth_profile(w, "corp", "http://127.0.0.1:9")  # its revocation endpoint is closed
    w.write_policy("schema = 1\n\n[logout]\nrequire_revoke = true\n")
    w.use_policy(w.policy_file)
    no_revoke = w.run("logout", "--no-revoke")
    assert_refused(no_revoke, 4, "logout.require_revoke")
    assert w.run("token").stdout == KEY + "\n"  # nothing was logged out
    failed = w.run("logout", "--profile", "corp")
    assert_refused(failed, 4, "logout.require_revoke")
    assert "'corp'" in failed.stderr and "every local copy was deleted" in failed.stderr
    assert "corp" not in json.loads(w.run("status", "--json").stdout).get("profiles", {})
    assert w.run("logout").rc == 0  # an API key has nothing to revoke


def test_require_clean_until_migrate_has_run(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy("schema = 1\n[migrate]\nrequire_clean = true\n")
    assert w.login().rc == 0
    planted = w.user_file(".claude.json", json.dumps({"primaryApiKey": KEY[:-1] + "Z", "numStartups": 3}), 0o644)
    for args in (("token",), ("login", "--with-api-key", "--profile", "p2"), ("switch", "default")):
        refused = w.run(*args, input=KEY + "\n")
        assert_refused(refused, 3, "migrate.require_clean")
        assert str(planted) in refused.stderr and "cclogin migrate" in refused.stderr
    for exempt in (("status",), ("doctor",), ("backends",), ("migrate", "--dry-run")):
        assert w.run(*exempt).rc != 9, exempt
    moved = w.run("migrate")
    assert moved.rc == 0, str(moved)
    assert w.run("token").stdout == KEY + "\n"


def test_unsafe_policy_files_stop_cclogin(policy_world: PolicyWorld) -> None:
    w = policy_world
    good = 'schema = 1\n[backends]\nallowed = ["encrypted-file"]\n'
    uid, gid = w.user.uid, w.user.gid

    def refused_everywhere(why: str) -> None:
        for args in (("status",), ("token",), ("login", "--with-api-key")):
            r = w.run(*args, input=KEY + "\n")
            assert r.rc == 9, f"{why}: {r}"
            errors = [ln for ln in r.stderr.splitlines() if ln.startswith("cclogin: error:")]
            assert len(errors) == 1 and "the admin policy" in errors[0], f"{why}: {r}"
            assert "cclogin: hint:" in r.stderr
        assert not (w.home / ".config/cclogin/metadata.json").exists(), why

    path = w.write_policy(good)
    os.chown(path, uid, gid)  # the user's own file
    refused_everywhere("owned by the user")
    os.chown(path, 0, 0)
    for mode in (0o666, 0o664, 0o646):
        os.chmod(path, mode)
        refused_everywhere(f"mode {mode:o}")
    os.chmod(path, 0o600)  # root's, but unreadable to the user: not "no policy"
    refused_everywhere("unreadable")
    os.chmod(path, 0o644)
    link = w.policy_dir / "link.toml"
    link.symlink_to(path)
    w.use_policy(link)
    refused_everywhere("a symlink")
    # A policy in a folder the user can write (they could swap it), or in a world-writable one.
    theirs = w.policy_dir / "theirs"
    theirs.mkdir()
    os.chown(theirs, uid, gid)
    w.use_policy(w.write_policy(good, path=theirs / "policy.toml"))
    refused_everywhere("a folder of the user's")
    open_dir = w.policy_dir / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o1777)  # noqa: S103 - the unsafe folder under test
    w.use_policy(w.write_policy(good, path=open_dir / "policy.toml"))
    refused_everywhere("a world-writable folder")
    # A symlink on the way to it.
    real = w.policy_dir / "real"
    real.mkdir(mode=0o755)
    w.write_policy(good, path=real / "policy.toml")
    (w.policy_dir / "via").symlink_to(real)
    w.use_policy(w.policy_dir / "via" / "policy.toml")
    refused_everywhere("a symlinked folder")
    # A FIFO does not hang cclogin.
    fifo = w.policy_dir / "fifo.toml"
    os.mkfifo(fifo, 0o644)
    w.use_policy(fifo)
    refused_everywhere("a FIFO")
    # And a policy file of the user's own making, anywhere in their home, is refused too.
    own = w.user_file("my-policy.toml", "schema = 1\n", 0o644)
    w.use_policy(own)
    refused_everywhere("the user's own file")


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ('schema = 1\n[backends]\nalowed = ["secret-service"]\n', 3, "unknown key backends.alowed"),
        ("schema = 1\n\n[secret]\nkey = 1\n", 3, "unknown key secret"),
        ('schema = 1\n[backends]\nallowed = "secret-service"\n', 3, "must be a list of strings, not a string"),
        ("schema = 1\n[logout]\nrequire_revoke = 1\n", 3, "must be true or false, not an integer"),
        ('schema = 1\n[encrypted_file]\nmin_memory_kib = "lots"\n', 3, "must be an integer, not a string"),
        ("schema = 1\n[encrypted_file]\nmin_iterations = 11\n", 3, "outside 1..10"),
        ("schema = 1\n[unlock_cache]\nmax_seconds = -1\n", 3, "outside 0.."),
        ('schema = 1\n[backends]\nallowed = ["plaintext"]\n', 3, "not a backend"),
        ('schema = 1\n[backends]\nallowed = []\n', 3, "lists no backend"),
        ('schema = 1\n[oauth]\nallowed_issuers = ["ftp://x"]\n', 3, "not an http(s) URL"),
        ('schema = 1\n[vault]\nallowed_addresses = ["https://bao:8200/v1"]\n', 3, "has no path"),
        ("schema = 2\n", 1, "schema 2 is not one this cclogin understands"),
        ('schema = "1"\n', 1, "schema must be an integer"),
        ("backends.allowed = 3\nschema = 1\n", 1, "must be a list of strings"),
        ('schema = 1\nbackends = { allowed = ["kwallet"], extra = true }\n', 2, "unknown key backends.extra"),
    ],
)
def test_schema_errors_name_the_line(policy_world: PolicyWorld, text: str, line: int, says: str) -> None:
    w = policy_world
    w.write_policy(text)
    r = w.run("status")
    assert r.rc == 9, str(r)
    assert f"{w.policy_file} line {line}: " in r.stderr and says in r.stderr, str(r)


def test_missing_schema_and_bad_toml(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy('[backends]\nallowed = ["kwallet"]\n')
    assert "has no `schema = 1` line" in w.run("status").stderr
    w.write_policy("schema = 1\n[backends\n")
    bad = w.run("token")
    assert bad.rc == 9 and "is not valid TOML" in bad.stderr and "line 2" in bad.stderr


def test_oversized_and_binary_policies_stop_cclogin(policy_world: PolicyWorld) -> None:
    w = policy_world
    w.write_policy("schema = 1\n" + "# padding\n" * 7000)  # 70 KB: over the 64 KiB limit
    big = w.run("status")
    assert big.rc == 9 and "is larger than 65536 bytes" in big.stderr
    w.policy_file.write_bytes(b"schema = 1\n\xff\xfe\n")
    binary = w.run("status")
    assert binary.rc == 9 and "is not UTF-8 text" in binary.stderr


def test_unlock_cache_limit_is_validated_and_exposed(policy_world: PolicyWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    w = policy_world
    w.write_policy("schema = 1\n\n[unlock_cache]\nmax_seconds = 600\n")
    assert w.run("status").rc != 9
    monkeypatch.setenv(policy.TEST_ENV, str(w.policy_file))
    policy.forget()
    try:
        assert policy.unlock_cache_limit() == 600
        policy.check_unlock_seconds(600)
        with pytest.raises(PolicyRefused, match=r"line 4 \(unlock_cache.max_seconds\)"):
            policy.check_unlock_seconds(601)
        w.write_policy("schema = 1\n[unlock_cache]\nmax_seconds = 0\n")
        policy.forget()
        with pytest.raises(PolicyRefused, match="not allowed on this machine"):
            policy.check_unlock_seconds(1)
    finally:
        policy.forget()


def test_the_variable_never_hides_a_real_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whenever the system path exists (a file, a symlink, anything), it is the policy."""
    need_root()
    system = Path("/run") / f"cclogin-system-{os.getpid()}"
    system.mkdir(mode=0o755)
    try:
        real = system / "policy.toml"
        real.write_text("schema = 1\n[logout]\nrequire_revoke = true\n")
        os.chmod(real, 0o644)
        decoy = system / "decoy.toml"
        decoy.write_text("schema = 1\n")
        os.chmod(decoy, 0o644)
        monkeypatch.setattr(policy, "system_path", lambda: str(real))
        monkeypatch.setenv(policy.TEST_ENV, str(decoy))
        assert policy.locate() == str(real)
        policy.forget()
        found = policy.current()
        assert found is not None and found.require_revoke and found.path == str(real)
        real.unlink()
        real.symlink_to(decoy)  # a symlink at the system path is refused, not followed
        policy.forget()
        with pytest.raises(PolicyUnusable, match="is a symlink"):
            policy.current()
        real.unlink()
        policy.forget()
        assert policy.current() is not None and policy.current().path == str(decoy)  # type: ignore[union-attr]
    finally:
        policy.forget()
        for p in system.iterdir():
            p.unlink()
        system.rmdir()


def test_the_policy_knows_every_backend_and_the_kdf_ceiling() -> None:
    from cclogin.policy.load import KDF_CEILING
    from cclogin.policy.rules import KNOWN_BACKENDS, OS_KEYCHAINS
    from cclogin.store.kdf import CEILING
    from cclogin.store.os_keyring import ALL_BACKEND_NAMES

    assert set(OS_KEYCHAINS) == set(ALL_BACKEND_NAMES)
    assert {"encrypted-file", "vault", "keychain"} <= set(KNOWN_BACKENDS)
    store_ceiling = {
        "min_memory_kib": CEILING.memory_kib,
        "min_iterations": CEILING.iterations,
        "min_lanes": CEILING.lanes,
    }
    assert store_ceiling == KDF_CEILING
