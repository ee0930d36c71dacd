"""Shared fixtures: an isolated registry and emulated AI Engine sites on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from g4f_lite.registry import ENV_PLUGINS, registry
from g4f_lite.testing import AIEngineEmulator

pytest_plugins = ["g4f_lite.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with plugins undiscovered and no runtime registrations.

    Only the first-party plugins load, so that whatever else is installed in
    the environment cannot change a test's outcome.
    """
    monkeypatch.setenv(ENV_PLUGINS, "opchatgpts,aiengine,openai")
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
async def site() -> AsyncIterator[AIEngineEmulator]:
    """An emulated AI Engine site served on the test's own event loop."""
    async with AIEngineEmulator() as emulator:
        yield emulator
