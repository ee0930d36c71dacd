"""Shared fixtures: an isolated registry and emulated AI Engine sites on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import NoReturn

import pytest
from g4f_lite_aiengine import forget_sites
from g4f_lite_opchatgpts import forget_nonces

from g4f_lite import config
from g4f_lite.health import default_health_store
from g4f_lite.provider import forget_model_lists
from g4f_lite.registry import ENV_PLUGINS, registry
from g4f_lite.router import set_default_router
from g4f_lite.testing import AIEngineEmulator, OpenAIEmulator

pytest_plugins = ["g4f_lite.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with plugins undiscovered and no runtime registrations.

    Only the reference plugin loads (``first_party_plugins`` adds the other
    first-party ones), so that whatever else is installed in the environment
    cannot change a test's outcome. Tests of ``ChatCompletion`` use the
    default client, whose router and health are process-wide: a provider
    benched by one test must not be skipped in the next. Tests that use a
    fresh ``Client`` (the ``client`` fixture) need none of this.
    """
    monkeypatch.setenv(ENV_PLUGINS, "opchatgpts")
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    registry.reset()
    default_health_store().reset()
    set_default_router(None)
    config.reset()
    # Emulators reuse ports: a nonce remembered for one test's site must not
    # leak into the next test's.
    forget_sites()
    forget_nonces()
    forget_model_lists()
    yield
    config.reset()
    registry.reset()
    forget_sites()
    forget_nonces()


#: Every first-party plugin's entry point. The core tests keep to the
#: reference plugin so that their listings stay exact; tests of the provider
#: family opt in with ``pytestmark = pytest.mark.usefixtures("first_party_plugins")``.
FIRST_PARTY_PLUGINS = "opchatgpts,aiengine,openai,anthropic,gemini"


@pytest.fixture
def first_party_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load every first-party plugin: AI Engine, OpenAI-compatible and the native kinds."""
    monkeypatch.setenv(ENV_PLUGINS, FIRST_PARTY_PLUGINS)
    registry.reset()


@pytest.fixture
async def site() -> AsyncIterator[AIEngineEmulator]:
    """An emulated AI Engine site served on the test's own event loop."""
    async with AIEngineEmulator() as emulator:
        yield emulator


@pytest.fixture
async def openai_server() -> AsyncIterator[OpenAIEmulator]:
    """An emulated OpenAI-compatible server (key ``sk-test``) on the test's own event loop."""
    async with OpenAIEmulator(
        api_key="sk-test", models=["emulated-model", "other-model"]
    ) as server:
        yield server


# -- services: Redis and Chromium ------------------------------------------------------
#
# CI (.ci/run) installs Debian's redis-server and chromium, starts Redis on a
# free loopback port and says so in G4F_LITE_TEST_REDIS; G4F_LITE_REQUIRE_SERVICES
# turns a missing service into a failure instead of a skip.


def _missing(what: str) -> NoReturn:
    if os.environ.get("G4F_LITE_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required (G4F_LITE_REQUIRE_SERVICES is set) but missing")
    pytest.skip(f"{what} is not available")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server on 127.0.0.1: CI's (``$G4F_LITE_TEST_REDIS``), else one started here.

    Shared by the whole session: tests keep apart by key prefix, never by
    flushing the database.
    """
    given = os.environ.get("G4F_LITE_TEST_REDIS")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
    port = _free_port()
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("redis-server did not start within 10 s")
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium: CI's (``$G4F_LITE_TEST_CHROMIUM``), else the one on the PATH."""
    path = os.environ.get("G4F_LITE_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        _missing("chromium")
    return path
