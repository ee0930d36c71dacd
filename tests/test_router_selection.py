"""Which providers the router picks, and in which order."""

from __future__ import annotations

import random
from typing import Any

import pytest
from router_helpers import USER, FakeClock, echo_provider, make_router

from g4f_lite import ChatCompletion
from g4f_lite.errors import ConfigurationError, NoProviderAvailableError, ProviderNotFoundError
from g4f_lite.health import InMemoryHealthStore
from g4f_lite.registry import registry
from g4f_lite.router import Router
from g4f_lite.strategies import Fastest, LeastFailures, Ordered, Shuffle, get_strategy

HISTORY = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "How are you?"},
]
SYSTEM = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def names(router: Router, messages: Any = USER, **options: Any) -> list[str]:
    return [p.name for p in router.plan("", messages, **options).candidates]


# One row per capability: the flag a provider lacks, the request that needs it,
# and the reason the error must give.
CAPABILITIES = [
    pytest.param({"working": False}, {}, "not working", id="working"),
    pytest.param({"models": ("m1",)}, {"model": "m2"}, "does not support model 'm2'", id="model"),
    pytest.param({"supports_stream": False}, {"stream": True}, "cannot stream", id="stream"),
    pytest.param(
        {"supports_message_history": False},
        {"messages": HISTORY},
        "no message history",
        id="history",
    ),
    pytest.param(
        {"supports_system_message": False}, {"messages": SYSTEM}, "no system message", id="system"
    ),
    pytest.param({"needs_auth": True}, {}, "needs credentials", id="auth"),
]


@pytest.mark.parametrize(("flags", "request_", "reason"), CAPABILITIES)
def test_each_capability_excludes_providers_lacking_it(
    flags: dict[str, Any], request_: dict[str, Any], reason: str
) -> None:
    capable = {
        "supports_message_history": True,
        "supports_system_message": True,
        "models": ("m1", "m2"),
    }
    echo_provider("Lacking", **{**capable, **flags})
    echo_provider("Capable", **capable)
    router = make_router(FakeClock())
    request_ = dict(request_)  # the parameter is shared: do not consume it
    messages = request_.pop("messages", USER)
    model = request_.pop("model", "")
    assert [p.name for p in router.plan(model, messages, **request_).candidates] == ["Capable"]

    registry.unregister("Capable")
    with pytest.raises(NoProviderAvailableError, match=reason) as info:
        router.plan(model, messages, **request_)
    assert any(reason in why for why in info.value.excluded["Lacking"])


def test_history_and_system_support_qualify() -> None:
    echo_provider("Both", supports_message_history=True, supports_system_message=True)
    echo_provider("Folds", supports_message_history=True, folds_system_message=True)
    echo_provider("SystemOnly", supports_system_message=True)
    echo_provider("Plain")
    router = make_router(FakeClock())
    assert names(router, HISTORY) == ["Both", "Folds"]
    # A system message and one user turn is not "history".
    assert names(router, SYSTEM) == ["Both", "Folds", "SystemOnly"]
    assert names(router, USER) == ["Both", "Folds", "SystemOnly", "Plain"]


def test_needs_auth_provider_is_picked_once_credentials_are_configured() -> None:
    echo_provider("Keyed", needs_auth=True)
    unconfigured = make_router(FakeClock())
    with pytest.raises(NoProviderAvailableError, match="Keyed: needs credentials"):
        unconfigured.plan("", USER)
    configured = make_router(FakeClock(), provider_kwargs={"keyed": {"api_key": "sk-test"}})
    assert names(configured) == ["Keyed"]


def test_no_provider_error_names_every_exclusion() -> None:
    echo_provider("Off", working=False)
    echo_provider("Mute", supports_stream=False)
    with pytest.raises(NoProviderAvailableError) as info:
        make_router(FakeClock()).plan("", USER, stream=True)
    message = str(info.value)
    assert "Off: not working" in message
    assert "Mute: cannot stream" in message
    assert "Opchatgpts: not working" in message  # the installed reference plugin


def test_named_providers_are_used_as_given_even_when_not_working() -> None:
    echo_provider("A", working=False)
    b = echo_provider("B", supports_stream=False)
    router = make_router(FakeClock())
    assert names(router, provider=["b", "A"], stream=True) == ["B", "A"]
    assert names(router, provider=b) == ["B"]
    assert names(router, provider="Opchatgpts") == ["Opchatgpts"]


def test_unknown_or_invalid_provider_arguments_raise_before_any_request() -> None:
    router = make_router(FakeClock())
    with pytest.raises(ProviderNotFoundError, match="did you mean Opchatgpts"):
        router.plan("", USER, provider="Opchatgpt")
    with pytest.raises(ConfigurationError, match="names no provider"):
        router.plan("", USER, provider=[])
    with pytest.raises(ConfigurationError, match="provider must be"):
        router.plan("", USER, provider=[42])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="unknown strategy"):
        router.plan("", USER, strategy="cheapest")


# -- strategies ---------------------------------------------------------------


@pytest.fixture
def abc() -> list[str]:
    for name in "ABC":
        echo_provider(name)
    return ["A", "B", "C"]


def order(router: Router, strategy: Any = None) -> list[str]:
    call = router.plan("", USER, strategy=strategy)
    return [p.name for p in call.strategy.order(call.candidates, router.health_of)]


def test_ordered_keeps_registry_order(abc: list[str]) -> None:
    assert order(make_router(FakeClock())) == abc
    assert order(make_router(FakeClock()), "ordered") == abc


def test_shuffle_spreads_first_choice_over_all_providers(abc: list[str]) -> None:
    router = make_router(FakeClock(), strategy=Shuffle(random.Random(7)))
    firsts = {order(router)[0] for _ in range(40)}
    assert firsts == set(abc)
    assert sorted(order(router)) == abc  # a permutation: nobody dropped or doubled


def test_least_failures_puts_failing_providers_last(abc: list[str]) -> None:
    clock = FakeClock()
    router = make_router(clock, threshold=10)
    router.health.record_failure("A", clock.now(), "ServerError: boom")
    router.health.record_failure("A", clock.now(), "ServerError: boom")
    router.health.record_failure("B", clock.now(), "ServerError: boom")
    assert order(router, "least-failures") == ["C", "B", "A"]


def test_fastest_prefers_lowest_time_to_first_chunk(abc: list[str]) -> None:
    clock = FakeClock()
    router = make_router(clock, strategy="fastest")
    router.health.record_success("A", clock.now(), elapsed=2.0, first_chunk=0.9)
    router.health.record_success("B", clock.now(), elapsed=2.0, first_chunk=0.1)
    # C was never measured: after the measured ones.
    assert order(router) == ["B", "A", "C"]


async def test_strategy_per_call_overrides_the_routers(abc: list[str]) -> None:
    clock = FakeClock()
    router = make_router(clock)  # ordered
    for name, first_chunk in (("A", 10.0), ("B", 10.0), ("C", 0.01)):
        router.health.record_success(name, clock.now(), elapsed=1.0, first_chunk=first_chunk)
    assert await router.complete("", USER) == "A"
    assert await router.complete("", USER, strategy="fastest") == "C"
    assert await ChatCompletion.create_async("", USER, router=router, strategy=Fastest()) == "C"


def test_get_strategy_accepts_names_and_objects() -> None:
    assert isinstance(get_strategy("least_failures"), LeastFailures)
    assert isinstance(get_strategy("Ordered"), Ordered)
    custom = Fastest()
    assert get_strategy(custom) is custom


def test_router_rejects_bad_budgets() -> None:
    with pytest.raises(ConfigurationError):
        Router(max_providers=0, health=InMemoryHealthStore())
    with pytest.raises(ConfigurationError, match="timeout must be positive"):
        Router(health=InMemoryHealthStore()).plan("", USER, timeout=0)
