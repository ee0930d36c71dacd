"""Failing over from an AI Engine site to an OpenAI-compatible endpoint.

Both are declared as data, so each carries its own URL and a router needs
no per-provider arguments to move from one to the other.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

import g4f_lite
from g4f_lite import config
from g4f_lite.errors import ProviderError, ServerError
from g4f_lite.provider import collect, run_provider
from g4f_lite.testing import AIEngineEmulator, Fault, OpenAIEmulator

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HELLO = [{"role": "user", "content": "Hello"}]


def declare_both(site: AIEngineEmulator, server: OpenAIEmulator) -> None:
    g4f_lite.configure(
        {
            "providers": {
                "Site": {"kind": "aiengine", "url": site.url},
                "Local": {"kind": "openai", "base_url": server.url, "timeout": 10},
            }
        }
    )


async def test_a_failing_site_gives_a_retryable_error_naming_it_then_the_endpoint_answers() -> None:
    # What the router relies on, without the router: typed, retryable errors
    # that name the provider, and providers that need no per-call arguments.
    async with (
        AIEngineEmulator(generation="3.x", fault=Fault.http_status(500)) as site,
        OpenAIEmulator(models=["m"], reply="from the endpoint") as server,
    ):
        declare_both(site, server)
        errors: list[ProviderError] = []
        answer = None
        for name in ("Site", "Local"):
            provider = g4f_lite.get_provider(name)
            options = config.provider_options(name)
            try:
                answer = await collect(run_provider(provider, "", HELLO, **options), name)
                break
            except ProviderError as exc:
                errors.append(exc)
    assert answer == "from the endpoint"
    [error] = errors
    assert isinstance(error, ServerError)
    assert (error.provider, error.retryable) == ("Site", True)


@pytest.mark.skipif(
    importlib.util.find_spec("g4f_lite.router") is None, reason="the router is not merged yet"
)
async def test_the_router_fails_over_in_one_call() -> None:
    async with (
        AIEngineEmulator(generation="3.x", fault=Fault.http_status(500)) as site,
        OpenAIEmulator(models=["m"], reply="from the endpoint") as server,
    ):
        declare_both(site, server)
        # A list of providers is the router's signature; typed loosely so that
        # this file also type-checks before the router is merged.
        chain: Any = ["Site", "Local"]
        text = await g4f_lite.ChatCompletion.create_async("", HELLO, provider=chain)
    assert text == "from the endpoint"
    assert any(r.path.endswith("/chats/submit") for r in site.requests)
