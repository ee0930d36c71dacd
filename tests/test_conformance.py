"""Every first-party provider family keeps the provider contract (g4f_lite.testing.conformance)."""

from __future__ import annotations

from typing import Any

from g4f_lite_opchatgpts import Opchatgpts

from g4f_lite.testing import AIEngineEmulator, LocalServer
from g4f_lite.testing.conformance import ProviderConformance


class TestOpchatgpts(ProviderConformance):
    """The reference provider against the AI Engine emulator (plugin 1.9, no nonce)."""

    provider = Opchatgpts

    def server(self) -> AIEngineEmulator:
        return AIEngineEmulator()

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        assert isinstance(server, AIEngineEmulator)
        return {"base_url": server.url}
