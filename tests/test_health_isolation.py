"""Health belongs to what failed: per target, provider-side failures only, auth apart."""

from __future__ import annotations

import contextlib
import io
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from router_helpers import USER, FakeClock, make_router, site_provider

import g4f_lite
from g4f_lite import ChatCompletion
from g4f_lite.cli import main
from g4f_lite.errors import (
    AllProvidersBenchedError,
    AuthenticationError,
    BadRequestError,
    G4FLiteError,
    InvalidMessagesError,
    MissingCredentialsError,
    PermissionDeniedError,
    ProviderConnectionError,
    RequestRejectedError,
    ServerError,
    UpstreamError,
)
from g4f_lite.health import CircuitBreaker, InMemoryHealthStore, health_key, normalize_target
from g4f_lite.provider import AsyncGeneratorProvider, BaseProvider
from g4f_lite.registry import registry
from g4f_lite.router import Router, RouterEvent
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import AIEngineEmulator, Fault
from g4f_lite.types import Messages

ASSISTANT_LAST = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"},
]


def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def scripted(name: str, behave: Callable[[Messages, dict[str, Any]], None]) -> type[BaseProvider]:
    """Register a working provider that runs ``behave`` (which may raise), then answers."""

    class Scripted(AsyncGeneratorProvider):
        working = True
        supports_message_history = True

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[str]:
            behave(messages, kwargs)
            yield f"from {cls.name}"

    Scripted.name = name
    return registry.register(Scripted)


def needs_user_last(name: str) -> Callable[[Messages, dict[str, Any]], None]:
    def behave(messages: Messages, kwargs: dict[str, Any]) -> None:
        if messages[-1]["role"] != "user":
            raise InvalidMessagesError(f"{name}: the last message must have role 'user'")
        if messages[-1]["content"] == "fail":
            raise ServerError(name, 500, "down")

    return behave


# -- health per target ------------------------------------------------------------------


def test_health_keys_normalise_the_target_and_drop_userinfo() -> None:
    provider = g4f_lite.get_provider("Opchatgpts")
    assert health_key(provider) == "opchatgpts"
    assert health_key(provider, {"base_url": "HTTPS://OpChatGpts.NET/"}) == "opchatgpts"
    assert health_key(provider, {"base_url": None}) == "opchatgpts"
    key = health_key(provider, {"base_url": "HTTP://user:hunter22@LOCALHOST:8080/wp/"})
    assert key == "opchatgpts @ http://localhost:8080/wp"
    assert "hunter22" not in key
    # The same site with other credentials is the same target.
    assert key == health_key(provider, {"base_url": "http://other:pw@localhost:8080/wp"})
    assert normalize_target("http://[::1]:9/") == "http://[::1]:9"
    # Listed targets never show a credential, however the URL is spelled.
    assert normalize_target("https://h.example/v1?key=AIzaSecretSecret") == (
        "https://h.example/v1?key=***"
    )
    assert normalize_target("user:hunter22@localhost:8080/") == "***@localhost:8080"
    assert "hunter22" not in normalize_target("http://user:hunter22@[::1")


async def test_a_dead_base_url_does_not_bench_the_provider_at_a_good_one(
    site: AIEngineEmulator,
) -> None:
    # The reproduction, through ChatCompletion and the default router.
    dead = f"http://user:hunter22@127.0.0.1:{closed_port()}"
    for _ in range(3):
        with pytest.raises(ProviderConnectionError):
            await ChatCompletion.create_async("", USER, provider="Opchatgpts", base_url=dead)
    with pytest.raises(AllProvidersBenchedError):
        await ChatCompletion.create_async("", USER, provider="Opchatgpts", base_url=dead)

    answer = await ChatCompletion.create_async("", USER, provider="Opchatgpts", base_url=site.url)
    assert answer.startswith("Hello from the AI Engine emulator")
    assert len(site.requests) == 1

    [info] = g4f_lite.providers()
    assert info.health is not None
    assert (info.health.target, info.health.state) == ("https://opchatgpts.net", "closed")
    by_target = {h.target: h for h in info.targets}
    assert by_target[normalize_target(site.url)].successes == 1
    bad = by_target[normalize_target(dead)]
    assert bad.benched and bad.failures == 3
    assert bad.target is not None and "hunter22" not in bad.target

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["providers"]) == 0
    table = out.getvalue()
    assert "hunter22" not in table
    rows = [line for line in table.splitlines() if line.startswith("Opchatgpts")]
    assert len(rows) == 3  # the default target, then the two base_urls called
    assert "benched" in next(row for row in rows if normalize_target(dead) in row)

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["providers", "--json"]) == 0
    assert "hunter22" not in out.getvalue()
    [listed] = json.loads(out.getvalue())
    assert listed["health"]["state"] == "closed"
    assert [t["state"] for t in listed["targets"]].count("open") == 1


async def test_a_configured_base_url_is_the_default_target(site: AIEngineEmulator) -> None:
    g4f_lite.configure({"providers": {"Opchatgpts": {"base_url": site.url}}})
    await ChatCompletion.create_async("", USER, provider="Opchatgpts")
    [info] = g4f_lite.providers()
    assert info.health is not None
    assert (info.health.target, info.health.successes) == (normalize_target(site.url), 1)
    assert len(info.targets) == 1


async def test_strategies_order_by_the_health_of_the_target_called() -> None:
    scripted("A", lambda messages, kwargs: None)
    scripted("B", lambda messages, kwargs: None)
    clock = FakeClock()
    router = make_router(clock, strategy="least-failures")
    # A failed twice, but at another base_url: at its own site it has the
    # fewer failures, so it goes first.
    for _ in range(2):
        router.health.record_failure("a @ http://192.0.2.9", clock.now(), "ServerError: x")
    router.health.record_failure("b", clock.now(), "ServerError: x")
    assert await router.complete("", USER) == "from A"
    assert router.health_of("A", base_url="http://192.0.2.9/").failures == 2
    assert router.health_of("A").successes == 1
    # Called at that base_url, A is the worse candidate.
    # (a documentation address, not this machine's: a local one would be probed)
    assert await router.complete("", USER, base_url="http://192.0.2.9") == "from B"


async def test_served_providers_show_health_per_target(site: AIEngineEmulator) -> None:
    dead = f"http://user:hunter22@127.0.0.1:{closed_port()}"
    with pytest.raises(ProviderConnectionError):
        await ChatCompletion.create_async("", USER, provider="Opchatgpts", base_url=dead)
    async with (
        Server(ServerSettings(port=0)) as server,
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/providers") as response,
    ):
        text = await response.text()
    assert response.status == 200
    assert "hunter22" not in text
    [listed] = json.loads(text)["data"]
    assert [t["target"] for t in listed["targets"]] == [
        "https://opchatgpts.net",
        normalize_target(dead),
    ]
    assert listed["targets"][1]["failures"] == 1


# -- request faults ------------------------------------------------------------------


async def test_requests_that_are_wrong_never_bench_the_provider() -> None:
    scripted("A", needs_user_last("A"))
    router = make_router(FakeClock(), threshold=1)
    for _ in range(3):
        with pytest.raises(InvalidMessagesError):
            await router.complete("", ASSISTANT_LAST, provider="A")
    health = router.health_of("A")
    assert (health.state, health.failures, health.last_error) == ("closed", 0, None)
    assert await router.complete("", USER, provider="A") == "from A"


async def test_a_wrong_request_is_not_failed_over_nor_retried() -> None:
    calls: list[str] = []

    def rejecting(messages: Messages, kwargs: dict[str, Any]) -> None:
        calls.append("A")
        raise RequestRejectedError("A", "the query has been rejected (too long)")

    def counting(messages: Messages, kwargs: dict[str, Any]) -> None:
        calls.append("B")

    scripted("A", rejecting)
    scripted("B", counting)
    events: list[RouterEvent] = []
    router = make_router(FakeClock(), events, threshold=1)
    with pytest.raises(RequestRejectedError) as caught:
        await router.complete("", USER)
    assert (caught.value.provider, caught.value.param) == ("A", "messages")
    assert calls == ["A"]  # one attempt, and B never asked
    assert not [e for e in events if e.kind in ("retry", "failover", "cooldown")]
    assert router.health_of("A").failures == 0


async def test_a_400_from_the_site_is_the_callers_error_not_a_failover(
    site: AIEngineEmulator,
) -> None:
    async with AIEngineEmulator(reply="from B") as other:
        site_provider("A", site)
        site_provider("B", other)
        site.fault = Fault.http_status(400)
        router = make_router(FakeClock(), threshold=1)
        for _ in range(3):
            with pytest.raises(BadRequestError) as caught:
                await router.complete("", USER)
            assert caught.value.status == 400
        assert len(site.requests) == 3
        assert other.requests == []
        assert router.health_of("A").state == "closed"
        site.fault = None
        assert await router.complete("", USER) == "Hello from the AI Engine emulator! You said: Hi"


async def test_a_wrong_request_gives_back_the_half_open_probe() -> None:
    scripted("A", needs_user_last("A"))
    clock = FakeClock()
    router = make_router(clock, threshold=1, cooldown=30)
    with pytest.raises(ServerError):
        await router.complete("", [{"role": "user", "content": "fail"}], provider="A")
    clock.advance(30)
    assert router.health_of("A").state == "half_open"
    with pytest.raises(InvalidMessagesError):
        await router.complete("", ASSISTANT_LAST, provider="A")
    # Not stuck "another call is probing it": the next call is the probe.
    assert await router.complete("", USER, provider="A") == "from A"
    assert router.health_of("A").state == "closed"


# -- refused credentials ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("A", 401, "Incorrect API key provided: sk-wrongwrongwrong1234"),
        PermissionDeniedError("A", 403, "forbidden"),
        MissingCredentialsError("A", "needs an API key: pass api_key="),
    ],
    ids=["401", "403", "missing"],
)
async def test_refused_credentials_mark_auth_failed_and_never_bench(error: G4FLiteError) -> None:
    state = {"fail": True}
    calls: list[int] = []

    def behave(messages: Messages, kwargs: dict[str, Any]) -> None:
        calls.append(1)
        if state["fail"]:
            raise error

    scripted("A", behave)
    clock = FakeClock()
    events: list[RouterEvent] = []
    router = make_router(clock, events, threshold=1)
    for _ in range(3):
        with pytest.raises(type(error)):
            await router.complete("", USER, provider="A")
    assert len(calls) == 3  # never retried, never benched
    assert not clock.sleeps
    assert not [e for e in events if e.kind in ("retry", "cooldown", "skip")]
    health = router.health_of("A")
    assert (health.state, health.auth_failed, health.benched) == ("auth_failed", True, False)
    assert health.failures == 0
    assert health.last_error is not None
    assert health.last_error.startswith(type(error).__name__)
    assert "sk-wrongwrongwrong1234" not in health.last_error

    state["fail"] = False  # the configuration is fixed
    assert await router.complete("", USER, provider="A") == "from A"
    health = router.health_of("A")
    assert (health.state, health.auth_failed) == ("closed", False)


async def test_refused_credentials_fail_over_when_no_provider_was_named() -> None:
    def refused(messages: Messages, kwargs: dict[str, Any]) -> None:
        raise AuthenticationError("A", 401, "bad key")

    scripted("A", refused)
    scripted("B", lambda messages, kwargs: None)
    router = make_router(FakeClock(), threshold=1)
    for _ in range(3):
        assert await router.complete("", USER) == "from B"
    health = router.health_of("A")
    assert (health.state, health.benched, health.failures) == ("auth_failed", False, 0)


async def test_auth_failed_shows_in_the_table_and_json() -> None:
    def refused(messages: Messages, kwargs: dict[str, Any]) -> None:
        raise AuthenticationError("A", 401, "bad key")

    scripted("A", refused)
    with pytest.raises(AuthenticationError):
        await ChatCompletion.create_async("", USER, provider="A")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["providers", "--working"]) == 0
    row = next(line for line in out.getvalue().splitlines() if line.startswith("A "))
    assert "auth failed" in row
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["providers", "--json", "--working"]) == 0
    [listed] = [item for item in json.loads(out.getvalue()) if item["name"] == "A"]
    assert listed["health"]["state"] == "auth_failed"
    assert listed["health"]["last_error"] == "AuthenticationError: HTTP 401 bad key"


async def test_a_store_without_auth_marking_still_works() -> None:
    inner = InMemoryHealthStore(CircuitBreaker(failure_threshold=1))

    class OldStore:
        """A store written before auth_failed existed: only the protocol's methods."""

        admit = inner.admit
        record_success = inner.record_success
        record_failure = inner.record_failure
        release = inner.release
        snapshot = inner.snapshot
        reset = inner.reset

    def refused(messages: Messages, kwargs: dict[str, Any]) -> None:
        raise AuthenticationError("A", 401, "bad key")

    scripted("A", refused)
    router = Router(health=OldStore(), clock=FakeClock())
    with pytest.raises(AuthenticationError):
        await router.complete("", USER, provider="A")
    assert router.health_of("A").state == "closed"


# -- connection refused on loopback -------------------------------------------------------


async def test_a_named_provider_on_a_closed_loopback_port_fails_at_once() -> None:
    clock, events = FakeClock(), list[RouterEvent]()
    router = make_router(clock, events, max_attempts=3)
    base_url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ProviderConnectionError) as caught:
        await router.complete("", USER, provider="Opchatgpts", base_url=base_url)
    assert caught.value.retryable is False
    assert [e.kind for e in events if e.kind in ("attempt", "retry")] == ["attempt"]
    assert clock.sleeps == []  # no backoff


# -- scrubbed health text -------------------------------------------------------------


async def test_health_text_never_holds_a_secret() -> None:
    def leaky(messages: Messages, kwargs: dict[str, Any]) -> None:
        key = kwargs["api_key"]
        raise UpstreamError("A", f"quota exceeded for key {key} (also sk-unknownkey123456)")

    scripted("A", leaky)
    router = make_router(FakeClock(), threshold=1)
    with pytest.raises(UpstreamError):
        await router.complete("", USER, provider="A", api_key="my-secret-value-42")
    health = router.health_of("A")
    assert health.last_error is not None
    assert "my-secret-value-42" not in health.last_error
    assert "sk-unknownkey123456" not in health.last_error
    assert health.benched


@pytest.mark.usefixtures("first_party_plugins")
async def test_assistant_last_requests_to_a_real_site_leave_it_healthy(
    site: AIEngineEmulator,
) -> None:
    # The reproduction, on the AI Engine provider and the default router.
    g4f_lite.configure({"providers": {"Site": {"kind": "aiengine", "url": site.url}}})
    for _ in range(3):
        with pytest.raises(InvalidMessagesError) as caught:
            await ChatCompletion.create_async("", ASSISTANT_LAST, provider="Site")
        assert caught.value.param == "messages"
    [info] = [info for info in g4f_lite.providers() if info.name == "Site"]
    assert info.health is not None
    assert (info.health.state, info.health.failures) == ("closed", 0)
    answer = await ChatCompletion.create_async("", USER, provider="Site")
    assert answer.startswith("Hello from the AI Engine emulator")
