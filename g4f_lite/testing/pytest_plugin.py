"""pytest fixtures for code that talks to AI Engine sites and OpenAI-compatible servers.

Enable with ``pytest_plugins = ["g4f_lite.testing.pytest_plugin"]``. Besides
the emulators, ``client`` and ``async_client`` give each test a fresh client
(its own configuration, health and session).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..client import AsyncClient, Client
from ._aiengine import AIEngineEmulator
from ._anthropic import AnthropicEmulator
from ._gemini import GeminiEmulator
from ._openai import OpenAIEmulator


@pytest.fixture
def aiengine_emulator() -> Iterator[AIEngineEmulator]:
    """A running :class:`AIEngineEmulator` on 127.0.0.1.

    It serves from its own thread, so that synchronous and async tests alike
    can call it, and it is stopped after the test.
    """
    emulator = AIEngineEmulator()
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def openai_emulator() -> Iterator[OpenAIEmulator]:
    """A running :class:`OpenAIEmulator` on 127.0.0.1 (no API key), served from its own thread."""
    emulator = OpenAIEmulator()
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def anthropic_emulator() -> Iterator[AnthropicEmulator]:
    """A running :class:`AnthropicEmulator` on 127.0.0.1 (no API key), served from a thread."""
    emulator = AnthropicEmulator()
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def gemini_emulator() -> Iterator[GeminiEmulator]:
    """A running :class:`GeminiEmulator` on 127.0.0.1 (no API key), served from its own thread."""
    emulator = GeminiEmulator()
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def client() -> Iterator[Client]:
    """A fresh :class:`~g4f_lite.Client` with an empty configuration, closed after the test.

    It has its own health store and router: a provider benched in one test
    is not benched in the next, with no global to reset.
    """
    with Client(config={}) as fresh:
        yield fresh


@pytest.fixture
def async_client() -> AsyncClient:
    """A fresh :class:`~g4f_lite.AsyncClient` with an empty configuration.

    Its HTTP session is created on the test's event loop and closed when
    that loop shuts down (or by ``await async_client.aclose()``).
    """
    return AsyncClient(config={})
