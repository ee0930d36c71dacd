"""Offline test doubles: emulators of the AI Engine and OpenAI-compatible protocols.

Used by g4f-lite's own demo, tests and benchmarks, and by provider authors::

    from g4f_lite.testing import AIEngineEmulator, Fault, OpenAIEmulator

    async with AIEngineEmulator(faults=[Fault.http_status(429, retry_after=2)]) as site:
        ...  # point a provider at site.url

    async with AIEngineEmulator(generation="3.x") as site:
        ...  # a current plugin: start_session and nonce rotation

    async with OpenAIEmulator(api_key="sk-test", models=["llama3"]) as server:
        ...  # point an OpenAI-compatible provider at server.url (ends in /v1)

For pytest, ``pytest_plugins = ["g4f_lite.testing.pytest_plugin"]`` provides
the ``aiengine_emulator`` and ``openai_emulator`` fixtures.
"""

from ._aiengine import (
    API_KEY_PLACEHOLDER,
    AIEngineEmulator,
    Fault,
    FaultKind,
    FaultPlace,
    Generation,
    RecordedRequest,
    deep_json,
)
from ._anthropic import AnthropicEmulator
from ._gemini import GeminiEmulator
from ._openai import OpenAIEmulator
from ._server import LocalServer

__all__ = [
    "API_KEY_PLACEHOLDER",
    "AIEngineEmulator",
    "AnthropicEmulator",
    "Fault",
    "FaultKind",
    "FaultPlace",
    "GeminiEmulator",
    "Generation",
    "LocalServer",
    "OpenAIEmulator",
    "RecordedRequest",
    "deep_json",
]
