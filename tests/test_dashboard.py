"""The live dashboard: its state endpoint over plain HTTP, and the page in headless Chromium.

Every test runs on one event loop per module, so that the browser is
launched once for the module (Debian's Chromium, driven by Playwright;
no browser is ever downloaded). Set ``G4F_LITE_DASHBOARD_SCREENSHOT`` to
a path to save a screenshot of the page as the benching test leaves it
(that is how ``docs/dashboard.png`` is made).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect
from pydantic import SecretStr

from g4f_lite import config
from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.policies import RetryPolicy
from g4f_lite.registry import ENV_PLUGINS, registry
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.server.dashboard import DashboardState
from g4f_lite.server.stats import RequestStats
from g4f_lite.testing import Fault, OpenAIEmulator

# One loop for the module's async tests: the browser they share lives on it.
on_module_loop = pytest.mark.asyncio(loop_scope="module")

KEY = "dash-board-key-1234"
FLAKY_KEY = "sk-flaky-upstream-secret-98765"
REPLY = "Streaming hello from the emulator to the dashboard"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: the machine is small and shared; these bound waits, they are not timings.
WAIT_MS = 30_000


@pytest.fixture(autouse=True)
def openai_plugin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``openai`` kind and its presets only: no provider that could reach the internet."""
    monkeypatch.setenv(ENV_PLUGINS, "openai")
    registry.reset()


@pytest_asyncio.fixture(loop_scope="module")
async def good() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(models=["good-model"], reply=REPLY) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module")
async def flaky() -> AsyncIterator[OpenAIEmulator]:
    # Every answer a 500 whose message echoes the key it was sent, as some
    # upstreams do: the dashboard must never show it.
    fault = Fault("status", status=500, message="upstream exploded (key {api_key})")
    async with OpenAIEmulator(models=["flaky-model"], fault=fault) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module")
async def server(good: OpenAIEmulator, flaky: OpenAIEmulator) -> AsyncIterator[Server]:
    """A keyed server routing to ``Good`` and ``Flaky``, benching after two failures."""
    config.configure(
        {
            "providers": {
                "Good": {"kind": "openai", "base_url": good.url, "models": ["good-model"]},
                "Flaky": {
                    "kind": "openai",
                    "base_url": flaky.url,
                    "api_key": FLAKY_KEY,
                    "models": ["flaky-model"],
                },
            }
        }
    )
    router = Router(
        retry=RetryPolicy(max_attempts=1),
        health=InMemoryHealthStore(CircuitBreaker(failure_threshold=2, cooldown=600)),
    )
    async with Server(ServerSettings(port=0, api_key=SecretStr(KEY)), router=router) as running:
        yield running


def origin(server: Server) -> str:
    return server.url.removesuffix("/v1")


async def chat(server: Server, provider: str, *, key: str = KEY) -> int:
    body = {"model": "", "provider": provider, "messages": [{"role": "user", "content": "Hi"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        await response.read()
        return response.status


async def get_state(server: Server, key: str | None = KEY) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/dashboard/state", headers=headers) as response,
    ):
        return response.status, await response.json()


# -- the state endpoint ----------------------------------------------------------------


@on_module_loop
async def test_state_needs_the_key(server: Server) -> None:
    for key in (None, "wrong-key"):
        status, body = await get_state(server, key)
        assert status == 401
        assert body["error"]["code"] == "invalid_api_key"
        assert "providers" not in body


@on_module_loop
async def test_state_reports_traffic_health_and_scrubbed_errors(server: Server) -> None:
    status, body = await get_state(server)
    assert status == 200
    before = {p["name"]: p for p in DashboardState.model_validate(body).model_dump()["providers"]}
    assert before["Good"]["available"] is True and before["Good"]["configured"] is True
    assert before["Good"]["requests"] == 0 and before["Good"]["p50_ms"] is None
    # A hosted preset without a key is listed, unavailable and not configured.
    assert before["OpenAI"]["available"] is False and before["OpenAI"]["configured"] is False

    assert [await chat(server, "Good") for _ in range(3)] == [200, 200, 200]
    assert [await chat(server, "Flaky") for _ in range(2)] == [502, 502]
    assert await chat(server, "Flaky") == 503  # benched: skipped, not counted as a request

    state = DashboardState.model_validate((await get_state(server))[1])
    rows = {p.name: p for p in state.providers}
    good, flaky = rows["Good"], rows["Flaky"]
    assert good.requests == good.requests_per_minute == 3 and good.failures == 0
    assert good.state == "closed" and not good.benched
    assert len(good.latencies_ms) == 3
    assert good.p50_ms is not None and good.p95_ms is not None
    assert 0 < good.p50_ms <= good.p95_ms
    assert flaky.requests == flaky.failures == 2
    assert flaky.state == "open" and flaky.benched and flaky.cooldown_remaining > 60
    assert flaky.latencies_ms == [] and flaky.p50_ms is None
    assert len(flaky.errors) == 2
    assert "upstream exploded" in flaky.errors[0].message
    assert "ServerError" in flaky.errors[0].message
    # The upstream echoed the provider's key: masked everywhere in the answer.
    raw = (await get_state(server))[1]
    assert "upstream exploded" in str(raw)
    assert FLAKY_KEY not in str(raw) and KEY not in str(raw)


@on_module_loop
async def test_a_stream_broken_after_its_first_chunk_counts_as_a_failure(
    server: Server, good: OpenAIEmulator
) -> None:
    good.faults.append(Fault.drop(after=2))
    body = {
        "model": "",
        "provider": "Good",
        "stream": True,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ) as response,
    ):
        assert response.status == 200  # the headers went out with the first chunk
        assert b'"error"' in await response.read()
    rows = {p["name"]: p for p in (await get_state(server))[1]["providers"]}
    assert rows["Good"]["requests"] == rows["Good"]["failures"] == 1
    assert rows["Good"]["latencies_ms"] == []
    assert rows["Good"]["errors"][0]["message"].startswith("PartialResponseError")


@on_module_loop
async def test_page_and_assets_are_served_without_the_key(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{origin(server)}/dashboard") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
            assert 'data-auth="required"' in page
            policy = response.headers["Content-Security-Policy"]
            assert "connect-src 'self'" in policy and "script-src 'self'" in policy
        for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
            async with session.get(f"{origin(server)}/dashboard/{name}") as response:
                assert response.status == 200 and response.content_type == kind
                assert len(await response.read()) > 100
        async with session.get(f"{origin(server)}/dashboard/../app.py") as response:
            assert response.status == 404
        async with session.get(f"{origin(server)}/dashboard/stats.py") as response:
            assert response.status == 404


def test_stats_percentiles_rate_and_ring() -> None:
    now = [1000.0]
    stats = RequestStats(samples=10, errors=2, clock=lambda: now[0])
    # The ring keeps the last 10 requests: 1.3 .. 1.9 s, then the three failures.
    for index in range(20):
        stats.record("P", 0.1 * index)
        now[0] += 10  # one request every 10 s: 6 in the last minute
    stats.record("P", 5.0, RuntimeError("boom sk-abcdefghijklmnop"))
    stats.record("P", 5.0, RuntimeError("second"))
    stats.record("P", 5.0, RuntimeError("third"))
    summary = stats.summary("P")
    assert summary.requests == 23 and summary.failures == 3
    assert summary.rate == 9  # the failures count as requests too
    assert summary.p50 == pytest.approx(1.6) and summary.p95 == pytest.approx(1.9)
    assert [text for _, text in summary.errors] == ["RuntimeError: third", "RuntimeError: second"]
    stats.record("Q", 1.0, RuntimeError("key sk-abcdefghijklmnop leaked"))
    assert "abcdefghijklmnop" not in stats.summary("Q").errors[0][1]
    assert stats.summary("nobody").requests == 0


# -- in the browser --------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


class Watched:
    """A page, and every console error and uncaught exception it had."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")


@pytest_asyncio.fixture(loop_scope="module")
async def dashboard(browser: Browser, server: Server) -> AsyncIterator[Watched]:
    """The dashboard, opened and unlocked with the key, in a fresh browser context."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        watched = Watched(await context.new_page())
        page = watched.page
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{origin(server)}/dashboard")
        # No key yet: the page asks for it and fetches nothing.
        await expect(page.locator("#status")).to_have_text("enter the API key")
        await page.fill("#key-input", KEY)
        await page.click("#key-save")
        await expect(page.locator("#status")).to_contain_text("live", timeout=WAIT_MS)
        yield watched
    finally:
        await context.close()


@on_module_loop
async def test_page_lists_the_providers_and_shows_one_benched(
    dashboard: Watched, server: Server
) -> None:
    page = dashboard.page
    good = page.locator('tr[data-provider="Good"]')
    flaky = page.locator('tr[data-provider="Flaky"]')
    await expect(good.locator(".available")).to_have_text("yes")
    await expect(flaky.locator(".breaker")).to_have_text("closed")
    # Hosted presets without a key are hidden until asked for.
    await expect(page.locator('tr[data-provider="OpenAI"]')).to_have_count(0)
    await page.check("#show-all")
    await expect(page.locator('tr[data-provider="OpenAI"] .available')).to_have_text("no")
    await page.uncheck("#show-all")

    for _ in range(4):
        assert await chat(server, "Good") == 200
    assert [await chat(server, "Flaky") for _ in range(2)] == [502, 502]
    # The next poll shows it: benched, its cooldown counting down, its error masked.
    await expect(page.locator('tr[data-provider="Flaky"][data-state="open"]')).to_have_count(
        1, timeout=WAIT_MS
    )
    await expect(flaky.locator(".breaker")).to_have_text(re.compile(r"benched \d+ s"))
    await expect(flaky.locator(".errors li").first).to_contain_text("upstream exploded")
    await expect(good.locator(".rate")).to_have_text("4")
    await expect(good.locator(".spark polyline")).to_have_count(1)
    assert FLAKY_KEY not in await page.content()
    screenshot = os.environ.get("G4F_LITE_DASHBOARD_SCREENSHOT")
    if screenshot:
        await page.fill("#chat-input", "Hello!")
        await page.click("#chat-send")
        await expect(page.locator(".message.assistant")).to_contain_text(REPLY)
        await page.screenshot(path=screenshot, full_page=True)
    assert dashboard.problems == []


@on_module_loop
async def test_chat_box_streams_an_answer(dashboard: Watched, good: OpenAIEmulator) -> None:
    page = dashboard.page
    picker = page.locator("#chat-provider")
    await expect(picker.locator('option[value="Good"]')).to_have_count(1)
    # Unavailable presets are not offered.
    await expect(picker.locator('option[value="OpenAI"]')).to_have_count(0)
    await picker.select_option("Good")
    await page.fill("#chat-input", "Say hello")
    await page.press("#chat-input", "Enter")
    answer = page.locator(".message.assistant")
    await expect(answer).to_contain_text(REPLY)
    await expect(answer.locator(".via")).to_have_text("via Good")
    await expect(page.locator(".message.user")).to_have_text("Say hello")
    sent = [r.body for r in good.requests if r.path == "/v1/chat/completions"]
    assert sent[-1]["stream"] is True
    assert sent[-1]["messages"][-1]["content"] == "Say hello"
    # The request is counted in the table.
    await expect(page.locator('tr[data-provider="Good"] .rate')).to_have_text("1")
    assert dashboard.problems == []


@on_module_loop
async def test_a_wrong_key_is_asked_again(browser: Browser, server: Server) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{origin(server)}/dashboard")
        await page.fill("#key-input", "not-the-key")
        await page.click("#key-save")
        await expect(page.locator("#status")).to_have_text(
            "the API key was refused", timeout=WAIT_MS
        )
        await expect(page.locator("#providers tbody tr")).to_have_count(0)
        stored = await page.evaluate("sessionStorage.getItem('g4f-lite-api-key')")
        assert stored == "not-the-key"
    finally:
        await context.close()
