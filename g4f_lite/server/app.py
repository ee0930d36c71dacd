"""The aiohttp application behind ``g4f-lite serve``.

Endpoints: ``POST /v1/chat/completions`` (streamed or not), ``GET /v1/models``,
``GET /v1/providers`` (extension: capabilities and live health),
``GET /health``, ``GET /metrics`` (Prometheus, :mod:`.metrics`), and the
live dashboard: ``GET /dashboard`` (a static page) and
``GET /v1/dashboard/state`` (its data; see :mod:`.dashboard`). Every
error is an OpenAI-shaped ``{"error": {...}}`` body.

Security defaults: binds 127.0.0.1; optional bearer key compared in constant
time; request bodies limited in size and nesting depth; strict field types; a
request can never set ``base_url``, ``proxy`` or credentials (only the
operator's configuration file does); slow and excess connections are closed
(:mod:`.limits`); every answer carries an ``X-Request-Id`` and client-facing
errors hold no internal detail (see the "Security" section of
``docs/server.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from .. import __version__, errors
from .. import config as config_module
from .. import http as http_module
from .._json import JSONNestingError
from .._json import loads as loads_json
from .._log import get_logger
from .._threads import loop_in_thread
from ..client.results import Completion, CompletionChunk, completion_id
from ..health import InMemoryHealthStore
from ..models import alias_providers
from ..models import list_models as served_models
from ..provider import close_stream
from ..router import RoutedCall, Router, default_router
from ..types import Chunk, Finish, FinishReason, ProviderInfo, ToolCallDelta, Usage
from . import dashboard
from ._errors import ApiError, api_error, validation_error
from ._usage import CHARACTERS_PER_TOKEN, USAGE_HEADER, estimate_usage, prompt_characters
from .limits import GuardedRunner
from .logs import (
    EXCHANGE_KEY,
    REQUEST_ID_KEY,
    AccessLogger,
    JsonAccessLogger,
    install_log_format,
    install_secret_filter,
    server_secrets,
)
from .metrics import CONTENT_TYPE, Exchange, ServerMetrics, build_registry, render
from .models import (
    ChatCompletionRequest,
    HealthResponse,
    HealthStoreStatus,
    ModelCard,
    ModelList,
    ProviderList,
    ServedProvider,
)
from .selfroute import OwnAddress
from .stats import RequestStats

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Server",
    "ServerSettings",
    "create_app",
    "serve",
]

logger = get_logger("g4f_lite.server")

#: Environment variable holding the bearer key clients must send.
API_KEY_ENV = "G4F_LITE_API_KEY"
#: Loopback only unless the operator says otherwise: the server spends the
#: operator's provider credentials on behalf of whoever can reach it.
DEFAULT_HOST = "127.0.0.1"
#: gpt4free's API port. Not 8080: llama.cpp's server (a provider preset) listens there.
DEFAULT_PORT = 1337


class ServerSettings(BaseModel):
    """How the server runs; the ``[server]`` table of the configuration file.

    ``host`` and ``port``: where to listen (``127.0.0.1:1337``; port 0 picks
    a free one). ``api_key`` (a :class:`~pydantic.SecretStr`): when set, every ``/v1/``
    request must send ``Authorization: Bearer <key>``. ``max_body_bytes``
    bounds request bodies (413 beyond). ``timeout``: the deadline in seconds
    of one answer, retries and failovers included (``None``: the router's).
    ``shutdown_timeout``: seconds in-flight requests get to finish on shutdown.

    Connection limits: ``header_timeout`` (seconds a client gets to send a
    whole request, headers and body, from its first byte; 30),
    ``keepalive_timeout`` (seconds an idle keep-alive connection stays open;
    75) and ``max_connections`` (open connections; beyond it a new one gets
    a 503 and is closed; 1024).

    Observability: ``metrics_public`` (``GET /metrics`` without the API key;
    false), ``log_format`` (``text`` or ``json``: one object per line) and
    ``access_log`` (one line per request; true).
    """

    # Strict: "1337" is not a port, "yes" not a number; NaN and infinity are refused.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    api_key: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    timeout: float | None = Field(default=None, gt=0)
    shutdown_timeout: float = Field(default=10.0, ge=0)
    header_timeout: float = Field(default=30.0, gt=0, le=86400)
    keepalive_timeout: float = Field(default=75.0, gt=0, le=86400)
    max_connections: int = Field(default=1024, ge=1)
    metrics_public: bool = False
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True

    @classmethod
    def from_config(
        cls, table: Mapping[str, Any] | None = None, **overrides: Any
    ) -> ServerSettings:
        """Validate a ``[server]`` table (default: the current configuration's).

        ``overrides`` set to ``None`` are ignored, so command-line flags can be
        passed as they are. The API key is ``overrides["api_key"]``, else
        ``$G4F_LITE_API_KEY``, else the table's. Raises
        :class:`~g4f_lite.errors.ConfigurationError` naming the bad field.
        """
        current = config_module.current_config() if table is None else None
        data = dict(current.server if current is not None else table or {})
        # The key: a flag, else the environment, else the file.
        if os.environ.get(API_KEY_ENV):
            data["api_key"] = os.environ[API_KEY_ENV]
        data.update({key: value for key, value in overrides.items() if value is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # Values left out on purpose: a mistyped field may hold the key.
            problems = "; ".join(_problem(e) for e in exc.errors())
            named = current is not None and not current.source.startswith("<")
            where = f"{current.source}: " if named and current is not None else ""
            raise errors.ConfigurationError(f"{where}[server]: {problems}") from None


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(ServerSettings.model_fields)
        return f"{where}: unknown key (allowed: {allowed})"
    return f"{where}: {error['msg']}"


_SETTINGS_KEY: web.AppKey[ServerSettings] = web.AppKey("g4f_lite_settings")
_ROUTER_KEY: web.AppKey[Router | None] = web.AppKey("g4f_lite_router")
_OWN_KEY: web.AppKey[OwnAddress] = web.AppKey("g4f_lite_own_address")
_STATS_KEY: web.AppKey[RequestStats] = web.AppKey("g4f_lite_request_stats")
_METRICS_KEY: web.AppKey[ServerMetrics] = web.AppKey("g4f_lite_metrics")
_CALL_KEY: web.RequestKey[RoutedCall] = web.RequestKey("g4f_lite_call", RoutedCall)
_STREAM_ERROR_KEY: web.RequestKey[Exception] = web.RequestKey("g4f_lite_stream_error", Exception)


class _Problem(Exception):
    """Raised by handlers to answer with an :class:`ApiError`."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def _error_response(error: ApiError, request_id: str) -> web.Response:
    return web.Response(
        body=error.with_request_id(request_id).body().model_dump_json(),
        status=error.status,
        content_type="application/json",
        headers=error.headers,
    )


def _json(model: BaseModel) -> web.Response:
    return web.Response(body=model.model_dump_json(), content_type="application/json")


# -- middlewares ---------------------------------------------------------------

# A client's own id is kept when it is a plain token (it ends up in logs and
# headers); anything else gets a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_HTTP_ERROR_MESSAGES = {
    404: "no such route; see the OpenAI API reference",
    405: "method not allowed on this route",
}


def _request_id(request: web.Request) -> str:
    sent = request.headers.get("X-Request-Id")
    if sent is not None and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    # As unguessable as uuid4().hex and as long, without building a UUID per request.
    return os.urandom(16).hex()


def _http_error(exc: web.HTTPException) -> ApiError:
    # Never echo the request line: the method and path are the client's text.
    kind = "not_found" if exc.status == 404 else "invalid_request_error"
    message = _HTTP_ERROR_MESSAGES.get(exc.status, "the request cannot be served")
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    code = exc.reason.lower().replace(" ", "_") if exc.reason.isascii() else "http_error"
    return ApiError(exc.status, message, kind, code, headers=headers)


@web.middleware
async def _errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tag every answer with its request id and turn every failure into an OpenAI error.

    Client-facing messages come from :func:`api_error` (types and statuses);
    the full error goes to the log under the request id. Never a traceback.
    """
    request_id = request[REQUEST_ID_KEY] = _request_id(request)
    try:
        response = await handler(request)
    except _Problem as exc:
        response = _error_response(exc.error, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error_response(_http_error(exc), request_id)
    except (errors.G4FLiteError, ValidationError) as exc:
        error = api_error(exc)
        logger.info("request %s failed (%d): %s", request_id, error.status, _log_text(exc))
        response = _error_response(error, request_id)
    except Exception:
        logger.exception("request %s: unexpected error", request_id)
        response = _error_response(api_error(RuntimeError()), request_id)
    if not response.prepared:  # a stream sets its own header before it starts
        response.headers["X-Request-Id"] = request_id
    return response


def _log_text(exc: BaseException) -> str:
    """The whole error for the server's log, on one line (run_provider scrubbed it)."""
    text = " | ".join(line.strip() for line in str(exc).splitlines())
    return f"{type(exc).__name__}: {text}"


def _auth_middleware(key: SecretStr, protected: tuple[str, ...] = ()) -> Any:
    """Require the key on ``/v1/`` paths and on the ``protected`` ones."""
    expected = key.get_secret_value().encode()

    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # /health stays open for liveness probes; it reveals nothing.
        path = request.path
        if (path.startswith("/v1/") or path in protected) and not _authorized(
            request.headers.get("Authorization", ""), expected
        ):
            raise _Problem(
                ApiError(
                    401,
                    "missing or invalid API key: send 'Authorization: Bearer <key>'",
                    "invalid_request_error",
                    "invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            )
        return await handler(request)

    return authenticate


def _authorized(header: str, expected: bytes) -> bool:
    """Whether ``header`` is ``Bearer <expected>`` (the scheme in any case, RFC 7235)."""
    scheme, _, token = header.partition(" ")
    # aiohttp decodes header bytes as UTF-8 with surrogateescape, so bytes
    # that are not UTF-8 come back as lone surrogates: a strict encode would
    # raise. Undo the escape to compare the bytes sent (a wrong key, then).
    try:
        sent = token.strip().encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        sent = b""
    # Constant time: the comparison must not reveal how much of a guess was right.
    return hmac.compare_digest(sent, expected) and scheme.lower() == "bearer"


# -- chat completions ----------------------------------------------------------


async def _read_body(request: web.Request, limit: int) -> ChatCompletionRequest:
    if request.content_length is not None and request.content_length > limit:
        raise _Problem(_too_large(limit))
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _Problem(_too_large(limit)) from None
    try:
        data = loads_json(raw)
    except JSONNestingError as exc:
        raise _Problem(
            ApiError(
                400,
                f"the request body nests JSON deeper than {exc.max_depth} levels",
                "invalid_request_error",
                "invalid_json",
            )
        ) from None
    except ValueError:
        raise _Problem(
            ApiError(
                400, "the request body is not valid JSON", "invalid_request_error", "invalid_json"
            )
        ) from None
    if not isinstance(data, dict):
        raise _Problem(
            ApiError(
                400,
                "the request body must be a JSON object",
                "invalid_request_error",
                "invalid_json",
            )
        )
    # Only a "\\uD8xx"-style escape can put a lone surrogate in a str (the
    # UTF-8 decoder refuses encoded ones), and it cannot be encoded again on
    # the way to a provider or back: look for one only when such an escape is there.
    if b"\\ud" in raw or b"\\uD" in raw:
        where = _surrogate_at(data)
        if where is not None:
            raise _Problem(
                ApiError(
                    400,
                    f"invalid request body: {where or 'body'}: "
                    "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)",
                    "invalid_request_error",
                    "invalid_value",
                    where or None,
                )
            )
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise _Problem(validation_error(exc)) from None


def _surrogate_at(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a lone surrogate, else None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _surrogate_at(key) is not None:
            return path
        found = _surrogate_at(item, here)
        if found is not None:
            return found
    return None


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than {limit} bytes",
        "invalid_request_error",
        "body_too_large",
    )


def _router(request: web.Request) -> Router:
    return request.app[_ROUTER_KEY] or default_router()


def _check_enabled(router: Router, name: str, own: OwnAddress) -> str:
    """The registered name of provider ``name``; 404 if unknown or disabled, 400 if it is us."""
    provider = router.registry.get(name)  # ProviderNotFoundError: 404
    if not router.is_enabled(provider.name):
        raise _Problem(
            ApiError(
                404,
                f"provider {provider.name!r} is disabled in the server's configuration",
                "invalid_request_error",
                "provider_disabled",
                "provider",
            )
        )
    target = own.target_of(router, provider)
    if target is not None:
        raise _Problem(
            ApiError(
                400,
                f"provider {provider.name!r} is not served: {own.reason(target)}",
                "invalid_request_error",
                "provider_targets_server",
                "provider",
            )
        )
    return provider.name


def _without_self(call: RoutedCall, own: OwnAddress) -> RoutedCall:
    """Leave out the candidates that point back at this server; 503 if none is left."""
    router = call.router
    looping = {c.name: t for c in call.candidates if (t := own.target_of(router, c)) is not None}
    if looping:
        call.candidates = [c for c in call.candidates if c.name not in looping]
        if not call.candidates:
            reasons = {name: [own.reason(target)] for name, target in looping.items()}
            detail = "; ".join(f"{name}: {why[0]}" for name, why in reasons.items())
            raise errors.NoProviderAvailableError(
                f"no provider can serve this request ({detail})", reasons
            )
    return call


async def _plan(
    router: Router,
    chat: ChatCompletionRequest,
    timeout: float | None,
    own: OwnAddress | None = None,
) -> RoutedCall:
    """The router's plan for this request; 404 for a provider or model nothing can serve.

    The router applies each provider's ``[providers.NAME]`` options, leaves
    disabled ones out and checks capabilities (a named provider without one
    raises :class:`~g4f_lite.errors.UnsupportedFeatureError`, a 400). Named
    providers are looked up first, and a model that no enabled provider
    serves is told apart once planning failed, so those cases become 404s
    naming the provider or model rather than a generic failure.
    A provider that points back at this server (``own``) is never a
    candidate, and naming one is a 400.
    """
    own = own if own is not None else OwnAddress()
    provider: str | list[str] | None
    if chat.provider is None:
        provider = None
    elif isinstance(chat.provider, str):
        provider = _check_enabled(router, chat.provider, own)
    else:
        provider = [_check_enabled(router, name, own) for name in chat.provider]
    try:
        call = router.plan(
            chat.model,
            [message.as_dict() for message in chat.messages],
            provider=provider,
            stream=chat.stream,
            timeout=timeout,
            **chat.options(),
        )
        # Before the status code is chosen: a local server nobody started
        # is a 503 with advice (or the model's 404), not a failed stream.
        await call.probe()
    except errors.NoProviderAvailableError:
        # An alias's own error says which entry was excluded and why.
        if (
            chat.model
            and chat.model not in router.config.aliases
            and not any(router.is_enabled(info.name) for info in router.describe(model=chat.model))
        ):
            raise _Problem(
                ApiError(
                    404,
                    f"no provider serves model {chat.model!r}; see GET /v1/models",
                    "invalid_request_error",
                    "model_not_found",
                    "model",
                )
            ) from None
        raise
    return _without_self(call, own) if own.sockets else call


# What json.dumps(text) returns for a str, without the encoder's dispatch per chunk.
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


class _ChunkWriter:
    """Serialises one stream's ``chat.completion.chunk`` events.

    Text is spelled out as byte templates rather than a pydantic model per
    chunk, which would cost more than the provider's own parsing; a test
    checks every event against :class:`~g4f_lite.client.results.CompletionChunk`.
    Tool-call pieces and the usage chunk are rare and go through the model.
    """

    def __init__(self, model: str, provider: str | None) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = model
        self.provider = provider
        head = (
            f'data: {{"id":"{self.id}","object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{json.dumps(model)},'
            '"choices":[{"index":0,"delta":'
        ).encode()
        self._head = head
        self._open = head + b'{"content":'
        tail = f',"usage":null,"system_fingerprint":null,"provider":{json.dumps(provider)}}}\n\n'
        self._close = b'},"finish_reason":null,"logprobs":null}]' + tail.encode()
        self._finish_tail = b',"logprobs":null}]' + tail.encode()
        self._role = head + b'{"role":"assistant","content":""' + self._close
        #: Tool-call indexes whose first piece was sent (it carries id and name).
        self._calls: set[int] = set()

    def role(self) -> bytes:
        """The first event: the assistant role, empty content (as OpenAI sends)."""
        return self._role

    def content(self, text: str) -> bytes:
        """One event carrying ``text``."""
        return self._open + _json_string(text).encode() + self._close

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        """One event carrying a piece of a tool call; the first piece of a call has its id."""
        piece: dict[str, Any] = {"index": delta.index}
        function: dict[str, str] = {}
        if delta.index not in self._calls:
            self._calls.add(delta.index)
            # Clients match tool results to calls by id: every call needs one.
            piece["id"] = delta.id or f"call_{uuid.uuid4().hex[:24]}"
            piece["type"] = "function"
            function["name"] = delta.name or ""
        elif delta.name:
            function["name"] = delta.name
        function["arguments"] = delta.arguments
        piece["function"] = function
        return self._head + b'{"tool_calls":' + json.dumps([piece]).encode() + self._close

    @property
    def called_tools(self) -> bool:
        """Whether a tool-call piece was sent."""
        return bool(self._calls)

    def finish(self, reason: FinishReason) -> bytes:
        """The chunk with the finish reason and an empty delta."""
        return self._head + f'{{}},"finish_reason":"{reason}"'.encode() + self._finish_tail

    def usage(self, usage: Usage) -> bytes:
        """The ``include_usage`` chunk: no choices, the usage."""
        chunk = CompletionChunk(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[],
            usage=usage,
            provider=self.provider,
        )
        return b"data: " + chunk.model_dump_json().encode() + b"\n\n"

    @staticmethod
    def done() -> bytes:
        """The ``[DONE]`` sentinel that ends a stream."""
        return b"data: [DONE]\n\n"


class _Coalescer:
    """Writes events in batches: whatever accumulated while the loop was busy.

    A provider often yields many chunks from one network read without
    suspending; one socket write per chunk would make the server spend more
    on system calls than on the answer. Events are buffered and flushed by a
    task as soon as the handler waits for the provider, so latency does not
    suffer: nothing is held back while the provider is quiet.
    """

    #: Past this many buffered bytes the handler waits for the client (backpressure).
    HIGH_WATER = 64 * 1024

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self.buffer = bytearray()
        self.task: asyncio.Task[None] | None = None

    def push(self, data: bytes) -> bool:
        """Queue ``data``; True when the caller must ``await drain()`` (backpressure).

        Not a coroutine: the hot path writes every chunk through it. Raises
        the error of a failed earlier write (client gone).
        """
        task = self.task
        if task is not None and task.done():
            self.task = None
            task.result()
        self.buffer += data
        if len(self.buffer) >= self.HIGH_WATER:
            return True
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._flush())
        return False

    async def add(self, data: bytes) -> None:
        """Queue ``data``, waiting for the client when too much is buffered."""
        if self.push(data):
            await self.drain()

    async def _flush(self) -> None:
        while self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            await self.response.write(data)

    async def drain(self) -> None:
        """Write everything buffered, now."""
        task, self.task = self.task, None
        if task is not None:
            await task
        await self._flush()

    async def finish(self) -> None:
        """Write what is buffered and end the response, in one write (headers too, if unsent)."""
        task, self.task = self.task, None
        if task is not None:
            await task
        data = bytes(self.buffer)
        self.buffer.clear()
        await self.response.write_eof(data)

    def cancel(self) -> None:
        """Abandon pending writes (the handler is cancelled or failed)."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
        elif task is not None and not task.cancelled():
            task.exception()  # retrieved: the handler's own error is the one to report


async def _stream(
    request: web.Request, call: RoutedCall, chat: ChatCompletionRequest, exchange: Exchange
) -> web.StreamResponse:
    chunks = call.events()
    out: _Coalescer | None = None
    try:
        # Wait for the first chunk before sending headers: until then the
        # router may still fail over, and a failure gets a real HTTP status.
        try:
            first: Chunk | None = await chunks.__anext__()
        except StopAsyncIteration:
            first = None
        exchange.first_chunk = time.perf_counter() - exchange.started
        exchange.provider = call.answered_by
        writer = _ChunkWriter(chat.model, call.answered_by)
        request_id = request[REQUEST_ID_KEY]
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # reverse proxies must not buffer the stream
                "X-Request-Id": request_id,
            }
        )
        await response.prepare(request)
        out = _Coalescer(response)
        try:
            state = _StreamState()
            await out.add(writer.role())
            if first is not None:
                await _write_chunk(out, writer, state, first)
                async for chunk in chunks:
                    if type(chunk) is str:  # the hot path: text, from the byte template
                        state.characters += len(chunk)
                        if out.push(writer.content(chunk)):
                            await out.drain()
                    else:
                        await _write_chunk(out, writer, state, chunk)
            reason = state.finish or ("tool_calls" if writer.called_tools else "stop")
            tail = writer.finish(reason)
            usage = state.usage
            if chat.include_usage:
                usage = usage or estimate_usage(chat.messages, state.characters)
                tail += writer.usage(usage)
            if usage is not None:
                exchange.tokens_in = usage.prompt_tokens
                exchange.tokens_out = usage.completion_tokens
            else:  # the same estimate, without a Usage model per request
                exchange.tokens_in = _tokens(prompt_characters(chat.messages))
                exchange.tokens_out = _tokens(state.characters)
            await out.add(tail + writer.done())
        except Exception as exc:
            if isinstance(exc, ConnectionResetError):
                raise  # the client went away: nothing to tell it
            request[_STREAM_ERROR_KEY] = exc
            exchange.broken = True
            # Headers are sent: the failure becomes an error event (the openai
            # SDK raises APIError for it), and no [DONE] follows.
            error = api_error(exc).with_request_id(request_id)
            if error.status == 500:
                logger.exception("request %s: unexpected error mid-stream", request_id)
            else:
                logger.info("request %s: stream failed: %s", request_id, _log_text(exc))
            await out.add(b"data: " + error.body().model_dump_json().encode() + b"\n\n")
        await out.finish()
        return response
    except ConnectionResetError:
        logger.info("client disconnected mid-stream; upstream request closed")
        return web.Response(status=499)
    finally:
        if out is not None:
            out.cancel()
        # Runs on a client disconnect too (the handler is cancelled): closing
        # the generator closes the router's and the provider's, and with them
        # the upstream connection.
        await close_stream(chunks)


def _tokens(characters: int) -> int:
    return -(-characters // CHARACTERS_PER_TOKEN)  # as estimate_usage counts


class _StreamState:
    """What a stream reported besides its text: usage, finish reason, and its length."""

    __slots__ = ("characters", "finish", "usage")

    def __init__(self) -> None:
        self.characters = 0
        self.usage: Usage | None = None
        self.finish: FinishReason | None = None


async def _write_chunk(
    out: _Coalescer, writer: _ChunkWriter, state: _StreamState, chunk: Chunk
) -> None:
    """Write one chunk of any kind; usage and the finish reason wait for the end."""
    if type(chunk) is str:
        if chunk:
            state.characters += len(chunk)
            await out.add(writer.content(chunk))
    elif isinstance(chunk, ToolCallDelta):
        state.characters += len(chunk.arguments) + len(chunk.name or "")
        await out.add(writer.tool_call(chunk))
    elif isinstance(chunk, Usage):
        state.usage = chunk
    elif isinstance(chunk, Finish):
        state.finish = chunk.reason
    # Reasoning text has no place in OpenAI's chunk: it is not forwarded.


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    """Answer, and count the request whatever comes of it.

    Once, when it ends: in the Prometheus counters (:mod:`.metrics`) and in
    the dashboard's recent-request stats (:mod:`.stats`).
    """
    metrics, stats = request.app[_METRICS_KEY], request.app[_STATS_KEY]
    exchange = request[EXCHANGE_KEY] = metrics.begin()
    token = metrics.enter(exchange)
    started = stats.clock()
    try:
        response = await _answer(request, exchange)
    except BaseException as exc:
        metrics.end(exchange, _status_of(exc))
        if isinstance(exc, Exception):
            call = request.get(_CALL_KEY)
            provider = call.answered_by if call is not None else None
            _record_stats(request, provider, stats.clock() - started, exc)
        raise
    finally:
        metrics.leave(token)
    metrics.end(exchange, response.status)
    call = request.get(_CALL_KEY)
    if call is not None and response.status != 499:  # 499: the client left, no verdict
        error = request.get(_STREAM_ERROR_KEY)
        _record_stats(request, call.answered_by, stats.clock() - started, error)
    return response


def _record_stats(
    request: web.Request, provider: str | None, seconds: float, error: Exception | None
) -> None:
    request.app[_STATS_KEY].record_outcome(
        provider, seconds, error, lambda: server_secrets(request.app[_SETTINGS_KEY].api_key)
    )


def _status_of(exc: BaseException) -> int:
    """The status the errors middleware answers ``exc`` with (499: the client left)."""
    if isinstance(exc, _Problem):
        return exc.error.status
    if isinstance(exc, web.HTTPException):
        return exc.status
    if isinstance(exc, (errors.G4FLiteError, ValidationError)):
        return api_error(exc).status
    return 499 if isinstance(exc, asyncio.CancelledError) else 500


async def _answer(request: web.Request, exchange: Exchange) -> web.StreamResponse:
    settings = request.app[_SETTINGS_KEY]
    chat = await _read_body(request, settings.max_body_bytes)
    exchange.model = chat.model
    router = _router(request)
    exchange.metrics.watch(router)
    call = await _plan(router, chat, settings.timeout, request.app[_OWN_KEY])
    request[_CALL_KEY] = call
    if chat.stream:
        return await _stream(request, call, chat, exchange)
    answer = await call.answer()
    exchange.provider = answer.provider
    completion = Completion.from_answer(answer, chat.model)
    headers = {}
    if completion.usage is None:
        # OpenAI always sends usage, and clients read it unguarded: estimate,
        # and say so.
        characters = len(answer.text) + sum(
            len(c.function.name) + len(c.function.arguments) for c in answer.tool_calls
        )
        usage = estimate_usage(chat.messages, characters)
        completion = completion.model_copy(update={"usage": usage})
        headers[USAGE_HEADER] = "estimated"
    if completion.usage is not None:
        exchange.tokens_in = completion.usage.prompt_tokens
        exchange.tokens_out = completion.usage.completion_tokens
    return web.Response(
        body=completion.model_dump_json(), content_type="application/json", headers=headers
    )


# -- dashboard -----------------------------------------------------------------

# The page loads its script and style from itself only, and talks to this server only.
_DASHBOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def _dashboard_page(request: web.Request) -> web.Response:
    page = dashboard.page(request.app[_SETTINGS_KEY].api_key is not None)
    return web.Response(body=page, content_type="text/html", headers=_DASHBOARD_HEADERS)


async def _dashboard_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in dashboard.ASSETS:
        raise web.HTTPNotFound()
    return web.Response(
        body=dashboard.asset(name),
        content_type=dashboard.ASSETS[name],
        headers=_DASHBOARD_HEADERS,
    )


async def _dashboard_state(request: web.Request) -> web.Response:
    router = _router(request)
    loops, own = _loops(request), request.app[_OWN_KEY]
    state = dashboard.build_state(
        await _enabled_infos(request),
        request.app[_STATS_KEY],
        configured=router.config.providers,
        excluded={name: own.reason(target) for name, target in loops.items()},
        secrets=server_secrets(request.app[_SETTINGS_KEY].api_key),
    )
    return _json(state)


# -- listings ------------------------------------------------------------------


async def _enabled_infos(request: web.Request) -> list[ProviderInfo]:
    router = _router(request)
    return [info for info in await router.adescribe() if router.is_enabled(info.name)]


def _loops(request: web.Request) -> dict[str, str]:
    """The enabled providers that point back at this server, with their targets."""
    return _self_routes(_router(request), request.app[_OWN_KEY])


def _self_routes(router: Router, own: OwnAddress) -> dict[str, str]:
    if not own.sockets:
        return {}
    found = {}
    for entry in router.registry.entries():
        target = own.target_of(router, entry.provider)
        if target is not None and router.is_enabled(entry.provider.name):
            found[entry.provider.name] = target
    return found


async def _routable_infos(request: web.Request) -> list[ProviderInfo]:
    loops = _loops(request)
    return [info for info in await _enabled_infos(request) if info.name not in loops]


async def _models(request: web.Request) -> web.Response:
    """The union of the usable providers' models (``owned_by``: the first serving it), then aliases.

    OpenAI-compatible providers are asked live (cached); a model several
    providers serve is listed once, ``providers`` naming them all.
    """
    router = _router(request)
    try:
        entries = await served_models(router)
    except errors.NoProviderAvailableError:
        entries = []
    cards: dict[str, ModelCard] = {}
    loops = _loops(request)
    for entry in entries:
        if entry.provider in loops:
            continue
        card = cards.setdefault(entry.model, ModelCard(id=entry.model, owned_by=entry.provider))
        if entry.provider not in card.providers:
            card.providers.append(entry.provider)
    for alias, providers in alias_providers(router, entries).items():
        # An alias wins over a model of the same name, as it does in routing.
        cards[alias] = ModelCard(id=alias, owned_by="alias", providers=providers)
    return _json(ModelList(data=list(cards.values())))


async def _providers(request: web.Request) -> web.Response:
    loops, own = _loops(request), request.app[_OWN_KEY]
    data = [
        ServedProvider.model_validate(
            {
                **info.model_dump(),
                "excluded": own.reason(loops[info.name]) if info.name in loops else None,
            }
        )
        for info in await _enabled_infos(request)
    ]
    return _json(ProviderList(data=data))


async def _health(request: web.Request) -> web.Response:
    store = _router(request).health
    status = getattr(store, "status", None)
    kind = "memory" if isinstance(store, InMemoryHealthStore) else type(store).__name__
    return _json(
        HealthResponse(
            version=__version__,
            providers=len(await _routable_infos(request)),
            health_store=HealthStoreStatus(**status()) if status else HealthStoreStatus(kind=kind),
        )
    )


async def _legacy_completions(request: web.Request) -> web.Response:
    raise _Problem(
        ApiError(
            404,
            "the legacy completions API (/v1/completions) is not served; "
            "use POST /v1/chat/completions",
            "invalid_request_error",
            "unsupported_endpoint",
        )
    )


async def _close_sessions(app: web.Application) -> None:
    # Graceful shutdown: the pooled upstream connections close with the server.
    await http_module.aclose()


async def _stop_watching(app: web.Application) -> None:
    app[_METRICS_KEY].unwatch()


def create_app(
    settings: ServerSettings | None = None, *, router: Router | None = None
) -> web.Application:
    """Build the server's :class:`aiohttp.web.Application`.

    ``settings`` default to the current configuration's ``[server]`` table;
    ``router`` defaults to :func:`g4f_lite.router.default_router` at each call.
    """
    settings = settings or ServerSettings.from_config()
    middlewares = [_errors_middleware]
    if settings.api_key is not None:
        protected = () if settings.metrics_public else ("/metrics",)
        middlewares.append(_auth_middleware(settings.api_key, protected))
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[_SETTINGS_KEY] = settings
    app[_ROUTER_KEY] = router
    app[_OWN_KEY] = OwnAddress()
    app[_STATS_KEY] = RequestStats()
    metrics = app[_METRICS_KEY] = ServerMetrics()
    if router is not None:
        metrics.watch(router)
    registry = build_registry(metrics, lambda: app[_ROUTER_KEY] or default_router())

    async def scrape(request: web.Request) -> web.Response:
        return web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", scrape)
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_post("/v1/completions", _legacy_completions)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/providers", _providers)
    app.router.add_get("/health", _health)
    app.router.add_get("/dashboard", _dashboard_page)
    app.router.add_get("/dashboard/{name}", _dashboard_asset)
    app.router.add_get("/v1/dashboard/state", _dashboard_state)
    app.on_cleanup.append(_close_sessions)
    app.on_cleanup.append(_stop_watching)
    return app


class Server:
    """The server on the running event loop, or in a thread: for tests and embedding.

    >>> async with Server(ServerSettings(port=0)) as server:
    ...     openai.AsyncOpenAI(base_url=server.url, api_key="-")

    ``url`` ends in ``/v1``, ready for an OpenAI client's ``base_url``.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        router: Router | None = None,
        access_log: bool = False,
    ) -> None:
        self.settings = settings or ServerSettings.from_config()
        self.router = router
        self.access_log = access_log
        self.port = self.settings.port
        self._runner: web.AppRunner | None = None
        self._own: OwnAddress | None = None

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:1337/v1``."""
        if self._runner is None:
            raise RuntimeError("the server is not running")
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/v1"

    async def start(self) -> None:
        """Start serving on the running loop."""
        app = create_app(self.settings, router=self.router)
        settings = self.settings
        kwargs: dict[str, Any] = {"access_log": None}
        if self.access_log and settings.access_log:
            json_lines = settings.log_format == "json"
            kwargs = {"access_log_class": JsonAccessLogger if json_lines else AccessLogger}
        self._runner = GuardedRunner(
            app,
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections,
            keepalive_timeout=settings.keepalive_timeout,
            # Cancel the handler when its client disconnects, so that the
            # upstream request is closed at once, not at the next write.
            handler_cancellation=True,
            shutdown_timeout=settings.shutdown_timeout,
            **kwargs,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.host, self.settings.port).start()
        self.port = self._runner.addresses[0][1]
        self._own = app[_OWN_KEY]
        self._own.listen_on(self._runner.addresses)
        for name, target in self.self_routes().items():
            logger.warning("provider %s is left out of routing: %s", name, self._own.reason(target))

    def self_routes(self) -> dict[str, str]:
        """The enabled providers whose target is this server, with that target (masked).

        They are left out of routing: a request sent to one would come back
        here (see :mod:`g4f_lite.server.selfroute`).
        """
        if self._own is None:
            return {}
        return _self_routes(self.router or default_router(), self._own)

    async def close(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), close upstream sessions."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[Server]:
        """Serve from a background thread with its own loop, for synchronous callers."""
        with loop_in_thread(self.start, self.close, name="g4f-lite-server"):
            yield self


def serve(
    settings: ServerSettings | None = None,
    *,
    router: Router | None = None,
    on_ready: Callable[[Server], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully.

    ``on_ready`` is called once the socket listens (the CLI prints the URL).
    The root logger's handlers mask the server's key and every configured
    provider secret while it runs.
    """

    async def main() -> None:
        server = Server(settings, router=router, access_log=True)
        secrets = server_secrets(server.settings.api_key)
        remove_filter = install_secret_filter(secrets)
        restore_format = install_log_format(server.settings.log_format, secrets)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, threads
                loop.add_signal_handler(sig, stop.set)
        await server.start()
        try:
            if on_ready is not None:
                on_ready(server)
            await stop.wait()
        finally:
            logger.info("shutting down")
            await server.close()
            # A shared health store writes what is pending before the process ends.
            aclose = getattr((router or default_router()).health, "aclose", None)
            if aclose is not None:
                await aclose()
            remove_filter()
            restore_format()

    asyncio.run(main())
