"""Health and rate limits shared through a real Redis: stores, two servers, Redis going away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from g4f_lite import config, errors
from g4f_lite.health import CircuitBreaker, RateLimit, RedisHealthStore, open_health_store
from g4f_lite.policies import RetryPolicy
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import AIEngineEmulator, Fault

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HI = {"model": "local-model", "messages": [{"role": "user", "content": "Hi"}]}

# Generous: the tests run on a loaded 2-core machine, and an exact count must
# not turn into a fallback to per-process memory because Redis was slow once.
TIMEOUT = 2.0


@pytest.fixture
def prefix() -> str:
    """Keys of this test only: tests share one Redis and never flush it."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def stores(redis_url: str, prefix: str) -> AsyncIterator[list[RedisHealthStore]]:
    """A list to put stores in (one per "instance"); each is closed after the test."""
    made: list[RedisHealthStore] = []
    yield made
    for store in made:
        await store.aclose()


def make_store(
    stores: list[RedisHealthStore], url: str, prefix: str, **options: Any
) -> RedisHealthStore:
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("breaker", CircuitBreaker(failure_threshold=2, cooldown=30))
    store = RedisHealthStore(url, prefix=prefix, **options)
    stores.append(store)
    return store


async def trip(store: RedisHealthStore, key: str, now: float) -> None:
    for _ in range(store.breaker.failure_threshold):
        store.record_failure(key, now, "UpstreamError: down")
    await store.flush()


# -- the stores and their scripts -----------------------------------------------------


async def test_half_open_claims_are_atomic_across_instances(
    stores: list[RedisHealthStore], redis_url: str, prefix: str
) -> None:
    instances = [make_store(stores, redis_url, prefix) for _ in range(6)]
    for round_ in range(5):
        key = f"provider{round_}"
        await trip(instances[0], key, 1000.0)
        # Every instance asks at once, each on its own connection, past the cooldown.
        answers = await asyncio.gather(
            *(store.admit_remote(key, 1000.0 + 31) for store in instances for _ in range(3))
        )
        assert sum(answer.probe for answer in answers) == 1
        assert all(answer.allowed == answer.probe for answer in answers)
        assert {a.reason for a in answers if not a.allowed} == {"another instance is probing it"}


async def test_a_probe_is_given_back_only_by_its_holder(
    stores: list[RedisHealthStore], redis_url: str, prefix: str
) -> None:
    a, b = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    await trip(a, "p", 1000.0)
    assert (await a.admit_remote("p", 1031.0)).probe
    b.release("p")  # not b's: nothing changes
    await b.flush()
    assert not (await b.admit_remote("p", 1031.0)).allowed
    a.release("p")
    await a.flush()
    assert (await b.admit_remote("p", 1031.0)).probe


async def test_a_trip_latency_and_errors_reach_the_other_instance(
    stores: list[RedisHealthStore], redis_url: str, prefix: str
) -> None:
    a, b = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    a.record_success("fast", 1000.0, elapsed=0.2, first_chunk=0.1)
    a.record_success("fast", 1000.0, elapsed=0.4, first_chunk=0.1)
    await trip(a, "down", 1000.0)
    await b.reload()
    assert b.admit("fast", 1000.0).allowed
    refused = b.admit("down", 1001.0)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(29.0)
    down = b.snapshot("down", 1001.0)
    assert (down.state, down.failures, down.last_error) == ("open", 2, "UpstreamError: down")
    fast = b.snapshot("fast", 1000.0)
    assert fast.successes == 2
    assert fast.latency == pytest.approx(0.2 + 0.3 * (0.4 - 0.2))
    # A success anywhere closes the breaker everywhere.
    b.record_success("down", 1040.0, elapsed=0.1, first_chunk=None)
    await b.flush()
    await a.reload()
    assert a.snapshot("down", 1040.0).state == "closed"


async def test_the_cooldown_grows_with_trips_in_a_row(
    stores: list[RedisHealthStore], redis_url: str, prefix: str
) -> None:
    a, b = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    await trip(a, "p", 1000.0)
    assert (await b.admit_remote("p", 1031.0)).probe
    assert b.record_failure("p", 1031.0, "UpstreamError: still down") == pytest.approx(60.0)
    await b.flush()
    await a.reload()
    assert a.snapshot("p", 1031.0).cooldown_remaining == pytest.approx(60.0)
    assert a.snapshot("p", 1031.0).trips == 2


async def test_rate_limits_hold_across_instances(
    stores: list[RedisHealthStore], redis_url: str, prefix: str
) -> None:
    a, b = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    limit = RateLimit(rpm=10)
    answers = await asyncio.gather(
        *((a if i % 2 else b).acquire("p", 1000.0 + i / 100, limit) for i in range(30))
    )
    assert sum(answer.allowed for answer in answers) == 10
    refused = [answer for answer in answers if not answer.allowed]
    assert all(0 < answer.retry_after <= 61 for answer in refused)
    assert (await a.acquire("p", 1061.0, limit)).allowed  # the window slid


async def test_tokens_per_minute_hold_across_instances(
    stores: list[RedisHealthStore], redis_url: str, prefix: str
) -> None:
    a, b = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    limit = RateLimit(tpm=150)
    assert (await a.acquire("p", 1000.0, limit)).allowed
    a.record_usage("p", 1001.0, 100)
    b.record_usage("p", 1002.0, 100)
    await a.flush()
    await b.flush()
    refused = await b.acquire("p", 1003.0, limit)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(58.0)  # the first 100 leave at 1061
    assert "150 tokens" in refused.reason


async def test_reset_forgets_for_every_instance(
    stores: list[RedisHealthStore], redis_url: str, prefix: str
) -> None:
    a, b = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    await trip(a, "p", 1000.0)
    await a.acquire("p", 1000.0, RateLimit(rpm=1))
    b.reset("p")
    await b.flush()
    await a.reload()
    assert a.snapshot("p", 1001.0).state == "closed"
    assert (await a.acquire("p", 1001.0, RateLimit(rpm=1))).allowed


def test_importing_the_package_does_not_import_redis() -> None:
    code = "import sys, g4f_lite, g4f_lite.health, g4f_lite.router; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_router_table_selects_the_store(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str
) -> None:
    router = Router.from_settings({"health_store": {"url": redis_url, "prefix": prefix}})
    assert isinstance(router.health, RedisHealthStore)
    assert router.health.prefix == prefix
    assert router.clock is RedisHealthStore.clock  # shared times: wall time
    assert Router.from_settings({"health_store": redis_url}).health is open_health_store(redis_url)
    monkeypatch.setenv("G4F_LITE_HEALTH_STORE", redis_url)
    assert isinstance(Router.from_settings({}).health, RedisHealthStore)
    with pytest.raises(errors.ConfigurationError, match=r"health_store.*must start with"):
        Router.from_settings({"health_store": "http://user:secret@host"})


def test_a_password_in_the_url_is_never_shown() -> None:
    store = RedisHealthStore("redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(store)
    assert "hunter2" not in json.dumps(store.status())


# -- two servers on one Redis -----------------------------------------------------------


@pytest.fixture
def local(site: AIEngineEmulator) -> AIEngineEmulator:
    config.configure(
        {"providers": {"Local": {"kind": "aiengine", "url": site.url, "models": ["local-model"]}}}
    )
    return site


def chats(site: AIEngineEmulator) -> int:
    """Chat requests that reached the upstream (not page or nonce fetches)."""
    return sum(1 for request in site.requests if request.method == "POST")


async def ask(session: aiohttp.ClientSession, server: Server) -> tuple[int, Any]:
    async with session.post(f"{server.url}/chat/completions", json=HI) as response:
        return response.status, await response.json()


def instance(store: RedisHealthStore) -> Server:
    router = Router(health=store, retry=RetryPolicy(max_attempts=1), wait_for_cooldown=False)
    return Server(ServerSettings(port=0), router=router)


async def test_a_provider_failing_through_one_instance_is_skipped_by_the_other(
    stores: list[RedisHealthStore], redis_url: str, prefix: str, local: AIEngineEmulator
) -> None:
    a_store, b_store = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    local.fault = Fault.http_status(500)
    async with instance(a_store) as a, instance(b_store) as b, aiohttp.ClientSession() as session:
        for _ in range(2):
            assert (await ask(session, a))[0] == 502
        assert (await ask(session, a))[0] == 503  # benched on A
        sent = chats(local)
        await a_store.flush()
        await b_store.reload()  # what the refresher does every half second
        status, body = await ask(session, b)
        assert status == 503
        assert "benched" in body["error"]["message"]
        assert chats(local) == sent  # zero upstream requests from B


async def test_the_half_open_probe_is_sent_once_across_instances(
    stores: list[RedisHealthStore], redis_url: str, prefix: str, local: AIEngineEmulator
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown=1.0)
    a_store = make_store(stores, redis_url, prefix, breaker=breaker)
    b_store = make_store(stores, redis_url, prefix, breaker=breaker)
    local.fault = Fault.http_status(500)
    async with instance(a_store) as a, instance(b_store) as b, aiohttp.ClientSession() as session:
        assert (await ask(session, a))[0] == 502  # tripped
        await a_store.flush()
        await b_store.reload()
        sent = chats(local)
        await asyncio.sleep(1.5)  # past the cooldown, on both
        local.fault = Fault.slow_first_byte(delay=1.0)  # the probe takes a while, and succeeds
        statuses = await asyncio.gather(*(ask(session, server) for server in (a, b, a, b, a, b)))
        assert sorted(status for status, _ in statuses) == [200, 503, 503, 503, 503, 503]
        assert chats(local) == sent + 1
        local.fault = None
        for store in (a_store, b_store):  # closed again, everywhere
            await store.flush()
        for store in (a_store, b_store):
            await store.reload()
        for server in (a, b):
            assert (await ask(session, server))[0] == 200


async def test_rpm_across_two_instances_lets_exactly_that_many_through(
    stores: list[RedisHealthStore], redis_url: str, prefix: str, local: AIEngineEmulator
) -> None:
    config.configure(
        {
            "providers": {
                "Local": {
                    "kind": "aiengine",
                    "url": local.url,
                    "models": ["local-model"],
                    "rpm": 10,
                }
            }
        }
    )
    a_store, b_store = make_store(stores, redis_url, prefix), make_store(stores, redis_url, prefix)
    async with instance(a_store) as a, instance(b_store) as b, aiohttp.ClientSession() as session:
        for server in (a, b):  # probed now, not by 24 requests at once on a loaded machine
            assert server.router is not None
            await server.router.check_availability()
        statuses = await asyncio.gather(*(ask(session, (a, b)[i % 2]) for i in range(24)))
    codes = [status for status, _ in statuses]
    assert codes.count(200) == 10, statuses
    assert codes.count(503) == 14
    assert chats(local) == 10


# -- Redis going away, and coming back --------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class OwnRedis:
    """A redis-server of this test's own, to kill and restart (never the shared one)."""

    def __init__(self, directory: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")  # the shared fixture reports it
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        self.process = subprocess.Popen(
            [self.binary, *options, "--dir", self.directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis(redis_url: str) -> Iterator[OwnRedis]:
    with tempfile.TemporaryDirectory() as directory:
        server = OwnRedis(directory)
        server.start()
        try:
            yield server
        finally:
            server.kill()


async def eventually(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def test_redis_killed_mid_run_requests_still_succeed_then_state_resyncs(
    stores: list[RedisHealthStore],
    own_redis: OwnRedis,
    local: AIEngineEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="g4f_lite.health")
    breaker = CircuitBreaker(failure_threshold=1, cooldown=300)
    config.configure(
        {
            "providers": {
                "Local": {"kind": "aiengine", "url": local.url, "models": ["local-model"]},
                "Local2": {"kind": "aiengine", "url": local.url},
            }
        }
    )
    a_store = make_store(stores, own_redis.url, "t:", breaker=breaker, timeout=0.2, refresh=0.1)
    b_store = make_store(stores, own_redis.url, "t:", breaker=breaker, timeout=0.2, refresh=0.1)
    async with instance(a_store) as a, instance(b_store) as b, aiohttp.ClientSession() as session:
        assert (await ask(session, a))[0] == 200
        assert (await ask(session, b))[0] == 200
        await eventually(lambda: a_store.connected and b_store.connected)
        own_redis.kill()
        for _ in range(5):  # Redis is gone: every request is still answered
            for server in (a, b):
                assert (await ask(session, server))[0] == 200
        await eventually(lambda: a_store.status()["state"] == "fallback")
        async with session.get(f"{a.url.removesuffix('/v1')}/health") as response:
            health = await response.json()
        assert health["health_store"]["state"] == "fallback"
        assert health["status"] == "ok"
        # Meanwhile A benches Local2 in its own memory.
        a_store.record_failure("local2", a_store.clock.now(), "UpstreamError: down")
        own_redis.start()
        await eventually(lambda: a_store.connected and b_store.connected)
        # Back: what A learned alone is shared, and B skips Local2 too.
        await eventually(lambda: b_store.snapshot("local2", b_store.clock.now()).benched)
        assert (await ask(session, b))[0] == 200
    warnings = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 2  # one per instance, however many requests
    assert any("resynchronised" in r.getMessage() for r in caplog.records)


async def test_an_unreachable_redis_never_fails_a_request(
    stores: list[RedisHealthStore], local: AIEngineEmulator
) -> None:
    store = make_store(stores, f"redis://127.0.0.1:{free_port()}/0", "t:", timeout=0.05)
    config.configure(
        {
            "providers": {
                "Local": {
                    "kind": "aiengine",
                    "url": local.url,
                    "models": ["local-model"],
                    "rpm": 100,
                }
            }
        }
    )
    async with instance(store) as server, aiohttp.ClientSession() as session:
        for _ in range(3):
            assert (await ask(session, server))[0] == 200
    assert store.status()["state"] == "fallback"


# -- two `serve` processes, configured by file ------------------------------------------


def test_two_serve_processes_share_health_through_the_config_file(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with AIEngineEmulator(fault=Fault.http_status(500)).run_in_thread() as site:
        path = tmp_path / "g4f-lite.toml"
        path.write_text(
            f'[router]\nhealth_store = {{ url = "{redis_url}", prefix = "{prefix}", '
            f"timeout = {TIMEOUT} }}\nwait_for_cooldown = false\n"
            "retry = { max_attempts = 1 }\n"
            f'[providers.Local]\nkind = "aiengine"\nurl = "{site.url}"\nmodels = ["local-model"]\n'
        )
        env = {"G4F_LITE_PLUGINS": "opchatgpts,aiengine"}
        with serve_process(path, env) as (url_a, _), serve_process(path, env) as (url_b, _):

            def post(url: str) -> int:
                request = {"model": "local-model", "messages": [{"role": "user", "content": "Hi"}]}
                with _http(f"{url}/chat/completions", request) as status:
                    return int(status)

            statuses = [post(url_a) for _ in range(4)]
            assert statuses == [502, 502, 502, 503]
            sent = len(site.requests)
            deadline = time.monotonic() + 20
            while post(url_b) != 503:  # B sees the bench within its refresh interval
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert len(site.requests) == sent


@contextlib.contextmanager
def serve_process(path: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``g4f-lite serve --config path --port 0`` in its own process: its URL and pid."""
    command = [sys.executable, "-m", "g4f_lite.cli", "--config", str(path), "serve", "--port", "0"]
    environ = {**os.environ, "G4F_LITE_API_KEY": "", **env}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=environ)
    assert process.stderr is not None
    reader = None
    try:
        ready = process.stderr.readline()
        match = re.search(r"at (http://\S+/v1) ", ready)
        assert match is not None, f"the server did not start: {ready}"
        # Read the log to its end: a full pipe would stall the server.
        reader = threading.Thread(target=process.stderr.read, daemon=True)
        reader.start()
        yield match.group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)
        if reader is not None:
            reader.join(timeout=10)
        process.stderr.close()


def _http(url: str, body: object) -> Any:
    import urllib.error
    import urllib.request

    @contextlib.contextmanager
    def status() -> Iterator[int]:
        request = urllib.request.Request(
            url, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                yield response.status
        except urllib.error.HTTPError as error:
            yield error.code

    return status()
