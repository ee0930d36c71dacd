"""pytest fixtures for code that talks to AI Engine sites and OpenAI-compatible servers.

Enable with ``pytest_plugins = ["g4f_lite.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._aiengine import AIEngineEmulator
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
