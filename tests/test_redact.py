"""g4f_lite.redact and g4f_lite._json: the nets under secrets and hostile JSON."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from pydantic import SecretStr

from g4f_lite import _json, errors
from g4f_lite.redact import MASK, SecretFilter, mask_url, scrub, scrub_error, secret_values

# -- mask_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://user:pass@proxy:3128", "http://***@proxy:3128"),
        ("https://token@example.org/v1?x=1", "https://***@example.org/v1?x=1"),
        ("socks5://u:p%40ss@10.0.0.1:1080", "socks5://***@10.0.0.1:1080"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


# -- scrub ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("key sk-proj-abcdefgh12345678 is wrong", "sk-proj-abcdefgh12345678"),
        ("AIzaSyA1234567890abcdefghijklmnop", "SyA1234567890abcdefghijklmnop"),
        ("GET /v1/models?api_key=hunter22&x=1", "hunter22"),
        ("https://x.org/?key=k3y-value#frag", "k3y-value"),
        ("proxy http://bob:secretpw@host failed", "secretpw"),
    ],
)
def test_scrub_masks_credential_shapes(text: str, hidden: str) -> None:
    clean = scrub(text)
    assert hidden not in clean
    assert MASK in clean


def test_scrub_masks_known_values_longest_first_and_keeps_short_ones() -> None:
    secrets = {"abcd1234", "abcd1234-extended", "ab"}
    text = "k=abcd1234-extended and abcd1234; ab stays"
    assert scrub(text, secrets) == f"k={MASK} and {MASK}; ab stays"
    assert scrub("nothing here", secrets) == "nothing here"


# -- secret_values -------------------------------------------------------------------


def test_secret_values_from_every_place() -> None:
    found = secret_values(
        {
            "api_key": SecretStr("plain-api-key"),
            "token": b"bytes-token",
            "cookies": {"session": "cookie-value"},
            "proxy": "http://puser:ppass@127.0.0.1:3128",
            "base_url": "https://buser:bpass@api.example.org/v1",
            "headers": {"Authorization": "Bearer header-token", "X-Other": "public-value"},
            "model": "not-a-secret",
            "nonce": "ab",  # too short to mask
        }
    )
    for value in (
        "plain-api-key",
        "bytes-token",
        "cookie-value",
        "session=cookie-value",
        "puser",
        "ppass",
        "puser:ppass",
        "bpass",
        "Bearer header-token",
        "header-token",
    ):
        assert value in found
    assert "public-value" not in found
    assert "not-a-secret" not in found
    assert "ab" not in found
    assert secret_values({}) == frozenset()
    assert secret_values({"proxy": "http://127.0.0.1:3128"}) == frozenset()


# -- scrub_error ------------------------------------------------------------------------


class FakeAiohttpError(Exception):
    """A library error (its module is not g4f_lite) naming a URL with a key."""


def test_scrub_error_in_place_and_through_its_chain() -> None:
    error = errors.UpstreamError("P", "bad key my-secret-key")
    error.__cause__ = FakeAiohttpError("GET http://h/x?key=my-secret-key failed")
    inner = errors.HTTPStatusError("P", 401, "server said my-secret-key")
    outer = errors.ProviderError("P", "wrapped")
    outer.__context__ = inner
    assert scrub_error(error, {"my-secret-key"}) is error
    assert "my-secret-key" not in str(error)
    assert "my-secret-key" not in error.detail
    cause = error.__cause__
    assert cause is not None and not isinstance(cause, FakeAiohttpError)  # replaced
    assert "my-secret-key" not in str(cause)
    assert "FakeAiohttpError" in str(cause)
    scrub_error(outer, {"my-secret-key"})
    assert "my-secret-key" not in inner.server_message
    assert "my-secret-key" not in str(inner)


def test_scrub_error_leaves_clean_causes_alone() -> None:
    error = errors.ProviderError("P", "boom")
    cause = KeyError("choices")
    error.__cause__ = cause
    scrub_error(error, {"secret-value"})
    assert error.__cause__ is cause


# -- SecretFilter ----------------------------------------------------------------------


def test_secret_filter_scrubs_args_and_tracebacks() -> None:
    secret = "filter-secret-123"
    filt = SecretFilter([secret])
    filt.add("ab")  # too short: ignored
    assert filt.secrets == {secret}
    filt.add("later-secret-456")
    try:
        raise ValueError(f"failed with {secret}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "key %s and %s", (secret, "later-secret-456"), exc_info
    )
    assert filt.filter(record)
    formatted = logging.Formatter().format(record)
    assert secret not in formatted
    assert "later-secret-456" not in formatted
    assert "key *** and ***" in formatted
    assert "ValueError: failed with ***" in formatted
    # A bad format string is logged unformatted, still scrubbed.
    bad = logging.LogRecord("t", logging.INFO, __file__, 1, f"{secret} %d", ("x",), None)
    assert filt.filter(bad)
    assert secret not in bad.getMessage()


# -- _json ---------------------------------------------------------------------------


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def test_depth_bound_is_exact() -> None:
    assert _json.loads(nested(64)) is not None
    with pytest.raises(_json.JSONNestingError) as info:
        _json.loads(nested(65))
    assert info.value.max_depth == 64
    objects = '{"a":' * 64 + "1" + "}" * 64
    assert _json.loads(objects) is not None
    with pytest.raises(_json.JSONNestingError):
        _json.loads('{"a":' * 65 + "1" + "}" * 65)
    assert _json.loads(nested(3), max_depth=3) == [[[]]]
    with pytest.raises(_json.JSONNestingError):
        _json.loads(nested(4), max_depth=3)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"s": "[" * 500 + '\\"{' * 100, "t": ['"]]]]', "\\"]})
    assert _json.loads(text) == json.loads(text)
    # An escaped quote must not end the string early and expose the brackets.
    tricky = '["\\"' + "[" * 100 + '"]'
    assert _json.loads(tricky) == ['"' + "[" * 100]


def test_bytes_and_bad_input() -> None:
    assert _json.loads(b'{"a": [1, 2]}') == {"a": [1, 2]}
    assert _json.loads(bytearray(b"[1]")) == [1]
    with pytest.raises(ValueError, match="not UTF-8"):
        _json.loads(b"\xff\xfe[]")
    with pytest.raises(ValueError, match="property name") as info:
        _json.loads("{not json")
    assert not isinstance(info.value, _json.JSONNestingError)


def test_deep_input_is_never_a_recursion_error() -> None:
    for text in (nested(100_000), nested(100_000, "{", "}"), "[" * 1_000_000):
        with pytest.raises(_json.JSONNestingError):
            _json.loads(text)


def test_a_megabyte_of_adversarial_input_completes() -> None:
    # Many brackets (defeating the counting fast path), shallow nesting, and
    # long escape runs: each must be scanned once, not once per bracket.
    shallow = "[" + "[]," * 350_000 + "[]]"
    assert len(_json.loads(shallow)) == 350_001
    escapes = '["' + "\\\\" * 500_000 + '"]'
    assert _json.loads(escapes) == ["\\" * 500_000]
    strings = "[" + ",".join(['"[{"'] * 200_000) + "]"
    assert len(_json.loads(strings)) == 200_000
