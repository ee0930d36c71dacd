"""The AI Engine family on the full chat surface: usage, content parts, sampling, whole answers.

Both the generic provider (``kind = "aiengine"``) and the Opchatgpts
reference provider speak the same protocol, so most behaviours are checked
on both.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from g4f_lite_opchatgpts import Opchatgpts

import g4f_lite
from g4f_lite.errors import (
    BrokenLineError,
    ConfigurationError,
    LineTooLongError,
    ProtocolError,
    ServerError,
    TruncatedResponseError,
    UnsupportedFeatureError,
)
from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.provider import AsyncGeneratorProvider as Provider
from g4f_lite.provider import run_provider
from g4f_lite.router import RetryPolicy, Router
from g4f_lite.testing import AIEngineEmulator, Fault
from g4f_lite.types import Chunk, Usage

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HELLO = [{"role": "user", "content": "Hello"}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
PROVIDERS = ["aiengine", "opchatgpts"]
#: The usage the emulator reports for HELLO and a three-word reply. It counts
#: the words of the context the site saw: the reference provider, true to the
#: seed, sends the new turn twice (in ``messages`` and as ``newMessage``).
THREE_WORDS = {"aiengine": Usage.of(1, 3), "opchatgpts": Usage.of(2, 3)}


def aimed(kind: str, site: AIEngineEmulator) -> tuple[type[Provider], dict[str, Any]]:
    """The provider of ``kind`` and the call options that aim it at ``site``."""
    if kind == "aiengine":
        declared = g4f_lite.declare_provider("MySite", "aiengine", url=site.url)
        return cast(type[Provider], declared), {}
    return Opchatgpts, {"base_url": site.url}


async def chunks_of(provider: type[Provider], messages: Any = None, **kwargs: Any) -> list[Chunk]:
    return [c async for c in run_provider(provider, "", messages or HELLO, **kwargs)]


def router() -> Router:
    """A router with its own health store that gives up after the first failure."""
    return Router(
        health=InMemoryHealthStore(CircuitBreaker(failure_threshold=3, cooldown=30.0)),
        retry=RetryPolicy(max_attempts=1, initial=0.0, max_wait=0.0, jitter=0.0),
    )


# -- usage --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PROVIDERS)
@pytest.mark.parametrize("stream", [True, False])
async def test_the_sites_usage_follows_the_text(kind: str, stream: bool) -> None:
    async with AIEngineEmulator(reply="one two three") as site:
        provider, options = aimed(kind, site)
        chunks = await chunks_of(provider, stream=stream, **options)
    assert "".join(c for c in chunks if isinstance(c, str)) == "one two three"
    assert chunks[-1] == THREE_WORDS[kind]
    assert [c for c in chunks if not isinstance(c, str)] == [chunks[-1]]


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_a_whole_answer_through_the_router_carries_the_sites_usage(kind: str) -> None:
    async with AIEngineEmulator(reply="one two three") as site:
        provider, options = aimed(kind, site)
        answer = await router().plan("", HELLO, provider=provider, **options).answer()
    assert (answer.text, answer.usage, answer.provider) == (
        "one two three",
        THREE_WORDS[kind],
        provider.name,
    )
    # The generic provider asks for one JSON reply; the reference always streams.
    assert site.requests[-1].body["stream"] is (kind == "opchatgpts")


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_a_stream_through_the_router_ends_with_the_usage(kind: str) -> None:
    async with AIEngineEmulator(reply="one two three") as site:
        provider, options = aimed(kind, site)
        call = router().plan("", HELLO, provider=provider, stream=True, **options)
        chunks = [c async for c in call.events()]
    assert chunks[-1] == THREE_WORDS[kind]
    assert site.requests[-1].body["stream"] is True


MALFORMED: list[object] = [
    "lots",
    [1, 2, 3],
    {"prompt_tokens": "12", "completion_tokens": 3, "total_tokens": 15},
    {"prompt_tokens": -1, "completion_tokens": 3, "total_tokens": 2},
    {"prompt_tokens": 1.5, "completion_tokens": 3, "total_tokens": 4.5},
    {"prompt_tokens": True, "completion_tokens": 3, "total_tokens": 4},
    {"completion_tokens": 3},
    # The plugin's placeholder when its engine counted nothing: not a count.
    {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "accuracy": "none"},
]


@pytest.mark.parametrize("kind", PROVIDERS)
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("usage", MALFORMED, ids=repr)
async def test_malformed_usage_is_ignored_not_an_error(
    kind: str, stream: bool, usage: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with AIEngineEmulator(reply="still here", usage=usage) as site:
        provider, options = aimed(kind, site)
        chunks = await chunks_of(provider, stream=stream, **options)
    assert chunks[-1] != Usage.of(0, 0)
    assert all(isinstance(c, str) for c in chunks)
    assert "".join(c for c in chunks if isinstance(c, str)) == "still here"
    assert "usage" in caplog.text  # the debug line says what was dropped


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_no_usage_means_no_usage_event(kind: str) -> None:
    async with AIEngineEmulator(reply="plain", usage=None) as site:
        provider, options = aimed(kind, site)
        answer = await router().plan("", HELLO, provider=provider, **options).answer()
    assert (answer.text, answer.usage) == ("plain", None)


async def test_older_plugins_usage_without_extra_keys_is_read() -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    async with AIEngineEmulator(reply="x y", usage=usage) as site:
        provider, options = aimed("aiengine", site)
        assert (await chunks_of(provider, **options))[-1] == Usage.of(7, 2)


# -- content parts, images, tools ---------------------------------------------------


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_text_parts_given_directly_are_joined(kind: str) -> None:
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief"}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hey"}]},
        {"role": "user", "content": parts},
    ]
    async with AIEngineEmulator(reply="ok") as site:
        provider, options = aimed(kind, site)
        assert await provider.create_async("", messages, **options) == "ok"
    body = site.requests[-1].body
    assert body["newMessage"] == "Helloworld"
    assert all(isinstance(m["content"], str) for m in body["messages"])
    assert {"role": "assistant", "content": "Hey"} in body["messages"]


REFUSED: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("vision", [{"role": "user", "content": [{"type": "text", "text": "What?"}, IMAGE]}], {}),
    (
        "tools",
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "function": {"name": "weather", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "user", "content": "Thanks"},
        ],
        {},
    ),
    ("tools", HELLO, {"tools": [{"type": "function", "function": {"name": "weather"}}]}),
]


@pytest.mark.parametrize("kind", PROVIDERS)
@pytest.mark.parametrize(("feature", "messages", "extra"), REFUSED, ids=["image", "turns", "tools"])
async def test_images_and_tools_given_directly_are_refused_before_any_request(
    kind: str, feature: str, messages: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    async with AIEngineEmulator() as site:
        provider, options = aimed(kind, site)
        checked = g4f_lite.types.validate_messages(messages)
        with pytest.raises(UnsupportedFeatureError) as info:
            await provider.create_async("", checked, **options, **extra)
    assert (info.value.provider, info.value.feature) == (provider.name, feature)
    assert info.value.request_fault
    assert site.requests == []


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_an_image_named_at_an_aiengine_provider_never_counts_against_it(kind: str) -> None:
    messages = REFUSED[0][1]
    async with AIEngineEmulator() as site:
        provider, options = aimed(kind, site)
        routed = router()
        with pytest.raises(UnsupportedFeatureError) as info:
            await routed.plan("", messages, provider=provider, **options).text()
        health = routed.health_of(provider, site.url)
    assert info.value.feature == "vision"
    assert (health.failures, health.successes, health.state) == (0, 0, "closed")
    assert site.requests == []


async def test_the_generic_provider_refuses_json_mode_given_directly() -> None:
    async with AIEngineEmulator() as site:
        provider, _ = aimed("aiengine", site)
        with pytest.raises(UnsupportedFeatureError) as info:
            await provider.create_async("", HELLO, response_format={"type": "json_object"})
        # asking for plain text is no JSON mode: answered
        assert await provider.create_async("", HELLO, response_format={"type": "text"})
    assert info.value.feature == "json_mode"
    assert len(site.requests) == 1


def test_the_family_declares_text_only() -> None:
    for name in ("Opchatgpts", "NoowAi"):
        info = g4f_lite.get_provider(name).get_info()
        assert (info.supports_vision, info.supports_tools, info.supports_json_mode) == (
            False,
            False,
            False,
        )


# -- sampling options ---------------------------------------------------------------


def test_sampling_options_are_declared() -> None:
    assert g4f_lite.get_provider("NoowAi").get_info().sampling_options == [
        "max_completion_tokens",
        "max_tokens",
        "temperature",
    ]
    assert g4f_lite.get_provider("Opchatgpts").get_info().sampling_options == []


async def test_temperature_and_max_tokens_reach_the_site_the_rest_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="g4f_lite.router")
    async with AIEngineEmulator(reply="one two three four") as site:
        provider, _ = aimed("aiengine", site)
        text = await (
            router()
            .plan("", HELLO, provider=provider, temperature=0.2, max_tokens=2, top_p=0.5, seed=7)
            .text()
        )
    assert text == "one two"  # the site cut its reply to maxTokens words
    body = site.requests[-1].body
    assert (body["temperature"], body["maxTokens"]) == (0.2, 2)
    assert "top_p" not in body and "seed" not in body
    assert "does not take top_p" in caplog.text and "does not take seed" in caplog.text


async def test_max_completion_tokens_is_sent_as_max_tokens() -> None:
    async with AIEngineEmulator(reply="one two three") as site:
        provider, _ = aimed("aiengine", site)
        assert await provider.create_async("", HELLO, max_completion_tokens=1) == "one"
    assert site.requests[-1].body["maxTokens"] == 1
    assert "temperature" not in site.requests[-1].body


async def test_the_reference_provider_sends_no_sampling_options() -> None:
    async with AIEngineEmulator(reply="one two three") as site:
        provider, options = aimed("opchatgpts", site)
        plan = router().plan("", HELLO, provider=provider, temperature=0.2, max_tokens=1, **options)
        assert await plan.text() == "one two three"
    body = site.requests[-1].body
    assert "temperature" not in body and "maxTokens" not in body


@pytest.mark.parametrize(
    "options", [{"temperature": "hot"}, {"max_tokens": 0}, {"max_tokens": 2.5}], ids=repr
)
async def test_bad_sampling_values_given_directly_fail_before_any_request(
    options: dict[str, Any],
) -> None:
    async with AIEngineEmulator() as site:
        provider, _ = aimed("aiengine", site)
        with pytest.raises(ConfigurationError, match="MySite: ") as info:
            await provider.create_async("", HELLO, **options)
    assert info.value.request_fault
    assert site.requests == []


# -- whole answers (stream: false) keep every fault typed ----------------------------

WHOLE_FAULTS: list[tuple[Fault, type[Exception]]] = [
    (Fault.drop(), TruncatedResponseError),
    (Fault.no_end(), TruncatedResponseError),
    (Fault.garbage(), ProtocolError),
    (Fault.no_type(), BrokenLineError),
    (Fault.error_event(), ServerError),
    (Fault.huge_line(size=64 * 1024), LineTooLongError),
]


@pytest.mark.parametrize(("fault", "error"), WHOLE_FAULTS, ids=[f.kind for f, _ in WHOLE_FAULTS])
async def test_faults_in_a_json_reply_are_typed_errors(
    fault: Fault, error: type[Exception]
) -> None:
    async with AIEngineEmulator(reply="a b c d", faults=[fault]) as site:
        provider, _ = aimed("aiengine", site)
        with pytest.raises(error) as info:
            await chunks_of(provider, stream=False, max_line_bytes=32 * 1024)
    assert getattr(info.value, "provider", None) == "MySite"
    assert not getattr(info.value, "request_fault", True)  # the site's fault
    assert site.requests[-1].body["stream"] is False


@pytest.mark.parametrize(
    ("fault", "error"), WHOLE_FAULTS[:5], ids=[f.kind for f, _ in WHOLE_FAULTS[:5]]
)
async def test_a_whole_answer_through_the_router_never_passes_a_fault_off_as_an_answer(
    fault: Fault, error: type[Exception]
) -> None:
    async with AIEngineEmulator(reply="a b c d", faults=[fault]) as site:
        provider, _ = aimed("aiengine", site)
        routed = router()
        with pytest.raises(error):
            await routed.plan("", HELLO, provider=provider).text()
        health = routed.health_of(provider)
    assert health.failures == 1  # the site's fault: it counts
    assert site.requests[-1].body["stream"] is False
