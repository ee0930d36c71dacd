"""configure() fed random mappings: it accepts them or raises ConfigurationError, nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import g4f_lite
from g4f_lite import config
from g4f_lite.errors import ConfigurationError
from g4f_lite.router import Router

pytestmark = pytest.mark.usefixtures("first_party_plugins")

# Keys the loader knows, mixed with random ones, so that examples get past the
# first check often enough to reach the validation of every table.
ROUTER_KEYS = [
    "strategy",
    "max_providers",
    "wait_for_cooldown",
    "max_cooldown_wait",
    "retry",
    "timeouts",
    "max_attempts",
    "initial",
    "max_wait",
    "jitter",
    "max_retry_after",
    "connect",
    "first_chunk",
    "idle",
    "total",
]
PROVIDER_KEYS = [
    "kind",
    "enabled",
    "base_url",
    "api_key",
    "api_key_env",
    "proxy",
    "timeout",
    "url",
    "models",
    "default_model",
    "nonce",
    "bot_id",
    "context_id",
    "stream",
]
NAMES = ["Opchatgpts", "opchatgpts", "Ollama", "Mine", "MINE", "1bad", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, 2**64 + 1]),
    st.floats(),  # inf, -inf and nan included
    st.text(max_size=20),
    st.sampled_from(
        ["ordered", "fastest", "aiengine", "openai", "http://u:p@127.0.0.1:9", "auto", "inf"]
    ),
    st.binary(max_size=8),
)
keys = st.one_of(
    st.sampled_from(ROUTER_KEYS + PROVIDER_KEYS + NAMES),
    st.text(max_size=12),
    st.integers(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=8,
)
router_tables = st.dictionaries(
    st.sampled_from(ROUTER_KEYS) | keys,
    values | st.dictionaries(st.sampled_from(ROUTER_KEYS), scalars, max_size=4),
    max_size=6,
)


def options_besides(*required: str) -> dict[str, st.SearchStrategy[Any]]:
    """Random values for any of the other provider keys."""
    others = [key for key in PROVIDER_KEYS if key not in ("kind", *required)]
    return {key: scalars | st.lists(scalars, max_size=3) for key in others}


provider_tables = st.one_of(
    st.dictionaries(st.sampled_from(PROVIDER_KEYS), scalars, max_size=5),
    # Declared providers with the required field set, so their kind's options get fuzzed.
    st.fixed_dictionaries(
        {"kind": st.just("aiengine"), "url": st.just("https://example.org")},
        optional=options_besides("url"),
    ),
    st.fixed_dictionaries(
        {"kind": st.just("openai"), "base_url": st.just("http://u:p@127.0.0.1:9/v1")},
        optional=options_besides("base_url"),
    ),
)
tables = st.fixed_dictionaries(
    {},
    optional={
        "providers": st.dictionaries(
            st.sampled_from(NAMES) | keys, provider_tables | values, max_size=3
        )
        | values,
        "router": router_tables | values,
        "server": values,
    },
)
mappings = st.one_of(tables, tables, tables, st.dictionaries(keys, values, max_size=3))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(source=mappings)
def test_configure_raises_only_configuration_errors(source: dict[Any, Any]) -> None:
    try:
        loaded = g4f_lite.configure(source)
    except ConfigurationError as exc:
        message = str(exc)
        assert message.startswith("<configuration>: ") or "configure()" in message
        assert "pydantic" not in message and "input_value" not in message
        assert len(message) < 5_000
    else:
        # Accepted configuration works: the default router builds from it.
        assert Router.from_settings(loaded.router, source=loaded.source) is not None
        assert config.current_config() is loaded
    finally:
        config.reset()


@settings(max_examples=100, deadline=None)
@given(table=router_tables)
def test_router_tables_are_accepted_whole_or_refused_cleanly(table: dict[Any, Any]) -> None:
    try:
        router = Router.from_settings(table, source="fuzz")
    except ConfigurationError as exc:
        message = str(exc)
        assert message.startswith("fuzz: [router")
    else:
        assert router.retry.max_attempts >= 1


toml_texts = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    # Mostly well-formed TOML with random values, and nesting past any parser's stack.
    st.tuples(st.sampled_from(["[router]\n", "[providers.Opchatgpts]\n", ""]), st.text()).map(
        lambda parts: (parts[0] + "x = " + parts[1]).encode("utf-8", "surrogatepass")
    ),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[router]\nx = " + b"[" * n),
)


@settings(max_examples=100, deadline=None)
@given(data=toml_texts)
def test_any_file_is_loaded_or_refused_cleanly(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g4f-lite.toml"
        path.write_bytes(data)
        try:
            config.load_config(path)
        except ConfigurationError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ")
