"""Offline test doubles: an emulator of the AI Engine protocol, with every known fault.

Used by g4f-lite's own demo, tests and benchmarks, and by provider authors::

    from g4f_lite.testing import AIEngineEmulator, Fault

    async with AIEngineEmulator(faults=[Fault.http_status(429, retry_after=2)]) as site:
        ...  # point a provider at site.url

For pytest, ``pytest_plugins = ["g4f_lite.testing.pytest_plugin"]`` provides
the ``aiengine_emulator`` fixture.
"""

from ._aiengine import AIEngineEmulator, Fault, FaultKind, RecordedRequest

__all__ = ["AIEngineEmulator", "Fault", "FaultKind", "RecordedRequest"]
