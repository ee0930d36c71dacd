"""Configuration reaching calls: per-provider options, enabled = false, the [router] table."""

from __future__ import annotations

import pytest

import g4f_lite
from g4f_lite import errors
from g4f_lite.router import default_router
from g4f_lite.testing import AIEngineEmulator, Fault

HELLO = [{"role": "user", "content": "Hello there"}]
REPLY = "Hello from the AI Engine emulator! You said: Hello there"


async def test_table_options_reach_the_provider_on_every_call(site: AIEngineEmulator) -> None:
    g4f_lite.configure({"providers": {"opchatgpts": {"base_url": site.url}}})
    for _ in range(2):
        assert await g4f_lite.ChatCompletion.create_async("", HELLO, provider="Opchatgpts") == REPLY
    assert len(site.requests) == 2


async def test_options_given_in_the_call_win(site: AIEngineEmulator) -> None:
    g4f_lite.configure({"providers": {"Opchatgpts": {"base_url": "http://127.0.0.1:9"}}})
    text = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="Opchatgpts", base_url=site.url
    )
    assert text == REPLY


async def test_configured_proxy_is_not_hidden_by_proxy_none(site: AIEngineEmulator) -> None:
    g4f_lite.configure(
        {"providers": {"Opchatgpts": {"base_url": "http://site.invalid", "proxy": site.url}}}
    )
    await g4f_lite.ChatCompletion.create_async("", HELLO, provider="Opchatgpts", proxy=None)
    [request] = site.requests  # reached through the configured proxy
    assert request.headers["Host"] == "site.invalid"


async def test_a_disabled_provider_is_refused_by_name_and_never_chosen() -> None:
    g4f_lite.configure({"providers": {"Opchatgpts": {"enabled": False}}})
    with pytest.raises(errors.ConfigurationError, match=r"Opchatgpts is disabled.*enabled = false"):
        await g4f_lite.ChatCompletion.create_async("", HELLO, provider="Opchatgpts")
    with pytest.raises(errors.NoProviderAvailableError, match="disabled in the configuration"):
        await g4f_lite.ChatCompletion.create_async("", HELLO)


async def test_router_table_sets_the_default_router(site: AIEngineEmulator) -> None:
    g4f_lite.configure({"router": {"retry": {"max_attempts": 1}, "strategy": "least-failures"}})
    router = default_router()
    assert router.retry.max_attempts == 1
    assert router.strategy.name == "least-failures"
    site.faults.append(Fault.http_status(500))
    with pytest.raises(errors.ServerError):  # one attempt: the 500 is not retried
        await g4f_lite.ChatCompletion.create_async(
            "", HELLO, provider="Opchatgpts", base_url=site.url
        )
    assert len(site.requests) == 1


async def test_without_router_table_the_default_router_retries(site: AIEngineEmulator) -> None:
    g4f_lite.configure({"router": {"retry": {"max_attempts": 2, "initial": 0, "jitter": 0}}})
    site.faults.append(Fault.http_status(500))
    text = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="Opchatgpts", base_url=site.url
    )
    assert text == REPLY
    assert len(site.requests) == 2


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (
            {"retries": 2},
            r"\[router\] unknown key 'retries' \(allowed: health_store, max_cooldown_wait, ",
        ),
        ({"retry": {"max_attempt": 2}}, r"\[router.retry\] unknown key 'max_attempt'"),
        ({"timeouts": 5}, r"\[router.timeouts\] must be a table"),
        ({"timeouts": {"idle": -1}}, r"\[router.timeouts\] key 'idle' must be more than 0"),
    ],
)
def test_bad_router_tables_fail_at_configure(table: dict[str, object], match: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=match):
        g4f_lite.configure({"router": table})
