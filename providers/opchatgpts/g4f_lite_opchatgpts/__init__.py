"""Opchatgpts: the reference g4f-lite provider.

opchatgpts.net was a WordPress site running the "AI Engine" chat plugin
(<= 1.9, so no nonce). This provider sends exactly the request the seed sent;
copy its shape when you write a provider of your own.

Seed behaviour kept on purpose: ``messages`` holds the whole conversation
*including* the new turn, and ``newMessage`` repeats that turn, so the site
sees the last user message twice. The generic AI Engine provider sends the
history without the new turn.
"""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator, Callable
from typing import Any

import g4f_lite
from g4f_lite.errors import BrokenLineError, ProtocolError, TruncatedResponseError, UpstreamError
from g4f_lite.http import (
    DEFAULT_MAX_LINE_BYTES,
    drain,
    get_session,
    iter_sse_json,
    raise_for_status,
    request_timeout,
)
from g4f_lite.types import Messages

__all__ = ["Opchatgpts", "register_providers"]


class Opchatgpts(g4f_lite.AsyncGeneratorProvider):
    """opchatgpts.net, an AI Engine site (no nonce). The site is gone: not working."""

    url = "https://opchatgpts.net"
    working = False
    supports_message_history = True
    supports_gpt_35_turbo = True

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        **kwargs: Any,
    ) -> AsyncIterator[str]:
        """Stream the answer. ``base_url`` points the provider at another AI Engine site."""
        url = (base_url or cls.url).rstrip("/")
        headers = {
            "User-Agent": (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36"
            ),
            "Accept": "*/*",
            "Accept-Language": "de,en-US;q=0.7,en;q=0.3",
            "Origin": url,
            "Alt-Used": "opchatgpts.net",
            "Referer": f"{url}/chatgpt-free-use/",
            "Sec-Fetch-Dest": "empty",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Site": "same-origin",
        }
        data = {
            "botId": "default",
            "chatId": random_string(),
            "contextId": 28,
            "customId": None,
            "messages": messages,
            "newMessage": messages[-1]["content"],
            "session": "N/A",
            "stream": True,
        }
        session = await get_session()
        async with session.post(
            f"{url}/wp-json/mwai-ui/v1/chats/submit",
            json=data,
            headers=headers,
            proxy=proxy,
            timeout=request_timeout(timeout),
        ) as response:
            await raise_for_status(response, cls.name)
            async for event in iter_sse_json(response, cls.name, max_line_bytes):
                kind = event.get("type")
                payload = event.get("data")
                if kind == "live":
                    # Newer plugins interleave status/thinking/... events: not answer text.
                    if event.get("subtype") in (None, "content"):
                        if not isinstance(payload, str):
                            raise ProtocolError(cls.name, f"'live' event without text: {event!r}")
                        yield payload
                elif kind == "end":
                    await drain(response)  # so the connection goes back to the pool
                    return
                elif kind == "error":
                    raise UpstreamError(cls.name, str(payload or "the site reported an error"))
                elif kind is None:
                    raise BrokenLineError(cls.name, repr(event), "no 'type'")
        raise TruncatedResponseError(cls.name, "the stream closed without an 'end' event")


def random_string(length: int = 10) -> str:
    """A random chat id of lowercase letters and digits, as the seed made them."""
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register Opchatgpts with g4f-lite."""
    register(Opchatgpts)
