"""Secret redaction, credential serialisation and profile names."""

from __future__ import annotations

import pickle

import pytest

from cclogin.errors import InvalidInput, StoreCorrupt
from cclogin.model import (
    ApiKey,
    ClaudeLogin,
    ClaudeToken,
    OAuthTokens,
    dump_credential,
    load_credential,
    primary_secret,
    profile_name,
)
from cclogin.secret import Secret

KEY = "sk-ant-api03-test-core-0001"


def test_secret_never_prints_itself() -> None:
    s = Secret(KEY)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"k": s})):
        assert KEY not in text
    assert repr(s) == "Secret('sk-ant-…0001')"
    assert s.reveal() == KEY


def test_short_secrets_are_fully_redacted() -> None:
    assert "abc" not in repr(Secret("abcdef"))


def test_secret_refuses_pickling() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(KEY))


def test_secret_equality_compares_values() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret(KEY + "x")


@pytest.mark.parametrize(
    "cred",
    [
        ApiKey(Secret(KEY)),
        ClaudeToken(Secret("sk-ant-oat01-test-core-0002")),
        OAuthTokens(Secret("at-test"), Secret("rt-test"), 1_900_000_000.5, ("openid",)),
        OAuthTokens(Secret("at-only")),
        ClaudeLogin(Secret('{"claudeAiOauth":{"accessToken":"x"},"other":1}'),
                    Secret("x-access"), 1_800_000_000.0),
    ],
)
def test_credentials_round_trip_and_redact(cred: object) -> None:
    blob = dump_credential(cred)  # type: ignore[arg-type]
    back = load_credential(blob)
    assert back == cred
    assert dump_credential(back) == blob
    assert primary_secret(back).reveal() not in repr(back)


@pytest.mark.parametrize(
    "blob",
    [b"", b"not json", b"[]", b'{"v":2,"kind":"api_key","key":"x"}',
     b'{"v":1,"kind":"api_key"}', b'{"v":1,"kind":"nope"}', b"\xff\xfe",
     b'{"v":1,"kind":"oauth","access_token":"a","expires_at":"soon"}'],
)
def test_corrupt_credentials_are_store_corrupt_without_echo(blob: bytes) -> None:
    with pytest.raises(StoreCorrupt) as info:
        load_credential(blob)
    assert "soon" not in info.value.message


@pytest.mark.parametrize("name", ["default", "work", "a", "team.prod-2", "A_b"])
def test_good_profile_names(name: str) -> None:
    assert profile_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 65, "a\nb", "ü", "../etc"])
def test_bad_profile_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        profile_name(name)
