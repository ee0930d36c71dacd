"""``serve`` under hostile clients: what is refused, how, and what never leaks."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from g4f_lite import config, errors
from g4f_lite.policies import RetryPolicy
from g4f_lite.router import RoutedCall, Router
from g4f_lite.server import FORBIDDEN_FIELDS, Server, ServerSettings, create_app
from g4f_lite.server._errors import MAX_RETRY_AFTER, _retry_headers, api_error
from g4f_lite.server.logs import AccessLogger
from g4f_lite.server.models import normalize_field
from g4f_lite.testing import AIEngineEmulator, Fault, OpenAIEmulator

HI = [{"role": "user", "content": "Hi there"}]
KEY = "s3cret-server-key"


@pytest.fixture
async def local(site: AIEngineEmulator, first_party_plugins: None) -> AIEngineEmulator:
    config.configure(
        {
            "providers": {
                "Local": {"kind": "aiengine", "url": site.url, "models": ["local-model"]},
                "Opchatgpts": {"base_url": site.url},
            }
        }
    )
    return site


def no_retries() -> Router:
    return Router(retry=RetryPolicy(max_attempts=1))


@pytest.fixture
async def server(local: AIEngineEmulator) -> AsyncIterator[Server]:
    async with Server(ServerSettings(port=0), router=no_retries()) as running:
        yield running


async def post(server: Server, body: object, **headers: str) -> tuple[int, Any, Any]:
    """POST ``body`` (dicts as JSON); status, JSON answer and headers."""
    data = json.dumps(body) if isinstance(body, dict) else body
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", data=data, headers=headers) as response,
    ):
        return response.status, await response.json(), response.headers


async def raw(server: Server, request: bytes) -> tuple[int, bytes, bytes]:
    """Send ``request`` as bytes on a fresh connection; status, head and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def assert_openai_error(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert isinstance(error["message"], str) and isinstance(error["type"], str)
    assert error["request_id"]
    return error


# -- bodies -------------------------------------------------------------------------


@pytest.mark.parametrize("opener", ["[", '{"a":'])
async def test_deeply_nested_body_is_400(server: Server, opener: str) -> None:
    deep = '{"model": "", "messages": ' + opener * 5000
    status, body, _ = await post(server, deep)
    assert status == 400
    error = assert_openai_error(body)
    assert error["code"] == "invalid_json" and "deeper than" in error["message"]


async def test_nesting_under_the_bound_still_validates(server: Server) -> None:
    body = {"model": "", "messages": HI, "stream_options": {"a": [[[[{"b": 1}]]]]}}
    status, answer, _ = await post(server, json.dumps({**body, "provider": "Local"}))
    assert status == 200, answer


@pytest.mark.parametrize(
    "content", ['"\\ud800"', '"abc\\udfff"', '[{"type": "text", "text": "\\uDBFF"}]']
)
async def test_lone_surrogate_is_400(server: Server, content: str) -> None:
    text = '{"model": "", "provider": "Local", "messages": [{"role": "user", "content": %s}]}'
    status, body, _ = await post(server, text % content)
    assert status == 400
    error = assert_openai_error(body)
    assert error["param"].startswith("messages.0.content") and "surrogate" in error["message"]


async def test_surrogate_in_model_name_is_400(server: Server) -> None:
    status, body, _ = await post(
        server, '{"model": "\\ud800", "messages": [{"role": "user", "content": "x"}]}'
    )
    assert status == 400 and body["error"]["param"] == "model"


async def test_surrogate_pair_escape_is_a_clean_answer(
    server: Server, local: AIEngineEmulator
) -> None:
    message = '{"role": "user", "content": "\\ud83d\\ude00"}'
    text = '{"model": "", "provider": "Local", "messages": [' + message + "]}"
    status, body, _ = await post(server, text)
    assert status == 200, body
    assert local.requests[-1].body["newMessage"] == "\N{GRINNING FACE}"
    assert body["choices"][0]["message"]["content"].endswith("\N{GRINNING FACE}")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "yes"),
        ("stream", 1),
        ("temperature", "hot"),
        ("temperature", True),
        ("temperature", 3),
        ("top_p", "0.5"),
        ("max_tokens", "100"),
        ("max_tokens", 1.5),
        ("n", "1"),
        ("model", 7),
        ("provider", 5),
        ("presence_penalty", "high"),
        ("stop", 3),
        ("seed", "42"),
    ],
)
async def test_field_types_are_strict(server: Server, field: str, value: object) -> None:
    status, body, _ = await post(server, {"model": "", "messages": HI, field: value})
    assert status == 400
    error = assert_openai_error(body)
    assert error["param"] == field and error["code"] == "invalid_value"
    assert repr(value) not in error["message"] or isinstance(value, (int, bool))


async def test_non_finite_numbers_are_400(server: Server) -> None:
    status, body, _ = await post(
        server, '{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}'
    )
    assert status == 400 and body["error"]["param"] == "temperature"


async def test_sampling_fields_of_the_right_type_are_accepted(server: Server) -> None:
    body = {
        "model": "",
        "provider": "Local",
        "messages": HI,
        "stream": False,
        "temperature": 1,
        "top_p": 0.5,
        "max_tokens": 10,
        "stop": ["\n"],
        "seed": 3,
        "user": "u",
    }
    status, answer, _ = await post(server, body)
    assert status == 200, answer


# Every canonical name and the spellings a client (or an SDK) might use.
def _spellings(name: str) -> set[str]:
    words = name.split("_")
    camel = words[0] + "".join(w.capitalize() for w in words[1:])
    return {
        name,
        name.upper(),
        name.replace("_", "-"),
        name.replace("_", ""),
        camel,
        camel[0].upper() + camel[1:],
    }


SPELLINGS = sorted({s for name in FORBIDDEN_FIELDS for s in _spellings(name)})


def test_the_forbidden_list_covers_the_known_spellings() -> None:
    for name in ("baseURL", "BASE_URL", "api-base", "apiKey", "extra_headers", "credentials"):
        assert normalize_field(name) in {normalize_field(f) for f in FORBIDDEN_FIELDS}
    assert {"organization", "extra_body", "nonce", "cookies", "proxy"} <= FORBIDDEN_FIELDS


@pytest.mark.parametrize("field", [*SPELLINGS, "baseURL", "apiBase", "Api_Key"])
async def test_every_forbidden_field_and_spelling_is_refused(
    server: Server, local: AIEngineEmulator, field: str
) -> None:
    status, body, _ = await post(
        server, {"model": "", "messages": HI, "provider": "Local", field: "http://10.0.0.1"}
    )
    assert status == 400
    error = assert_openai_error(body)
    assert field in error["message"] and "10.0.0.1" not in json.dumps(body)
    assert not local.requests  # nothing reached the provider


async def test_unknown_fields_are_ignored_and_never_forwarded(
    server: Server, local: AIEngineEmulator
) -> None:
    body = {
        "model": "",
        "provider": "Local",
        "messages": [{"role": "user", "content": "Hi there", "name": "x", "weird": 1}],
        "frobnicate": "zzz-marker",
        "metadata": {"k": "zzz-marker"},
    }
    status, answer, _ = await post(server, body)
    assert status == 200, answer
    sent = json.dumps(local.requests[-1].body)
    assert "zzz-marker" not in sent and "frobnicate" not in sent


# -- auth -------------------------------------------------------------------------------


def v1_routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves under /v1/: a new route is covered at once."""
    app = create_app(ServerSettings(port=0, api_key=SecretStr(KEY)))
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/v1/") and route.method not in ("HEAD", "OPTIONS"):
            found.append((route.method, path))
    assert found
    return found


@pytest.fixture
async def keyed(local: AIEngineEmulator) -> AsyncIterator[Server]:
    keyed_settings = ServerSettings(port=0, api_key=SecretStr(KEY))
    async with Server(keyed_settings, router=no_retries()) as running:
        yield running


@pytest.mark.parametrize(("method", "path"), v1_routes())
async def test_bearer_auth_on_every_v1_route(keyed: Server, method: str, path: str) -> None:
    base = keyed.url.removesuffix("/v1")
    refused = [None, "Bearer wrong", f"Basic {KEY}", f"Bearer {KEY}x", KEY, f"Bearer  {KEY[:-1]}"]
    async with aiohttp.ClientSession() as session:
        for header in refused:
            headers = {} if header is None else {"Authorization": header}
            async with session.request(method, base + path, headers=headers) as response:
                assert response.status == 401, header
                error = assert_openai_error(await response.json())
                assert error["code"] == "invalid_api_key" and KEY not in json.dumps(error)
        for scheme in ("Bearer", "bearer", "BEARER"):
            headers = {"Authorization": f"{scheme} {KEY}"}
            async with session.request(method, base + path, headers=headers) as response:
                assert response.status != 401
        async with session.get(base + "/health") as response:
            assert response.status == 200


@pytest.mark.parametrize(
    "value", [b"Bearer \xff\xfe\x80", b"\xc3\x28 " + KEY.encode(), b"Bearer \xed\xa0\x80"]
)
async def test_non_utf8_authorization_is_401(keyed: Server, value: bytes) -> None:
    status, _, body = await raw(
        keyed,
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + value
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert status == 401
    assert json.loads(body)["error"]["code"] == "invalid_api_key"


# -- errors the client sees -----------------------------------------------------------


async def test_request_ids_in_headers_and_error_bodies(server: Server) -> None:
    status, body, headers = await post(server, {"model": "x"})
    assert status == 400 and body["error"]["request_id"] == headers["X-Request-Id"]
    status, body, headers = await post(server, {"model": "x"}, **{"X-Request-Id": "trace-42"})
    assert headers["X-Request-Id"] == "trace-42" and body["error"]["request_id"] == "trace-42"
    status, body, headers = await post(server, {"model": "x"}, **{"X-Request-Id": "a b\tc" * 30})
    assert len(headers["X-Request-Id"]) == 32  # not a sane id: a fresh one
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url.removesuffix("/v1") + "/health") as response:
            assert len(response.headers["X-Request-Id"]) == 32
        body_ok = {"model": "", "messages": HI, "provider": "Local", "stream": True}
        async with session.post(f"{server.url}/chat/completions", json=body_ok) as response:
            assert response.status == 200 and response.headers["X-Request-Id"]
            await response.read()


async def test_errors_hide_internal_hosts_and_library_names(
    first_party_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    config.configure({"providers": {"Dead": {"kind": "aiengine", "url": "http://127.0.0.1:9"}}})
    caplog.set_level(logging.INFO, logger="g4f_lite.server")
    async with Server(ServerSettings(port=0), router=no_retries()) as server:
        status, body, headers = await post(
            server, {"model": "", "messages": HI, "provider": "Dead"}
        )
    assert 500 <= status < 600 and status != 500
    text = json.dumps(body)
    for internal in ("127.0.0.1", ":9", "aiohttp", "Client", "Errno", "ssl"):
        assert internal not in text, internal
    error = assert_openai_error(body)
    assert "Dead" in error["message"]
    request_id = headers["X-Request-Id"]
    assert error["request_id"] == request_id
    logged = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert logged and "Dead" in logged[0]


async def test_upstream_request_fault_is_400_with_param(
    server: Server, local: AIEngineEmulator
) -> None:
    local.fault = Fault.http_status(413)
    status, body, _ = await post(server, {"model": "", "messages": HI, "provider": "Local"})
    assert status == 400
    error = assert_openai_error(body)
    assert error["type"] == "invalid_request_error" and error["code"] == "request_rejected"
    assert error["param"] is None or error["param"] == "messages"
    assert "HTTP 413" in error["message"]


async def test_upstream_auth_failure_is_a_clear_502(
    openai_server: OpenAIEmulator, first_party_plugins: None
) -> None:
    wrong = "sk-wrong-key-for-upstream"
    config.configure(
        {"providers": {"Up": {"kind": "openai", "base_url": openai_server.url, "api_key": wrong}}}
    )
    async with Server(ServerSettings(port=0), router=no_retries()) as server:
        status, body, _ = await post(
            server, {"model": "emulated-model", "messages": HI, "provider": "Up"}
        )
    assert status == 502 and body["error"]["code"] == "upstream_auth_failed"
    assert "Up" in body["error"]["message"] and wrong not in json.dumps(body)


def _failed(*errs: BaseException) -> errors.AllProvidersFailedError:
    return errors.AllProvidersFailedError(
        [errors.Attempt("P", i, e, 0.1) for i, e in enumerate(errs, 1)], 0.2
    )


@pytest.mark.parametrize(
    ("exc", "status", "code", "param"),
    [
        (
            errors.InvalidMessagesError("the last message must be from the user"),
            400,
            "invalid_value",
            "messages",
        ),
        (
            errors.RequestRejectedError("P", "query has been rejected"),
            400,
            "request_rejected",
            "messages",
        ),
        (errors.BadRequestError("P", 422, "too long"), 400, "request_rejected", None),
        (
            _failed(errors.ServerError("P", 500), errors.RequestRejectedError("P", "no")),
            400,
            "request_rejected",
            "messages",
        ),
        (
            _failed(errors.BadRequestError("P", 400, "context length")),
            400,
            "request_rejected",
            None,
        ),
        (errors.AuthenticationError("P", 401), 502, "upstream_auth_failed", None),
        (errors.PermissionDeniedError("P", 403), 502, "upstream_auth_failed", None),
        (errors.MissingCredentialsError("P", "set $KEY"), 502, "upstream_auth_failed", None),
        (
            _failed(errors.AuthenticationError("P", 401), errors.MissingCredentialsError("P", "x")),
            502,
            "upstream_auth_failed",
            None,
        ),
        (
            _failed(errors.AuthenticationError("P", 401), errors.ServerError("P", 500)),
            502,
            "all_providers_failed",
            None,
        ),
        (errors.BadRequestError("P", 418, "teapot"), 502, "bad_request_error", None),
    ],
)
def test_error_mapping(exc: BaseException, status: int, code: str, param: str | None) -> None:
    error = api_error(exc)
    assert (error.status, error.code, error.param) == (status, code, param)
    if status == 400:
        assert error.type == "invalid_request_error"


def test_transport_text_never_reaches_the_client_message() -> None:
    inner = errors.ProviderConnectionError(
        "P", "Cannot connect to host 10.1.2.3:8443 ssl:default [ClientConnectorError]"
    )
    for exc in (inner, _failed(inner), errors.PartialResponseError("P", "abc", inner)):
        message = api_error(exc).message
        assert "10.1.2.3" not in message and "ClientConnector" not in message, message
        assert "P" in message


@pytest.mark.parametrize(
    ("seconds", "header"),
    [
        (None, None),
        (float("nan"), None),
        (float("inf"), str(MAX_RETRY_AFTER)),
        (1e400, str(MAX_RETRY_AFTER)),
        (1e300, str(MAX_RETRY_AFTER)),
        (-5.0, "1"),
        (0.2, "1"),
        (2.5, "3"),
    ],
)
def test_retry_after_is_clamped(seconds: float | None, header: str | None) -> None:
    assert _retry_headers(seconds).get("Retry-After") == header


@pytest.fixture
def raising(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Every routed call raises the error put in the list, as the router would."""
    raised: list[BaseException] = []

    async def answer(self: RoutedCall) -> Any:
        raise raised[0]

    monkeypatch.setattr(RoutedCall, "answer", answer)
    return raised


@pytest.mark.parametrize("wait", [float("inf"), float("nan"), 1e308])
async def test_huge_retry_after_through_the_server(
    server: Server, raising: list[BaseException], wait: float
) -> None:
    for exc in (
        errors.RateLimitError("Local", 429, retry_after=wait),
        errors.ProviderBenchedError("Local", wait),
        errors.AllProvidersBenchedError("all benched", {"Local": 1.0}, wait),
        _failed(errors.RateLimitError("Local", 429, retry_after=wait)),
    ):
        raising[:] = [exc]
        status, body, headers = await post(server, {"model": "", "messages": HI})
        assert status in (429, 503), body
        assert_openai_error(body)
        assert int(headers.get("Retry-After", "1")) <= MAX_RETRY_AFTER


async def test_unexpected_errors_are_a_bare_500(
    server: Server, raising: list[BaseException]
) -> None:
    raising[:] = [RuntimeError("internal detail at 10.9.8.7")]
    status, body, _ = await post(server, {"model": "", "messages": HI})
    assert status == 500 and "10.9.8.7" not in json.dumps(body)
    assert assert_openai_error(body)["code"] == "internal_error"


# -- routes and methods -----------------------------------------------------------------


@pytest.mark.parametrize(
    "request_line",
    [
        b"FROB /v1/chat/completions HTTP/1.1",
        b"DELETE /v1/models HTTP/1.1",
        b"GET /v1/secret-path-marker HTTP/1.1",
        b"G@T /v1/models HTTP/1.1",
        b"GET /\xff\xfe-marker HTTP/1.1",
    ],
)
async def test_unknown_methods_and_routes_are_openai_shaped(
    server: Server, request_line: bytes
) -> None:
    status, head, body = await raw(
        server, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert 400 <= status < 500
    error = assert_openai_error(json.loads(body))
    method, path = request_line.split(b" ")[:2]
    assert method.decode("latin-1") not in error["message"]
    assert b"marker" not in body and path.decode("latin-1") not in error["message"]
    assert b"X-Request-Id" in head


# -- logs -------------------------------------------------------------------------------


def test_access_log_masks_query_secrets(caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    logger = logging.getLogger("test.access")
    access = AccessLogger(logger, "")
    caplog.set_level(logging.INFO, logger="test.access")
    for path in (
        "/v1/models?api_key=sk-leaky-one&x=1",
        "/v1/models?key=leaky-two",
        "/v1/models?a=1&token=leaky-three",
        "/v1/models?API_KEY=leaky-four",
    ):
        access.log(make_mocked_request("GET", path), web.Response(status=200), 0.01)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "leaky" not in text and "/v1/models?" in text and "x=1" in text


def test_secret_filter_knows_the_server_and_provider_keys() -> None:
    from g4f_lite.server.logs import install_secret_filter, server_secrets

    config.configure(
        {
            "providers": {
                "Opchatgpts": {"base_url": "http://user:proxy-pass-1@127.0.0.1:1"},
            }
        }
    )
    secrets = server_secrets(ServerSettings(api_key=SecretStr(KEY)).api_key)
    assert KEY in secrets and "proxy-pass-1" in secrets
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect()
    remove = install_secret_filter(secrets, [handler])
    logger = logging.getLogger("test.secret-filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("key %s and proxy-pass-1", KEY)
        remove()
        logger.warning("after %s", "removal")
    finally:
        logger.removeHandler(handler)
    assert records[0] == "key *** and ***" and records[1] == "after removal"


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"header_timeout": float("inf")}, "header_timeout"),
        ({"header_timeout": 0}, "header_timeout"),
        ({"keepalive_timeout": -1}, "keepalive_timeout"),
        ({"keepalive_timeout": float("nan")}, "keepalive_timeout"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_connections": "many"}, "max_connections"),
        ({"max_connections": 1.5}, "max_connections"),
        ({"port": "8080"}, "port"),
        ({"timeout": "30"}, "timeout"),
        ({"max_conections": 5}, "max_conections"),
    ],
)
def test_server_limits_are_validated(table: dict[str, Any], key: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=key) as caught:
        ServerSettings.from_config(table)
    assert "many" not in str(caught.value)


def test_unknown_server_key_lists_the_allowed_ones() -> None:
    with pytest.raises(errors.ConfigurationError, match=r"allowed: .*max_connections"):
        ServerSettings.from_config({"max_conections": 5})


def test_server_limit_defaults() -> None:
    found = ServerSettings.from_config({})
    assert (found.header_timeout, found.keepalive_timeout, found.max_connections) == (
        30.0,
        75.0,
        1024,
    )


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
@settings(max_examples=100, deadline=None)
def test_retry_headers_never_raise(seconds: float | None) -> None:
    value = _retry_headers(seconds).get("Retry-After")
    assert value is None or 1 <= int(value) <= MAX_RETRY_AFTER
