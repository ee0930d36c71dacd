"""ChatCompletion: sync and async, streaming or not, from scripts and from running loops."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest

import g4f_lite
from g4f_lite import errors
from g4f_lite.testing import AIEngineEmulator, Fault
from g4f_lite.types import Messages

HELLO = [{"role": "user", "content": "Hello there"}]
REPLY = "Hello from the AI Engine emulator! You said: Hello there"


class Working(g4f_lite.AsyncGeneratorProvider):
    """A working provider with no network, for provider selection tests."""

    working = True
    models = ("tiny",)

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        yield f"{model}:{messages[-1]['content']}"


def test_sync_non_stream(aiengine_emulator: AIEngineEmulator) -> None:
    text = g4f_lite.ChatCompletion.create(
        "gpt-3.5-turbo", HELLO, provider="Opchatgpts", base_url=aiengine_emulator.url
    )
    assert text == REPLY


def test_sync_stream_yields_chunks(aiengine_emulator: AIEngineEmulator) -> None:
    chunks = g4f_lite.ChatCompletion.create(
        "", HELLO, provider="Opchatgpts", stream=True, base_url=aiengine_emulator.url
    )
    received = list(chunks)
    assert len(received) > 1 and "".join(received) == REPLY


def test_sync_calls_reuse_one_connection(aiengine_emulator: AIEngineEmulator) -> None:
    for _ in range(3):
        g4f_lite.ChatCompletion.create(
            "", HELLO, provider="Opchatgpts", base_url=aiengine_emulator.url
        )
    ports = {r.client_port for r in aiengine_emulator.requests}
    assert len(aiengine_emulator.requests) == 3 and len(ports) == 1 and None not in ports


async def test_sync_api_inside_a_running_loop(aiengine_emulator: AIEngineEmulator) -> None:
    # What Jupyter does: synchronous code called while the thread runs a loop.
    text = g4f_lite.ChatCompletion.create(
        "", HELLO, provider="Opchatgpts", base_url=aiengine_emulator.url
    )
    chunks = list(
        g4f_lite.ChatCompletion.create(
            "", HELLO, provider="Opchatgpts", stream=True, base_url=aiengine_emulator.url
        )
    )
    assert text == REPLY == "".join(chunks)


async def test_async_non_stream_and_stream(site: AIEngineEmulator) -> None:
    text = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="opchatgpts", base_url=site.url
    )
    stream = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="opchatgpts", stream=True, base_url=site.url
    )
    chunks = [chunk async for chunk in stream]
    assert text == REPLY == "".join(chunks) and len(chunks) > 1


async def test_stream_yields_before_the_answer_is_complete(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.stall(after=2, delay=0.5))
    stream = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="Opchatgpts", stream=True, base_url=site.url
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = await stream.__anext__()
    assert first == "Hello " and loop.time() - started < 0.4
    rest = [chunk async for chunk in stream]
    assert first + "".join(rest) == REPLY


async def test_breaking_out_of_a_stream_releases_the_connection(site: AIEngineEmulator) -> None:
    site.reply = "word " * 2000
    stream = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="Opchatgpts", stream=True, base_url=site.url
    )
    async for _chunk in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    # The next request still works (and -W error would flag a leaked response).
    site.reply = None
    assert (
        await g4f_lite.ChatCompletion.create_async(
            "", HELLO, provider="Opchatgpts", base_url=site.url
        )
        == REPLY
    )


async def test_provider_given_as_a_class(site: AIEngineEmulator) -> None:
    provider = g4f_lite.get_provider("Opchatgpts")
    text = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider=provider, base_url=site.url
    )
    assert text == REPLY


async def test_no_provider_picks_the_first_working_one_for_the_model() -> None:
    g4f_lite.register(Working)
    assert await g4f_lite.ChatCompletion.create_async("tiny", HELLO) == "tiny:Hello there"


async def test_no_working_provider_is_a_clear_error() -> None:
    with pytest.raises(
        errors.NoProviderAvailableError,
        match=r"no provider is available \(.*Opchatgpts: not working.*\): set an API key",
    ):
        await g4f_lite.ChatCompletion.create_async("gpt-3.5-turbo", HELLO)


def test_unknown_provider_name() -> None:
    with pytest.raises(errors.ProviderNotFoundError, match="did you mean Opchatgpts"):
        g4f_lite.ChatCompletion.create("", HELLO, provider="Opchatgpt")


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "at least one message"),
        ("hello", "must be a list"),
        ([{"role": "user"}], r"messages\[0\] is invalid: content: Field required"),
        ([{"role": "robot", "content": "hi"}], r"messages\[0\] is invalid: role: Input should be"),
        ([{"role": "user", "content": 3}], r"content: Input should be a valid string"),
        ([{"role": "user", "content": "hi"}, "oops"], r"messages\[1\] must be a dict"),
    ],
)
def test_invalid_messages_are_rejected_before_any_request(
    aiengine_emulator: AIEngineEmulator, messages: Any, match: str
) -> None:
    with pytest.raises(errors.InvalidMessagesError, match=match):
        g4f_lite.ChatCompletion.create(
            "", messages, provider="Opchatgpts", base_url=aiengine_emulator.url
        )
    with pytest.raises(errors.InvalidMessagesError):
        g4f_lite.ChatCompletion.create(
            "", messages, provider="Opchatgpts", stream=True, base_url=aiengine_emulator.url
        )
    assert aiengine_emulator.requests == []


def test_message_objects_are_accepted(aiengine_emulator: AIEngineEmulator) -> None:
    text = g4f_lite.ChatCompletion.create(
        "",
        [g4f_lite.Message(role="user", content="Hello there")],
        provider="Opchatgpts",
        base_url=aiengine_emulator.url,
    )
    assert text == REPLY


def test_bad_provider_argument() -> None:
    with pytest.raises(errors.ConfigurationError, match="provider must be a name"):
        g4f_lite.ChatCompletion.create("", HELLO, provider=42)  # type: ignore[call-overload]


def test_errors_reach_sync_callers_typed(aiengine_emulator: AIEngineEmulator) -> None:
    aiengine_emulator.faults.append(Fault.http_status(500))
    once = g4f_lite.Router(retry=g4f_lite.RetryPolicy(max_attempts=1))  # no retry to mask it
    with pytest.raises(errors.ServerError, match=r"^Opchatgpts: HTTP 500"):
        g4f_lite.ChatCompletion.create(
            "", HELLO, provider="Opchatgpts", base_url=aiengine_emulator.url, router=once
        )


def test_scripts_leave_no_unclosed_resources(aiengine_emulator: AIEngineEmulator) -> None:
    # asyncio.run and the sync API in one script, with every warning an error:
    # an unclosed session or connector would print "Unclosed ..." and fail.
    script = textwrap.dedent(
        f"""
        import asyncio, gc, os
        os.environ["G4F_LITE_PLUGINS"] = "opchatgpts"
        import g4f_lite
        msgs = [{{"role": "user", "content": "hi"}}]
        url = {aiengine_emulator.url!r}
        async def main():
            ask = g4f_lite.ChatCompletion.create_async
            text = await ask("", msgs, provider="Opchatgpts", base_url=url)
            stream = await ask("", msgs, provider="Opchatgpts", base_url=url, stream=True)
            async for chunk in stream:
                break
            return text
        print(asyncio.run(main()))
        print(asyncio.run(main()))
        print(g4f_lite.ChatCompletion.create("", msgs, provider="Opchatgpts", base_url=url))
        chunks = g4f_lite.ChatCompletion.create(
            "", msgs, provider="Opchatgpts", base_url=url, stream=True)
        for chunk in chunks:
            break
        gc.collect()
        """
    )
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("You said: hi") == 3
    assert "Unclosed" not in result.stderr and "Exception ignored" not in result.stderr, (
        result.stderr
    )


async def test_async_calls_share_the_loops_pooled_connection(site: AIEngineEmulator) -> None:
    for _ in range(3):
        await g4f_lite.ChatCompletion.create_async(
            "", HELLO, provider="Opchatgpts", base_url=site.url
        )
    ports = {r.client_port for r in site.requests}
    assert len(site.requests) == 3 and len(ports) == 1 and None not in ports
