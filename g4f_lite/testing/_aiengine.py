"""An offline emulator of the WordPress "AI Engine" chat protocol, faults included.

Besides the chat endpoint it emulates how each plugin generation lets a
logged-out visitor in (``generation=``):

==========  =============================================================
generation  behaviour
==========  =============================================================
``"1.9"``   no nonce (the default, as opchatgpts.net ran)
``"2.0"``   ``X-WP-Nonce`` required; the chat page's ``data-system``
            attribute carries ``restNonce``; no ``start_session``
``"2.4.4"`` as 2.0, plus ``POST /wp-json/mwai/v1/start_session``
``"2.8.5"`` as 2.4.4, plus rotation: a nonce 12-24 hours old is accepted
            and replaced (``end.new_token``, ``X-WP-Nonce`` header)
``"3.x"``   the page's ``restNonce`` and ``sessionId`` are ``null``:
            ``start_session`` is the only way in; rotation as 2.8.5
==========  =============================================================

Every answer (the ``end`` event and the ``stream: false`` JSON) carries
``usage`` as the plugin reports it: by default word counts of the context
and of the reply (``usage=`` changes that). As the real plugin, which lets
the request body override the chatbot's settings, it honours a positive
integer ``maxTokens`` (the reply is cut to its first N words) and records
``temperature`` untouched.

The site may live in a subdirectory (``root="/blog"``, as WordPress
installed at ``https://host/blog/``): its REST routes and chat page are then
under ``/blog`` and :attr:`~AIEngineEmulator.url` ends with it. Every page
announces the REST root as WordPress does (``<link rel="https://api.w.org/">``);
``chatbot=False`` serves the page without the chatbot (a plain blog page).

Nonces follow WordPress: one nonce per 12-hour tick, shared by every
anonymous visitor, accepted for two ticks. Time is virtual: call
:meth:`AIEngineEmulator.advance` to age nonces without waiting. A request
without a nonce gets 401 ``rest_forbidden``; a stale or wrong one gets 403
``rest_cookie_invalid_nonce``.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from aiohttp import web

from ._server import LocalServer, RecordedRequest

__all__ = [
    "API_KEY_PLACEHOLDER",
    "COUNT_USAGE",
    "AIEngineEmulator",
    "Fault",
    "FaultKind",
    "FaultPlace",
    "Generation",
    "RecordedRequest",
    "deep_json",
]

SUBMIT_PATH = "/wp-json/mwai-ui/v1/chats/submit"
_BATCH_BYTES = 2048
START_SESSION_PATH = "/wp-json/mwai/v1/start_session"

#: The plugin generations the emulator can play (see the module docstring).
Generation: TypeAlias = Literal["1.9", "2.0", "2.4.4", "2.8.5", "3.x"]
_GENERATIONS: tuple[Generation, ...] = ("1.9", "2.0", "2.4.4", "2.8.5", "3.x")
# WordPress nonces live for two ticks of 12 hours.
_TICK_HOURS = 12.0

FaultKind = Literal[
    "status",
    "drop",
    "garbage",
    "no_type",
    "no_end",
    "error_event",
    "huge_line",
    "slow_first_byte",
    "stall",
    "subtypes",
    "json_content_type",
    "error_body",
    "deep_json",
    "bad_credential",
    "raw",
]

#: Where a ``deep_json`` or ``bad_credential`` fault strikes (see their builders).
FaultPlace = Literal["line", "end", "body", "error_body", "page", "new_token", "session", "header"]

#: The default ``usage=`` of :class:`AIEngineEmulator`: count words, as 3.x reports it.
COUNT_USAGE = "count"

#: In a fault's ``message``, replaced by the API key the client sent
#: (OpenAI emulator), to check that clients never show an echoed key.
API_KEY_PLACEHOLDER = "{api_key}"


def deep_json(depth: int) -> str:
    """``depth`` nested JSON arrays around a string: valid JSON, hostile to recursive parsers."""
    return "[" * depth + '"deep"' + "]" * depth


@dataclass(frozen=True)
class Fault:
    """One way for the emulated site to misbehave.

    Build faults with the classmethods (``Fault.status(429, retry_after=2)``,
    ``Fault.drop(after=3)``, ...). ``after`` counts the text chunks sent
    before the fault strikes.
    """

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    after: int = 2
    delay: float = 1.0
    size: int = 2 * 1024 * 1024
    message: str = "OpenAI: The server had an error while processing your request."
    where: FaultPlace = "line"
    depth: int = 100_000
    value: str = "abc\r\nX-Injected: 1"
    body: tuple[bytes, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def http_status(cls, status: int, *, retry_after: float | None = None) -> Fault:
        """Answer with ``status`` and the plugin's JSON body for it (401, 403, 429, 500...)."""
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def drop(cls, after: int = 2) -> Fault:
        """Cut the connection after ``after`` chunks, mid-body."""
        return cls("drop", after=after)

    @classmethod
    def garbage(cls, after: int = 2) -> Fault:
        """Send a ``data:`` line that is not JSON."""
        return cls("garbage", after=after)

    @classmethod
    def no_type(cls, after: int = 2) -> Fault:
        """Send a JSON event without ``type``."""
        return cls("no_type", after=after)

    @classmethod
    def no_end(cls) -> Fault:
        """Send every chunk, then close the stream cleanly without ``end``."""
        return cls("no_end")

    @classmethod
    def error_event(cls, after: int = 0, message: str | None = None) -> Fault:
        """Send an SSE ``error`` event (HTTP 200), as upstream failures appear."""
        return cls("error_event", after=after, message=message or cls.message)

    @classmethod
    def huge_line(cls, after: int = 1, size: int = 2 * 1024 * 1024) -> Fault:
        """Send one ``live`` event of ``size`` bytes."""
        return cls("huge_line", after=after, size=size)

    @classmethod
    def slow_first_byte(cls, delay: float = 1.0) -> Fault:
        """Wait ``delay`` seconds before sending the response headers."""
        return cls("slow_first_byte", delay=delay)

    @classmethod
    def stall(cls, after: int = 2, delay: float = 1.0) -> Fault:
        """Pause ``delay`` seconds mid-stream, then carry on."""
        return cls("stall", after=after, delay=delay)

    @classmethod
    def subtypes(cls) -> Fault:
        """Interleave newer plugins' non-content ``live`` events (status, thinking...)."""
        return cls("subtypes")

    @classmethod
    def json_content_type(cls) -> Fault:
        """Label the SSE stream ``application/json``, as some setups do."""
        return cls("json_content_type")

    @classmethod
    def error_body(cls, message: str, *, status: int = 200) -> Fault:
        """Answer ``{"error": {"message": ...}}`` with ``status`` (by default a 200).

        ``{api_key}`` in ``message`` is replaced by the key the client sent
        (OpenAI emulator), as servers that echo the key do.
        """
        return cls("error_body", status=status, message=message)

    @classmethod
    def deep_json(cls, where: FaultPlace = "line", *, depth: int = 100_000) -> Fault:
        """Send JSON nested ``depth`` levels deep.

        ``where``: ``"line"`` a streamed event, ``"end"`` the AI Engine ``end``
        data, ``"body"`` the non-stream answer, ``"error_body"`` a 500 error
        body, ``"page"`` the chat page's ``data-system`` (AI Engine).
        """
        return cls("deep_json", where=where, depth=depth)

    @classmethod
    def bad_credential(
        cls, where: FaultPlace = "new_token", value: str = "abc\r\nX-Injected: 1"
    ) -> Fault:
        """Hand out ``value`` (by default with CR/LF) as a credential (AI Engine).

        ``where``: ``"new_token"`` the rotated nonce in ``end``; ``"page"``
        the chat page's ``restNonce``; ``"session"`` the ``start_session``
        nonce; ``"header"`` an ``X-WP-Nonce`` response header. Page and
        session faults apply to the next such request, not to a chat request.
        """
        return cls("bad_credential", where=where, value=value)

    @classmethod
    def raw(
        cls,
        status: int = 200,
        body: tuple[bytes, ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Fault:
        """Answer exactly ``status``, ``headers`` and ``body`` (written chunk by chunk)."""
        return cls("raw", status=status, body=body, headers=headers)


async def write_raw(request: web.Request, fault: Fault) -> web.StreamResponse:
    """Send a ``raw`` fault's answer: its status, headers and body chunks as given."""
    response = web.StreamResponse(status=fault.status)
    for name, value in fault.headers:
        response.headers[name] = value
    await response.prepare(request)
    for chunk in fault.body:
        await response.write(chunk)
    await response.write_eof()
    return response


_STATUS_BODIES: dict[int, dict[str, Any]] = {
    401: {
        "code": "rest_forbidden",
        "message": "Sorry, you are not allowed to do that.",
        "data": {"status": 401},
    },
    403: {
        "code": "rest_cookie_invalid_nonce",
        "message": "Cookie check failed",
        "data": {"status": 403},
    },
    404: {
        "code": "rest_no_route",
        "message": "No route was found matching the URL and request method.",
        "data": {"status": 404},
    },
    429: {"success": False, "message": "You have reached the limit.", "overLimit": True},
}


def _default_reply(request: RecordedRequest) -> str:
    message = request.body.get("newMessage", "") if isinstance(request.body, dict) else ""
    return f"Hello from the AI Engine emulator! You said: {message}"


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class AIEngineEmulator(LocalServer):
    """An AI Engine site on 127.0.0.1 with a free port.

    Use it as an async context manager on the running loop, or with
    :meth:`run_in_thread` from synchronous code. Every request is appended to
    :attr:`requests`. Faults queued in :attr:`faults` apply to one request
    each, in order; :attr:`fault`, when set, applies to every other request.
    """

    def __init__(
        self,
        *,
        reply: str | Callable[[RecordedRequest], str] | None = None,
        words_per_chunk: int = 1,
        faults: Iterable[Fault] = (),
        fault: Fault | None = None,
        input_limit: int = 512,
        max_messages: int = 15,
        generation: Generation = "1.9",
        page_path: str = "/",
        root: str = "",
        chatbot: bool = True,
        bot_id: str = "default",
        custom_id: str | None = None,
        context_id: int = 28,
        refresh_header: bool = True,
        usage: object = COUNT_USAGE,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if generation not in _GENERATIONS:
            raise ValueError(f"generation must be one of {', '.join(_GENERATIONS)}")
        self.generation: Generation = generation
        if root and (not root.startswith("/") or root.endswith("/")):
            raise ValueError("root must be empty or a path such as '/blog'")
        #: Where WordPress is installed on the server: ``""``, or a subdirectory.
        self.root = root
        #: Where the chat page (with its ``data-system`` attribute) is served,
        #: under :attr:`root`.
        self.page_path = page_path
        #: Whether the page shows the chatbot (``False``: no ``data-system``).
        self.chatbot = chatbot
        #: The chatbot settings the page advertises.
        self.bot_id = bot_id
        self.custom_id = custom_id
        self.context_id = context_id
        #: Whether a rotated nonce also comes back in the ``X-WP-Nonce`` header
        #: (turn off to check that clients read ``end.new_token``).
        self.refresh_header = refresh_header
        #: The ``usage`` of every answer: :data:`COUNT_USAGE` (word counts of the
        #: context and the reply, with 3.x's ``price``, ``queries`` and
        #: ``accuracy``), or any other value, sent as it is (``None``: ``null``;
        #: a malformed value, to test clients).
        self.usage = usage
        #: Virtual hours since the emulator started; see :meth:`advance`.
        self.clock_hours = 0.0
        #: Session ids handed out by ``start_session``.
        self.sessions: list[str] = []
        self._secret = secrets.token_hex(8)
        self.reply = reply
        self.words_per_chunk = words_per_chunk
        self.faults: deque[Fault] = deque(faults)
        self.fault = fault
        self.input_limit = input_limit
        self.max_messages = max_messages
        super().__init__(host=host, port=port)

    @property
    def url(self) -> str:
        """The site's base URL, e.g. ``http://127.0.0.1:43125`` (with :attr:`root`, if any)."""
        return self.origin + self.root

    @property
    def page_url(self) -> str:
        """The chat page's address, e.g. ``http://127.0.0.1:43125/chat/``."""
        return f"{self.url}/{self.page_path.lstrip('/')}"

    def reset(self) -> None:
        """Forget recorded requests and faults."""
        self.requests.clear()
        self.faults.clear()
        self.fault = None

    # -- nonces ------------------------------------------------------------

    @property
    def requires_nonce(self) -> bool:
        """Whether chat requests need ``X-WP-Nonce`` (plugin >= 2.0)."""
        return self.generation != "1.9"

    @property
    def page_has_nonce(self) -> bool:
        """Whether the chat page's ``data-system`` carries a ``restNonce`` (2.0 to 2.x)."""
        return self.generation in ("2.0", "2.4.4", "2.8.5")

    @property
    def has_start_session(self) -> bool:
        """Whether ``POST /wp-json/mwai/v1/start_session`` exists (plugin >= 2.4.4)."""
        return self.generation in ("2.4.4", "2.8.5", "3.x")

    @property
    def rotates(self) -> bool:
        """Whether a nonce 12-24 hours old is replaced through ``new_token`` (>= 2.8.5)."""
        return self.generation in ("2.8.5", "3.x")

    @property
    def nonce(self) -> str:
        """The nonce issued right now (what the page or ``start_session`` hands out)."""
        return self._nonce_for(self._tick())

    def advance(self, hours: float) -> None:
        """Move the virtual clock: 12 hours ages a nonce, 24 hours expires it."""
        self.clock_hours += hours

    def revoke_nonces(self) -> None:
        """Invalidate every nonce handed out so far, as a change of WordPress salts does."""
        self._secret = secrets.token_hex(8)

    def _tick(self) -> int:
        return math.floor(self.clock_hours / _TICK_HOURS)

    def _nonce_for(self, tick: int) -> str:
        return hashlib.sha256(f"{self._secret}:{tick}".encode()).hexdigest()[:10]

    def _verify(self, nonce: str) -> int:
        """As ``wp_verify_nonce``: 1 if fresh, 2 if 12-24 hours old, 0 if invalid."""
        tick = self._tick()
        if secrets.compare_digest(nonce, self._nonce_for(tick)):
            return 1
        if secrets.compare_digest(nonce, self._nonce_for(tick - 1)):
            return 2
        return 0

    # -- protocol ----------------------------------------------------------

    def _next_fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else self.fault

    def _take_fault(self, where: FaultPlace) -> Fault | None:
        """The queued fault aimed at the page or ``start_session``, if it is next."""
        head = self.faults[0] if self.faults else None
        if (
            head is not None
            and head.where == where
            and head.kind in ("bad_credential", "deep_json")
        ):
            return self.faults.popleft()
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request)
        body = record.body
        root = self.root
        if request.method == "GET" and request.path == root + self.page_path:
            return self._page(self._take_fault("page"))
        if request.method == "POST" and request.path == root + START_SESSION_PATH:
            if not self.has_start_session:
                return web.json_response(_STATUS_BODIES[404], status=404)
            return self._start_session(self._take_fault("session"))
        if request.method != "POST" or request.path != root + SUBMIT_PATH:
            return web.json_response(_STATUS_BODIES[404], status=404)
        if not isinstance(body, dict):
            return web.json_response(
                {"code": "rest_invalid_json", "message": "Invalid JSON body passed."}, status=400
            )
        new_token: str | None = None
        if self.requires_nonce:
            sent = request.headers.get("X-WP-Nonce")
            if not sent:
                return web.json_response(_STATUS_BODIES[401], status=401)
            age = self._verify(sent)
            if age == 0:
                return web.json_response(_STATUS_BODIES[403], status=403)
            if age == 2 and self.rotates:
                new_token = self.nonce
        fault = self._next_fault()
        if fault is not None and fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind == "status":
            return self._status_response(fault)
        if fault is not None and fault.kind == "raw":
            return await write_raw(request, fault)
        if fault is not None and fault.kind == "error_body":
            payload = {"success": False, "message": fault.message}
            return web.json_response(payload, status=fault.status)
        if fault is not None and fault.kind == "deep_json" and fault.where == "error_body":
            return web.Response(
                text=deep_json(fault.depth), status=500, content_type="application/json"
            )
        if fault is not None and fault.kind == "bad_credential" and fault.where == "new_token":
            new_token = fault.value

        new_message = body.get("newMessage")
        if not isinstance(new_message, str) or not new_message.strip():
            return web.json_response(
                {"success": False, "message": "Sorry, your query has been rejected."}, status=403
            )
        history = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        if len(history) > self.max_messages + 1:
            history = [history[0], *history[-self.max_messages :]]
        record.context = [*history, {"role": "user", "content": new_message}]
        if len(new_message) > self.input_limit:
            # Rejected before streaming: HTTP 200, JSON content type, SSE framing.
            message = (
                f"The message is too long! It should be less than {self.input_limit} characters."
            )
            return web.Response(
                body=_sse({"type": "error", "data": message}), content_type="application/json"
            )

        text = (
            self.reply(record) if callable(self.reply) else (self.reply or _default_reply(record))
        )
        max_tokens = body.get("maxTokens")
        if type(max_tokens) is int and max_tokens > 0:
            text = " ".join(text.split(" ")[:max_tokens])
        usage = _usage(record.context, text) if self.usage == COUNT_USAGE else self.usage
        headers = {}
        hostile_token = fault is not None and fault.kind == "bad_credential"
        if new_token is not None and self.refresh_header and not hostile_token:
            headers["X-WP-Nonce"] = new_token
        if fault is not None and fault.kind == "bad_credential" and fault.where == "header":
            headers["X-WP-Nonce"] = fault.value
        if fault is not None and fault.kind == "deep_json" and fault.where == "body":
            return web.Response(text=deep_json(fault.depth), content_type="application/json")
        if body.get("stream") is not True:
            answer: dict[str, Any] = {
                "success": True,
                "reply": text,
                "images": None,
                "usage": usage,
            }
            if new_token is not None:
                answer["new_token"] = new_token
            try:
                return await self._whole(request, answer, fault, headers)
            except ConnectionResetError:
                return web.Response(status=499)
        try:
            return await self._stream(request, text, usage, fault, new_token, headers)
        except ConnectionResetError:
            # The client went away (e.g. its timeout fired); nothing to answer.
            return web.Response(status=499)

    async def _whole(
        self,
        request: web.Request,
        answer: dict[str, Any],
        fault: Fault | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """The ``stream: false`` answer, with the stream faults as a JSON reply suffers them.

        ``drop`` cuts the body mid-JSON (short of its Content-Length);
        ``no_end`` ends a cut body cleanly, as PHP stopped mid-output;
        ``garbage`` is a PHP error page; ``no_type`` a JSON object without
        ``reply``; ``error_event`` the plugin's HTTP 500 ``success: false``;
        ``huge_line`` a reply of ``size`` bytes; ``stall`` a wait first.
        """
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "stall":
            await asyncio.sleep(fault.delay)
        if fault is not None and kind == "error_event":
            return web.json_response({"success": False, "message": fault.message}, status=500)
        if fault is not None and kind == "huge_line":
            answer = {**answer, "reply": answer["reply"] + "x" * fault.size}
        if kind == "garbage":
            return web.Response(
                body=b"<b>Fatal error</b>: this is not JSON", content_type="application/json"
            )
        if kind == "no_type":
            answer = {"success": True, "data": "an answer without a reply"}
        data = json.dumps(answer).encode()
        if kind not in ("drop", "no_end"):
            return web.Response(body=data, content_type="application/json", headers=headers)
        response = web.StreamResponse(headers={"Content-Type": "application/json", **headers})
        if kind == "drop":
            response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        if kind == "drop" and request.transport is not None:
            request.transport.abort()
            return response
        await response.write_eof()
        return response

    def _status_response(self, fault: Fault) -> web.Response:
        payload = _STATUS_BODIES.get(fault.status, {"success": False, "message": fault.message})
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return web.json_response(payload, status=fault.status, headers=headers)

    def _chunks(self, text: str) -> list[str]:
        words = text.split(" ")
        step = max(1, self.words_per_chunk)
        chunks = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        # Keep the separating spaces so that the chunks join back into the text.
        return [c if i == len(chunks) - 1 else c + " " for i, c in enumerate(chunks)]

    def _page(self, fault: Fault | None = None) -> web.Response:
        """The chat page, with the chatbot's settings in ``data-system`` (plugin >= 2.0)."""
        if fault is not None and fault.kind == "deep_json":
            escaped = html.escape(deep_json(fault.depth), quote=True)
            chatbot = f"<div class='mwai-chatbot-container' data-system='{escaped}'></div>"
        elif not self.chatbot:
            chatbot = "<article><p>Just a blog post: no chatbot here.</p></article>"
        elif self.generation == "1.9":
            chatbot = '<div class="mwai-chat" id="mwai-chat-default"></div>'
        else:
            system = {
                "botId": self.bot_id,
                "customId": self.custom_id,
                "contextId": self.context_id,
                "restNonce": (fault.value if fault is not None else self.nonce)
                if self.page_has_nonce
                else None,
                "sessionId": secrets.token_hex(6) if self.page_has_nonce else None,
                "restUrl": f"{self.url}/wp-json",
                "stream": True,
            }
            escaped = html.escape(json.dumps(system), quote=True)
            chatbot = f"<div class='mwai-chatbot-container' data-system='{escaped}'></div>"
        # WordPress announces its REST root on every page.
        api = html.escape(f"{self.url}/wp-json/", quote=True)
        page = (
            "<!DOCTYPE html><html><head><title>Chat</title>"
            f'<link rel="https://api.w.org/" href="{api}" /></head>'
            f"<body><main>{chatbot}</main></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    def _start_session(self, fault: Fault | None = None) -> web.Response:
        if fault is not None and fault.kind == "deep_json":
            return web.Response(text=deep_json(fault.depth), content_type="application/json")
        session_id = secrets.token_hex(8)
        self.sessions.append(session_id)
        nonce = fault.value if fault is not None else self.nonce
        response = web.json_response({"success": True, "sessionId": session_id, "restNonce": nonce})
        response.set_cookie("mwai_session_id", session_id, path="/")
        return response

    async def _stream(
        self,
        request: web.Request,
        text: str,
        usage: object,
        fault: Fault | None,
        new_token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        kind = fault.kind if fault is not None else None
        content_type = "application/json" if kind == "json_content_type" else "text/event-stream"
        response = web.StreamResponse(headers={"Content-Type": content_type, **(headers or {})})
        await response.prepare(request)
        if kind == "subtypes":
            await response.write(
                _sse(
                    {
                        "type": "live",
                        "subtype": "status",
                        "data": "Starting stream...",
                        "timestamp": time.time(),
                        "visibility": "hidden",
                    }
                )
            )
        pending = bytearray()
        for index, chunk in enumerate(self._chunks(text)):
            if fault is not None and index == fault.after:
                await self._flush(response, pending)
                if not await self._strike(request, response, fault):
                    return response
            if kind == "subtypes":
                pending += _sse(
                    {
                        "type": "live",
                        "subtype": "thinking",
                        "data": "hmm",
                        "metadata": {"step": index},
                    }
                )
            pending += _sse({"type": "live", "data": chunk})
            # Events go out in small batches: one write per event would make the
            # emulator, not the client under test, the bottleneck of benchmarks.
            if len(pending) >= _BATCH_BYTES:
                await self._flush(response, pending)
        await self._flush(response, pending)
        if kind == "no_end":
            await response.write_eof()
            return response
        if fault is not None and kind == "deep_json" and fault.where in ("line", "end"):
            nested = deep_json(fault.depth)
            if fault.where == "line":
                line = b'data: {"type": "live", "data": ' + nested.encode() + b"}\n\n"
                await response.write(line)
            else:  # the end data is a JSON-encoded string, as the plugin sends it
                await response.write(_sse({"type": "end", "data": nested}))
            await response.write_eof()
            return response
        end = {
            "success": True,
            "reply": text,
            "images": None,
            "usage": usage,
            "responseId": None,
            "actions": [],
            "shortcuts": [],
            "blocks": [],
        }
        if new_token is not None:
            end["new_token"] = new_token
        # The plugin JSON-encodes the end payload into a string.
        await response.write(_sse({"type": "end", "data": json.dumps(end)}))
        await response.write_eof()
        return response

    @staticmethod
    async def _flush(response: web.StreamResponse, pending: bytearray) -> None:
        if pending:
            await response.write(bytes(pending))
            pending.clear()

    async def _strike(
        self, request: web.Request, response: web.StreamResponse, fault: Fault
    ) -> bool:
        """Apply a mid-stream fault; return whether the stream goes on."""
        if fault.kind == "drop":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return False
        if fault.kind == "garbage":
            await response.write(b"data: <b>Fatal error</b>: this is not JSON\n\n")
        elif fault.kind == "no_type":
            await response.write(_sse({"data": "an event without a type"}))
        elif fault.kind == "error_event":
            await response.write(_sse({"type": "error", "data": fault.message}))
        elif fault.kind == "huge_line":
            # A legitimate, merely enormous, event: the stream then goes on.
            await response.write(_sse({"type": "live", "data": "x" * fault.size}))
            return True
        elif fault.kind == "stall":
            await asyncio.sleep(fault.delay)
            return True
        else:
            return True
        await response.write_eof()
        return False


def _usage(context: list[dict[str, Any]], reply: str) -> dict[str, Any]:
    """What AI Engine 3.x reports: token counts (here words), price, queries, accuracy."""
    prompt = sum(len(str(m.get("content", "")).split()) for m in context)
    completion = len(reply.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "price": None,
        "queries": 1,
        "accuracy": "estimated",
    }
