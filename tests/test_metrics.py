"""``GET /metrics``: Prometheus text that parses, and counters that follow the traffic."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from g4f_lite import config
from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.policies import RetryPolicy
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.registry import registry
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.server.metrics import MAX_MODELS, Exchange, ServerMetrics
from g4f_lite.testing import AIEngineEmulator, Fault, OpenAIEmulator
from g4f_lite.types import Messages

HI = [{"role": "user", "content": "Hi there"}]
KEY = "metrics-test-server-key"
Samples = dict[tuple[str, tuple[Any, ...]], float]


@pytest.fixture
async def sites(
    site: AIEngineEmulator, openai_server: OpenAIEmulator, first_party_plugins: None
) -> tuple[AIEngineEmulator, OpenAIEmulator]:
    """``Local`` (AI Engine), ``Spare`` (the same site) and ``Up`` (OpenAI-compatible)."""
    config.configure(
        {
            "providers": {
                "Local": {"kind": "aiengine", "url": site.url, "models": ["local-model"]},
                "Spare": {"kind": "aiengine", "url": site.url},
                "Up": {"kind": "openai", "base_url": openai_server.url, "api_key": "sk-test"},
            }
        }
    )
    return site, openai_server


def router(**kwargs: Any) -> Router:
    """Its own health store: nothing leaks between tests."""
    kwargs.setdefault("retry", RetryPolicy(max_attempts=1))
    kwargs.setdefault("health", InMemoryHealthStore())
    return Router(**kwargs)


async def post(server: Server, body: dict[str, Any]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", json=body) as response,
    ):
        return response.status, await response.read()


async def scrape(server: Server, key: str | None = None) -> Samples:
    """Every sample of ``GET /metrics``, as prometheus_client parses it, by name and labels."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = server.url.removesuffix("/v1") + "/metrics"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("g4f_lite_"), family.name
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_follow_the_traffic(sites: tuple[AIEngineEmulator, OpenAIEmulator]) -> None:
    local, up = sites
    async with Server(ServerSettings(port=0), router=router()) as server:
        before = await scrape(server)
        assert value(before, "g4f_lite_requests_total", provider="Up", model="", outcome="ok") == 0
        assert value(before, "g4f_lite_in_flight_requests") == 0
        # Two answers from Up (one streamed), one from Local, one client error.
        for stream in (False, True):
            body = {"model": "emulated-model", "messages": HI, "provider": "Up", "stream": stream}
            assert (await post(server, body))[0] == 200
        assert (await post(server, {"model": "local-model", "messages": HI}))[0] == 200
        assert (await post(server, {"model": "no-such-model", "messages": HI}))[0] == 404
        after = await scrape(server)
    ok = {"outcome": "ok"}
    assert value(after, "g4f_lite_requests_total", provider="Up", model="emulated-model", **ok) == 2
    assert value(after, "g4f_lite_requests_total", provider="Local", model="local-model", **ok) == 1
    # The client's model name is not a label of a client error.
    client_error = {"provider": "", "model": "", "outcome": "client_error"}
    assert value(after, "g4f_lite_requests_total", **client_error) == 1
    assert value(after, "g4f_lite_request_duration_seconds_count", provider="Up") == 2
    assert value(after, "g4f_lite_request_duration_seconds_bucket", provider="Up", le="+Inf") == 2
    # Time to first chunk: the streamed answer only.
    assert value(after, "g4f_lite_time_to_first_chunk_seconds_count", provider="Up") == 1
    tokens = {"provider": "Up", "model": "emulated-model"}
    assert value(after, "g4f_lite_input_tokens_total", **tokens) > 0
    assert value(after, "g4f_lite_output_tokens_total", **tokens) > 0
    assert value(after, "g4f_lite_in_flight_requests") == 0
    chats = [r for r in up.requests if r.path.endswith("/chat/completions")]
    assert len(local.requests) == 1 and len(chats) == 2


async def test_retries_and_failovers_are_counted(
    sites: tuple[AIEngineEmulator, OpenAIEmulator],
) -> None:
    local, _ = sites
    retrying = router(retry=RetryPolicy(max_attempts=2, initial=0.01, max_wait=0.01, jitter=0))
    async with Server(ServerSettings(port=0), router=retrying) as server:
        # Local fails once, then answers on its second attempt: one retry.
        local.faults.append(Fault.http_status(500))
        assert (await post(server, {"model": "", "messages": HI, "provider": "Local"}))[0] == 200
        # Local fails both attempts, then Spare answers: one retry more, one failover.
        local.faults.extend([Fault.http_status(500), Fault.http_status(500)])
        body = {"model": "", "messages": HI, "provider": ["Local", "Spare"]}
        assert (await post(server, body))[0] == 200
        samples = await scrape(server)
    assert value(samples, "g4f_lite_retries_total", provider="Local") == 2
    assert value(samples, "g4f_lite_failovers_total", provider="Local") == 1
    assert value(samples, "g4f_lite_requests_total", provider="Spare", model="", outcome="ok") == 1


async def test_breaker_state_and_skips(sites: tuple[AIEngineEmulator, OpenAIEmulator]) -> None:
    local, _ = sites
    local.fault = Fault.http_status(500)
    benching = router(
        health=InMemoryHealthStore(CircuitBreaker(failure_threshold=1, cooldown=600)),
        wait_for_cooldown=False,
    )
    body = {"model": "", "messages": HI, "provider": "Local"}
    async with Server(ServerSettings(port=0), router=benching) as server:
        before = await scrape(server)
        assert (await post(server, body))[0] == 502
        assert (await post(server, body))[0] == 503  # benched: skipped without a request
        after = await scrape(server)
    target = local.url
    closed = {"provider": "Local", "target": target}
    assert value(before, "g4f_lite_breaker_state", state="closed", **closed) == 1
    assert value(after, "g4f_lite_breaker_state", state="open", **closed) == 1
    assert value(after, "g4f_lite_breaker_state", state="closed", **closed) == 0
    assert value(after, "g4f_lite_breaker_cooldown_seconds", **closed) > 500
    assert value(after, "g4f_lite_breaker_trips_total", provider="Local") == 1
    assert value(after, "g4f_lite_skips_total", provider="Local") == 1
    failed = {"provider": "", "model": "", "outcome": "failed"}
    assert value(after, "g4f_lite_requests_total", **failed) == 2
    assert len(local.requests) == 1


async def test_a_broken_stream_is_counted_as_such(
    sites: tuple[AIEngineEmulator, OpenAIEmulator],
) -> None:
    local, _ = sites
    local.fault = Fault.drop(after=3)
    async with Server(ServerSettings(port=0), router=router()) as server:
        status, body = await post(server, {"model": "local-model", "messages": HI, "stream": True})
        samples = await scrape(server)
    assert status == 200 and b"[DONE]" not in body
    broken = {"provider": "Local", "model": "local-model", "outcome": "broken_stream"}
    assert value(samples, "g4f_lite_requests_total", **broken) == 1


class Gated(AsyncGeneratorProvider):
    """Answers once :attr:`gate` opens, so that a test sees a request in flight."""

    name = "Gated"
    working = True
    gate: ClassVar[asyncio.Event]
    entered: ClassVar[asyncio.Event]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        cls.entered.set()
        await cls.gate.wait()
        yield "done"


async def test_in_flight_requests(first_party_plugins: None) -> None:
    Gated.gate, Gated.entered = asyncio.Event(), asyncio.Event()
    registry.register(Gated)
    async with Server(ServerSettings(port=0), router=router()) as server:
        pending = asyncio.ensure_future(
            post(server, {"model": "", "messages": HI, "provider": "Gated"})
        )
        await asyncio.wait_for(Gated.entered.wait(), timeout=30)
        assert value(await scrape(server), "g4f_lite_in_flight_requests") == 1
        Gated.gate.set()
        assert (await pending)[0] == 200
        assert value(await scrape(server), "g4f_lite_in_flight_requests") == 0


async def test_metrics_need_the_key_unless_public(
    sites: tuple[AIEngineEmulator, OpenAIEmulator],
) -> None:
    async with aiohttp.ClientSession() as session:
        for public in (False, True):
            settings = ServerSettings(port=0, api_key=SecretStr(KEY), metrics_public=public)
            async with Server(settings, router=router()) as server:
                url = server.url.removesuffix("/v1") + "/metrics"
                async with session.get(url) as response:
                    status, text = response.status, await response.text()
                if public:
                    assert status == 200 and "g4f_lite_requests_total" in text
                else:
                    assert status == 401 and "invalid_api_key" in text
                    assert KEY not in text
                    await scrape(server, KEY)  # with the key: 200


async def test_two_servers_in_one_process_count_apart(
    sites: tuple[AIEngineEmulator, OpenAIEmulator],
) -> None:
    # Both route with the default router: each counts its own requests only.
    async with (
        Server(ServerSettings(port=0)) as first,
        Server(ServerSettings(port=0)) as second,
    ):
        body = {"model": "local-model", "messages": HI}
        assert (await post(first, body))[0] == 200
        assert (await post(first, body))[0] == 200
        assert (await post(second, body))[0] == 200
        ok = {"provider": "Local", "model": "local-model", "outcome": "ok"}
        assert value(await scrape(first), "g4f_lite_requests_total", **ok) == 2
        assert value(await scrape(second), "g4f_lite_requests_total", **ok) == 1


def test_client_chosen_model_names_are_bounded() -> None:
    metrics = ServerMetrics()
    for number in range(MAX_MODELS + 50):
        exchange = metrics.begin()
        exchange.model, exchange.provider = f"model-{number}", "P"
        metrics.end(exchange, 200)
    models = {model for _, model, _ in metrics.requests}
    assert len(models) == MAX_MODELS + 1 and "other" in models
    assert metrics.requests["P", "other", "ok"] == 50 and metrics.in_flight == 0
    fresh = ServerMetrics()
    long: Exchange = fresh.begin()
    long.model = "m" * 10_000
    fresh.end(long, 200)
    assert 0 < max(len(model) for _, model, _ in fresh.requests) <= 200


def test_import_g4f_lite_leaves_prometheus_client_out() -> None:
    code = (
        "import sys, json, g4f_lite, g4f_lite.server; "
        "print(json.dumps('prometheus_client' in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) is False
