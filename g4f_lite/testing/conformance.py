"""The provider conformance kit: the contract every provider keeps, as a pytest base class.

A provider's test suite subclasses :class:`ProviderConformance` in a few
lines, naming the provider class, an emulator of its protocol and how to
point the provider at it; pytest then runs every check against it::

    from g4f_lite.testing import OpenAIEmulator
    from g4f_lite.testing.conformance import ProviderConformance

    from my_plugin import MySite


    class TestMySite(ProviderConformance):
        provider = MySite
        model = "emulated-model"

        def server(self):
            return OpenAIEmulator()  # a fresh emulator, not started yet

        def call_options(self, server):
            return {"base_url": server.url}

The checks (each a test method; see their docstrings):

* it streams non-empty text, and the whole answer (``create_async``, and a
  ``stream=False`` call) equals the joined stream;
* unknown keyword arguments are tolerated;
* ``proxy=`` is honoured (a :class:`~g4f_lite.testing.LocalProxy` sees the
  request; a dead proxy is a :class:`~g4f_lite.errors.ProviderConnectionError`),
  and so is ``timeout=`` (a slow server is a
  :class:`~g4f_lite.errors.ProviderTimeoutError`);
* cancelling a stream mid-way, or stopping early, closes the upstream
  connection (the emulator sees it closed);
* 401, 403, 429 (its ``Retry-After`` in ``retry_after``), 5xx, a dropped
  connection, garbage and a truncated stream each end in the right
  :mod:`g4f_lite.errors` type naming the provider;
* importing the provider's module touches no network and loads nothing
  heavy (see :data:`HEAVY_MODULES`);
* its :class:`~g4f_lite.types.ProviderInfo` is JSON-serialisable, and its
  flags match what it does (history and system message reach the server,
  streaming comes in pieces);
* nothing is left unclosed (no ``ResourceWarning``, no unraisable error, no
  error on the event loop), as under ``python -W error``.

Faults: :meth:`ProviderConformance.fault_server` returns a server that
answers every request with one of the :data:`FAULTS` (by name). The
default takes :meth:`~ProviderConformance.server` and sets its ``fault``
attribute to the shared :class:`~g4f_lite.testing.Fault`, which every
shipped emulator understands; an emulator of your own gets the same for free
by honouring a ``fault`` attribute, or you override ``fault_server``.

A provider that genuinely cannot keep part of the contract (a protocol with
no way to produce some fault, no proxy support...) says so in
:attr:`~ProviderConformance.deviations`, with the reason: those checks are
skipped, the reason shown in pytest's summary.

The tests are synchronous (each runs its own event loop with
:func:`asyncio.run`), so the kit needs pytest but no asyncio plugin or mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import pytest

from .. import errors
from ..provider import BaseProvider, collect, run_provider
from ..types import Chunk, Messages, ProviderInfo
from ._aiengine import Fault
from ._server import LocalProxy, LocalServer

__all__ = [
    "FAULTS",
    "HEAVY_MODULES",
    "RETRY_AFTER",
    "FaultName",
    "Outcome",
    "ProviderConformance",
    "expected_error",
]

T = TypeVar("T")

#: The faults the kit injects, by name (see :data:`FAULTS`).
FaultName = Literal[
    "unauthorized",
    "forbidden",
    "rate_limited",
    "server_error",
    "dropped",
    "garbage",
    "truncated",
    "slow",
    "stall",
]

#: The ``Retry-After`` (seconds) a ``rate_limited`` server announces; the error's ``retry_after``.
RETRY_AFTER = 7.0
# How long a slow server waits before its first byte, and a stalled stream
# pauses: far beyond the kit's small timeout and the time a loaded machine
# takes to notice a chunk, yet a server stops waiting when the client hangs up.
_SLOW_SECONDS = 30.0
# The timeout the kit's slow-server check passes.
_SMALL_TIMEOUT = 0.5
# No check may hang a suite: every scenario is cut off after this long.
_GUARD_SECONDS = 60.0

#: Each fault name, as the shared :class:`~g4f_lite.testing.Fault` that plays it.
FAULTS: Mapping[FaultName, Fault] = {
    "unauthorized": Fault.http_status(401),
    "forbidden": Fault.http_status(403),
    "rate_limited": Fault.http_status(429, retry_after=RETRY_AFTER),
    "server_error": Fault.http_status(500),
    "dropped": Fault.drop(after=2),
    "garbage": Fault.garbage(after=2),
    "truncated": Fault.no_end(),
    "slow": Fault.slow_first_byte(delay=_SLOW_SECONDS),
    "stall": Fault.stall(after=2, delay=_SLOW_SECONDS),
}

_EXPECTED: Mapping[FaultName, type[errors.ProviderError]] = {
    "unauthorized": errors.AuthenticationError,
    "forbidden": errors.PermissionDeniedError,
    "rate_limited": errors.RateLimitError,
    "server_error": errors.ServerError,
    "dropped": errors.TruncatedResponseError,
    "garbage": errors.ProtocolError,
    "truncated": errors.TruncatedResponseError,
    "slow": errors.ProviderTimeoutError,
}


def expected_error(fault: FaultName) -> type[errors.ProviderError]:
    """The :mod:`g4f_lite.errors` type a provider raises for ``fault``."""
    return _EXPECTED[fault]


#: What "heavy" means for a provider's import: modules it must not load at
#: import time. g4f-lite's upper layers (the client, router, server, CLI,
#: plugin discovery, the test emulators) and third-party stacks that cost
#: hundreds of milliseconds or start machinery of their own (SDKs, data
#: science, browsers, servers). The HTTP layer a provider is written with
#: (aiohttp, pydantic, pluggy, via ``g4f_lite.http``) is not heavy: every
#: provider needs it to do anything. A prefix matches its submodules too.
HEAVY_MODULES: tuple[str, ...] = (
    "g4f_lite.cli",
    "g4f_lite.client",
    "g4f_lite.registry",
    "g4f_lite.router",
    "g4f_lite.server",
    "g4f_lite.testing",
    "anthropic",
    "curl_cffi",
    "fastapi",
    "google.genai",
    "google.generativeai",
    "httpx",
    "litellm",
    "numpy",
    "openai",
    "pandas",
    "playwright",
    "prometheus_client",
    "redis",
    "requests",
    "selenium",
    "starlette",
    "tiktoken",
    "torch",
    "transformers",
    "uvicorn",
)

_HELLO: Messages = [{"role": "user", "content": "Hello"}]
_HISTORY_MARK = "kit-history-7f3a"
_SYSTEM_MARK = "kit-system-9c2e"

# Run in a fresh interpreter: import one module with an audit hook that
# records any network use, then report what was imported.
_IMPORT_PROBE = """
import json, sys
network = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                 "socket.sendto", "socket.sendmsg", "urllib.Request"):
        network.append(event + " " + repr(args)[:200])
sys.addaudithook(hook)
import importlib
importlib.import_module(sys.argv[1])
print(json.dumps({"modules": sorted(sys.modules), "network": network}))
"""


def _is_heavy(module: str, heavy: tuple[str, ...]) -> bool:
    return any(module == h or module.startswith(h + ".") for h in heavy)


@dataclass
class Outcome:
    """A stream read to its end or to its error (see :meth:`ProviderConformance.read`)."""

    #: The text chunks received, in order (before the error, if any).
    chunks: list[str]
    #: The error that ended the stream, or ``None`` when it completed.
    error: BaseException | None = None


def _dead_address() -> str:
    """``http://127.0.0.1:PORT`` with nothing listening on PORT (it was just released)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class ProviderConformance:
    """The provider contract as pytest tests; subclass it as ``Test<Something>``.

    Set :attr:`provider` (and :attr:`model` when the server wants one), and
    implement :meth:`server` and :meth:`call_options`. Override
    :meth:`fault_server` for an emulator without a ``fault`` attribute, and
    list what the provider genuinely cannot do in :attr:`deviations`.
    """

    #: The provider class under test.
    provider: ClassVar[type[BaseProvider]]
    #: The model to ask for (``""``: the provider's default).
    model: ClassVar[str] = ""
    #: Checks or faults (a :data:`FaultName`, or a check's name: ``"proxy"``,
    #: ``"timeout"``, ``"cancel"``, ``"history"``, ``"system_message"``,
    #: ``"streaming"``, ``"import"``, ``"whole"``) this provider cannot keep,
    #: each with the reason; they are skipped with that reason.
    deviations: ClassVar[Mapping[str, str]] = {}
    #: Modules its import must not load; extend it for your own stack.
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES

    # -- what a subclass provides ------------------------------------------

    def server(self) -> LocalServer:
        """A fresh emulator of the provider's protocol, not started (the kit starts it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement server()")

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        """The keyword arguments that point the provider at the running ``server``.

        E.g. ``{"base_url": server.url, "api_key": "sk-test"}``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement call_options()")

    def fault_server(self, fault: FaultName) -> LocalServer:
        """A fresh emulator answering every chat request with ``fault`` (see :data:`FAULTS`).

        The default sets the ``fault`` attribute of :meth:`server`'s emulator
        (as the shipped emulators have). Call :func:`pytest.skip` here, or
        list the fault in :attr:`deviations`, when it cannot be produced.
        """
        server = self.server()
        if not hasattr(server, "fault"):
            raise NotImplementedError(
                f"{type(server).__name__} has no 'fault' attribute: override "
                f"{type(self).__name__}.fault_server(), or list {fault!r} in deviations"
            )
        server.fault = FAULTS[fault]
        return server

    # -- helpers a subclass may use too ----------------------------------------

    def deviates(self, check: str) -> None:
        """Skip the running check when :attr:`deviations` lists ``check``."""
        reason = self.deviations.get(check)
        if reason is not None:
            pytest.skip(f"{self.provider.name} deviates ({check}): {reason}")

    def run(self, scenario: Callable[[], Awaitable[T]]) -> T:
        """Run ``scenario()`` on a fresh event loop, cut off after a generous guard."""

        async def guarded() -> T:
            return await asyncio.wait_for(scenario(), _GUARD_SECONDS)

        return asyncio.run(guarded())

    async def chunks(
        self, server: LocalServer, messages: Messages | None = None, **options: Any
    ) -> AsyncGenerator[Chunk, None]:
        """The provider's stream against ``server``, through the framework's error mapping.

        ``options`` are added to (and override) :meth:`call_options`.
        """
        kwargs = {**self.call_options(server), **options}
        stream = run_provider(self.provider, self.model, messages or _HELLO, **kwargs)
        async with aclosing(stream):  # type: ignore[type-var]
            async for chunk in stream:
                yield chunk

    async def read(
        self, server: LocalServer, messages: Messages | None = None, **options: Any
    ) -> Outcome:
        """Read the stream to its end, or to its error (kept with the text before it)."""
        kwargs = {**self.call_options(server), **options}
        return await self._read_options(kwargs, messages)

    async def answer(self, server: LocalServer, **options: Any) -> str:
        """The streamed answer's text, joined; a failure is raised."""
        outcome = await self.read(server, **options)
        if outcome.error is not None:
            raise outcome.error
        return "".join(outcome.chunks)

    def assert_names_provider(self, error: BaseException | None, kind: type[Exception]) -> None:
        """``error`` is a ``kind`` that names the provider (its ``provider`` and its message)."""
        name = self.provider.name
        assert error is not None, f"{name}: expected {kind.__name__}, the call succeeded"
        assert isinstance(error, kind), (
            f"{name}: expected {kind.__name__}, got {type(error).__name__}: {error}"
        )
        assert isinstance(error, errors.ProviderError)
        assert error.provider == name, f"the error names {error.provider!r}, not {name!r}"
        assert name in str(error), f"the message does not name {name}: {error}"

    # -- the contract ------------------------------------------------------------

    def test_streams_non_empty_text(self) -> None:
        """A plain question streams text chunks (``str``), and their text is not blank."""

        async def scenario() -> list[str]:
            async with self.server() as server:
                outcome = await self.read(server)
            if outcome.error is not None:
                raise outcome.error
            return outcome.chunks

        chunks = self.run(scenario)
        assert chunks, f"{self.provider.name} streamed no text"
        assert "".join(chunks).strip(), f"{self.provider.name} streamed only blank text"

    def test_whole_answer_equals_joined_stream(self) -> None:
        """``create_async`` and a ``stream=False`` call give exactly the joined stream."""
        self.deviates("whole")

        async def scenario() -> tuple[str, str, str | None]:
            async with self.server() as server:
                streamed = await self.answer(server)
                whole = await collect(self.chunks(server, stream=False), self.provider.name)
                create_async = getattr(self.provider, "create_async", None)
                joined = None
                if create_async is not None:
                    options = self.call_options(server)
                    joined = await create_async(self.model, _HELLO, **options)
            return streamed, whole, joined

        streamed, whole, joined = self.run(scenario)
        assert whole == streamed, "a stream=False answer differs from the joined stream"
        if joined is not None:
            assert joined == streamed, "create_async differs from the joined stream"

    def test_unknown_keyword_arguments_are_tolerated(self) -> None:
        """Options from a newer caller (or another provider's) change nothing."""

        async def scenario() -> tuple[str, str]:
            async with self.server() as server:
                plain = await self.answer(server)
                extra = await self.answer(
                    server, kit_unknown_option=1, another_future_option={"x": [1, 2]}
                )
            return plain, extra

        plain, extra = self.run(scenario)
        assert extra == plain

    def test_proxy_is_honoured(self) -> None:
        """With ``proxy=``, the request goes through that proxy and the answer is the same."""
        self.deviates("proxy")

        async def scenario() -> tuple[str, str, list[str]]:
            async with self.server() as server, LocalProxy() as proxy:
                direct = await self.answer(server)
                proxied = await self.answer(server, proxy=proxy.url)
            return direct, proxied, proxy.requests

        direct, proxied, relayed = self.run(scenario)
        assert relayed, f"{self.provider.name} ignored proxy=: nothing went through the proxy"
        assert proxied == direct

    def test_dead_proxy_is_a_connection_error(self) -> None:
        """A proxy nobody listens on is a ``ProviderConnectionError`` naming the provider."""
        self.deviates("proxy")

        async def scenario() -> BaseException | None:
            async with self.server() as server:
                return (await self.read(server, proxy=_dead_address())).error

        self.assert_names_provider(self.run(scenario), errors.ProviderConnectionError)

    def test_timeout_is_honoured(self) -> None:
        """A server slower than ``timeout=`` is a ``ProviderTimeoutError`` naming the provider."""
        self.deviates("timeout")
        self.deviates("slow")

        async def scenario() -> BaseException | None:
            async with self.fault_server("slow") as server:
                return (await self.read(server, timeout=_SMALL_TIMEOUT)).error

        self.assert_names_provider(self.run(scenario), errors.ProviderTimeoutError)

    def test_cancelling_a_stream_closes_the_upstream_connection(self) -> None:
        """A task cancelled mid-stream hangs up on the server at once."""
        self.deviates("cancel")
        self.deviates("stall")

        async def scenario() -> tuple[bool, bool]:
            async with self.fault_server("stall") as server:
                first = asyncio.Event()

                async def consume() -> None:
                    async with aclosing(self.chunks(server)) as stream:
                        async for chunk in stream:
                            if type(chunk) is str:
                                first.set()

                task = asyncio.ensure_future(consume())
                await asyncio.wait(
                    [task, asyncio.ensure_future(first.wait())],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                got_text = first.is_set()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                port = server.requests[-1].client_port if server.requests else None
                return got_text, await server.wait_disconnected(port)

        got_text, closed = self.run(scenario)
        assert got_text, "no text arrived before the stall"
        assert closed, "the server still sees the connection open after the cancel"

    def test_stopping_early_closes_the_upstream_connection(self) -> None:
        """A caller that stops reading (and closes the stream) hangs up on the server."""
        self.deviates("cancel")
        self.deviates("stall")

        async def scenario() -> bool:
            async with self.fault_server("stall") as server:
                async with aclosing(self.chunks(server)) as stream:
                    async for chunk in stream:
                        if type(chunk) is str:
                            break
                port = server.requests[-1].client_port if server.requests else None
                return await server.wait_disconnected(port)

        assert self.run(scenario), "the server still sees the connection open"

    @pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
    @pytest.mark.parametrize("fault", ["unauthorized", "forbidden", "rate_limited", "server_error"])
    def test_http_status_is_typed(self, fault: FaultName, stream: bool) -> None:
        """401, 403, 429 and 5xx each raise their ``HTTPStatusError`` subclass.

        A 429's ``Retry-After`` (seconds) is the error's ``retry_after``.
        """
        self.deviates(fault)
        if not stream:
            self.deviates("whole")

        async def scenario() -> BaseException | None:
            async with self.fault_server(fault) as server:
                options: dict[str, Any] = {} if stream else {"stream": False}
                return (await self.read(server, **options)).error

        error = self.run(scenario)
        self.assert_names_provider(error, _EXPECTED[fault])
        if fault == "rate_limited":
            assert isinstance(error, errors.RateLimitError)
            assert error.retry_after == pytest.approx(RETRY_AFTER), "Retry-After was lost"

    @pytest.mark.parametrize("fault", ["dropped", "garbage", "truncated"])
    def test_broken_stream_is_typed(self, fault: FaultName) -> None:
        """A dropped connection, garbage and a stream cut short raise their type.

        Never a silent success: the text received before is a prefix of the
        real answer, and the error says the stream broke.
        """
        self.deviates(fault)

        async def scenario() -> tuple[str, Outcome]:
            async with self.server() as server:
                full = await self.answer(server)
            async with self.fault_server(fault) as server:
                return full, await self.read(server)

        full, outcome = self.run(scenario)
        self.assert_names_provider(outcome.error, _EXPECTED[fault])
        assert full.startswith("".join(outcome.chunks)), "text before the fault was altered"

    def test_import_is_cheap_and_offline(self) -> None:
        """Importing the provider's module uses no network and loads no heavy module.

        Run in a fresh interpreter (``python -X importtime``); "heavy" is
        :attr:`heavy_modules` (by default :data:`HEAVY_MODULES`).
        """
        self.deviates("import")
        module = self.provider.__module__
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", _IMPORT_PROBE, module],
            capture_output=True,
            text=True,
            env=env,
            timeout=_GUARD_SECONDS,
            check=False,
        )
        assert done.returncode == 0, f"importing {module} failed:\n{done.stderr[-2000:]}"
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert not report["network"], f"importing {module} used the network: {report['network']}"
        heavy = [m for m in report["modules"] if _is_heavy(m, self.heavy_modules)]
        if heavy:
            costs = [
                line.strip()
                for line in done.stderr.splitlines()
                if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() in heavy
            ]
            pytest.fail(
                f"importing {module} loads heavy modules {heavy}; import them when a call "
                "needs them. -X importtime (self | cumulative, in us):\n" + "\n".join(costs)
            )

    def test_info_is_json_serialisable(self) -> None:
        """``get_info()`` is a ``ProviderInfo`` that survives a JSON round trip."""
        info = self.provider.get_info()
        assert isinstance(info, ProviderInfo)
        text = info.model_dump_json()
        assert ProviderInfo.model_validate_json(text) == info
        data = json.loads(text)
        assert data["name"] == self.provider.name
        json.dumps(info.model_dump(mode="json"))

    def test_history_flag_matches_behaviour(self) -> None:
        """With ``supports_message_history``, earlier turns reach the server."""
        if not self.provider.supports_message_history:
            pytest.skip(f"{self.provider.name} does not claim message history")
        self.deviates("history")
        messages: Messages = [
            {"role": "user", "content": f"Remember {_HISTORY_MARK}."},
            {"role": "assistant", "content": "Remembered."},
            {"role": "user", "content": "Hello"},
        ]
        sent = self.run(lambda: self._sent(messages))
        assert _HISTORY_MARK in sent, "an earlier turn never reached the server"

    def test_system_message_flag_matches_behaviour(self) -> None:
        """With ``supports_system_message``, the system message reaches the server."""
        if not self.provider.supports_system_message:
            pytest.skip(f"{self.provider.name} does not claim system messages")
        self.deviates("system_message")
        messages: Messages = [
            {"role": "system", "content": f"Be brief. {_SYSTEM_MARK}"},
            {"role": "user", "content": "Hello"},
        ]
        sent = self.run(lambda: self._sent(messages))
        assert _SYSTEM_MARK in sent, "the system message never reached the server"

    def test_streaming_flag_matches_behaviour(self) -> None:
        """With ``supports_stream``, a several-word answer arrives in several chunks."""
        if not self.provider.supports_stream:
            pytest.skip(f"{self.provider.name} does not claim streaming")
        self.deviates("streaming")

        async def scenario() -> list[str]:
            async with self.server() as server:
                outcome = await self.read(server)
            if outcome.error is not None:
                raise outcome.error
            return outcome.chunks

        chunks = self.run(scenario)
        assert len(chunks) > 1, (
            f"{self.provider.name} claims streaming, but the answer came in one chunk "
            "(does the emulator send it in pieces?)"
        )

    def test_nothing_left_unclosed(self) -> None:
        """Calls that succeed, fail, time out or are cancelled leave nothing unclosed.

        No ``ResourceWarning`` (sockets, sessions, transports), no exception
        nobody could catch (``sys.unraisablehook``), no error reported on the
        event loop, once the loop is closed and garbage collected.
        """
        found: list[str] = []

        def unraisable(hook: Any) -> None:
            found.append(f"unraisable: {hook.exc_value!r} in {hook.object!r}")

        async def scenario() -> None:
            asyncio.get_running_loop().set_exception_handler(
                lambda _loop, context: found.append(f"loop: {context.get('message')}")
            )
            async with self.server() as server:
                await self.read(server)
                await self.read(server, stream=False)
                async with aclosing(self.chunks(server)) as stream:
                    async for _ in stream:
                        break
            if "slow" not in self.deviations and "timeout" not in self.deviations:
                async with self.fault_server("slow") as server:
                    await self.read(server, timeout=_SMALL_TIMEOUT)
            await self._read_gone()

        previous = sys.unraisablehook
        sys.unraisablehook = unraisable
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                self.run(scenario)
                gc.collect()
        finally:
            sys.unraisablehook = previous
        found += [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
        assert not found, "left unclosed:\n" + "\n".join(found)

    # -- internals ---------------------------------------------------------------

    async def _read_gone(self) -> Outcome:
        """A call to a server that has stopped: what a provider meets when its site is down."""
        async with self.server() as gone:
            options = self.call_options(gone)
        return await self._read_options(options)

    async def _read_options(
        self, kwargs: dict[str, Any], messages: Messages | None = None
    ) -> Outcome:
        outcome = Outcome([])
        try:
            stream = run_provider(self.provider, self.model, messages or _HELLO, **kwargs)
            async with aclosing(stream):  # type: ignore[type-var]
                async for chunk in stream:
                    if type(chunk) is str:
                        outcome.chunks.append(chunk)
        except Exception as exc:
            outcome.error = exc
        return outcome

    async def _sent(self, messages: Messages) -> str:
        """Everything the server received for ``messages``, as one JSON text."""
        async with self.server() as server:
            outcome = await self.read(server, messages)
            if outcome.error is not None:
                raise outcome.error
            return json.dumps([r.body for r in server.requests], default=str)
