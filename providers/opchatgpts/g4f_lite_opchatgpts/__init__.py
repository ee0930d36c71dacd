"""Opchatgpts: the reference g4f-lite provider.

opchatgpts.net was a WordPress site running the "AI Engine" chat plugin
(<= 1.9, so no nonce). This provider sends exactly the request the seed sent;
copy its shape when you write a provider of your own.

Seed behaviour kept on purpose: ``messages`` holds the whole conversation
*including* the new turn, and ``newMessage`` repeats that turn, so the site
sees the last user message twice. The generic AI Engine provider
(``g4f-lite-aiengine``) sends the history without the new turn.

The request is spelled out here; reading the answer (SSE events, subtypes,
``end``, ``error``, truncation, the line bound) is the AI Engine protocol
code shared with the generic provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from g4f_lite_aiengine.protocol import (
    SUBMIT_PATH,
    chat_id,
    is_rejection,
    iter_text,
    rejected,
    split_messages,
)

import g4f_lite
from g4f_lite.errors import HTTPStatusError
from g4f_lite.http import DEFAULT_MAX_LINE_BYTES, get_session, raise_for_status, request_timeout
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
        # The site answers the last message as the user's: anything else is a
        # malformed request, refused before it is sent.
        split_messages(messages, cls.name)
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
            "chatId": chat_id(),
            "contextId": 28,
            "customId": None,
            "messages": messages,
            "newMessage": messages[-1]["content"],
            "session": "N/A",
            "stream": True,
        }
        session = await get_session()
        async with session.post(
            f"{url}{SUBMIT_PATH}",
            json=data,
            headers=headers,
            proxy=proxy,
            timeout=request_timeout(timeout),
        ) as response:
            try:
                await raise_for_status(response, cls.name)
            except HTTPStatusError as exc:
                if is_rejection(exc):  # the content filter: this request's fault
                    raise rejected(cls.name, exc) from None
                raise
            # Text of content events only; raises on `error`, broken lines and a
            # stream that closes without `end`; drains the stream after `end` so
            # that the connection goes back to the pool.
            async for text in iter_text(response, cls.name, max_line_bytes):
                yield text


#: Kept for code written against earlier versions of this module.
random_string = chat_id


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register Opchatgpts with g4f-lite."""
    register(Opchatgpts)
