"""A well-behaved plugin: one working provider that echoes the last message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import g4f_lite
from g4f_lite.types import Messages


class EchoProvider(g4f_lite.AsyncGeneratorProvider):
    """Answers with the last message, word by word, without any network."""

    url = "local:echo"
    working = True
    supports_message_history = True
    supports_system_message = True
    models = ("echo-1",)
    default_model = "echo-1"

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        """Yield the last message back."""
        for word in messages[-1]["content"].split(" "):
            yield word + " "


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register EchoProvider."""
    register(EchoProvider)
