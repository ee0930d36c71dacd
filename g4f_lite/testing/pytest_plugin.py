"""pytest fixtures for code that talks to AI Engine sites.

Enable with ``pytest_plugins = ["g4f_lite.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._aiengine import AIEngineEmulator


@pytest.fixture
def aiengine_emulator() -> Iterator[AIEngineEmulator]:
    """A running :class:`AIEngineEmulator` on 127.0.0.1.

    It serves from its own thread, so that synchronous and async tests alike
    can call it, and it is stopped after the test.
    """
    emulator = AIEngineEmulator()
    with emulator.run_in_thread():
        yield emulator
