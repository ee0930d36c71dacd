"""Fuzzing ``POST /v1/chat/completions``: whatever a client sends, never a 5xx.

One server per test, reused by every example. The only enabled provider is
a fake that echoes the last message back (so odd text is serialised on the
way out too); Opchatgpts is disabled, so no example can reach the internet.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from g4f_lite import config
from g4f_lite.policies import RetryPolicy
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.registry import registry
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.types import Messages

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_content = st.text(max_size=40) | st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", 3]), "text": _scalars}),
    max_size=3,
)
_message = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "wizard", 1]),
        "content": _content | _json,
        "name": _scalars,
    },
)
# Close to a real request, with each field sometimes wrong: reaches deep into validation.
_request = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["", "gpt-3.5-turbo", "no-such-model"]) | _scalars,
        "messages": st.lists(_message, max_size=4) | _json,
        "stream": st.booleans() | _scalars,
        "provider": st.sampled_from(["Fake", "Nope", "Opchatgpts", ["Fake"], []]) | _json,
        "temperature": _scalars,
        "max_tokens": _scalars,
        "n": _scalars,
        "tools": _json,
        "stop": _json,
        "base_url": _scalars,
        "BaseURL": _scalars,
    },
).map(lambda body: {**body, **({"provider": "Fake"} if "provider" not in body else {})})
_bodies = (
    _request.map(lambda body: json.dumps(body).encode())
    | _json.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
    | st.text(max_size=100).map(lambda text: text.encode("utf-8", "surrogatepass"))
)


class Fake(AsyncGeneratorProvider):
    """Answers with the last message's text, in two chunks."""

    name = "Fake"
    working = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        text = str(messages[-1]["content"]) if messages else ""
        yield "echo: "
        yield text


@pytest.fixture
def running() -> Iterator[Server]:
    registry.register(Fake)
    config.configure({"providers": {"Fake": {"enabled": False}}})
    router = Router(retry=RetryPolicy(max_attempts=1))
    with Server(ServerSettings(port=0, timeout=30), router=router).run_in_thread() as server:
        yield server


def _post(server: Server, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "POST", "/v1/chat/completions", body=body, headers={"Content-Type": content_type}
        )
        response = connection.getresponse()
        data = response.read()
        kind = response.getheader("Content-Type", "")
        assert response.getheader("X-Request-Id")
    finally:
        connection.close()
    if response.status >= 400 or kind.startswith("application/json"):
        return response.status, json.loads(data)
    return response.status, data


def _check(server: Server, body: bytes) -> None:
    status, answer = _post(server, body)
    assert 200 <= status < 500, (status, answer, body[:200])
    if status >= 400:
        assert set(answer) == {"error"}, answer
        error = answer["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str)
        assert error["request_id"]


def test_random_bodies_never_get_a_5xx(running: Server) -> None:
    @FUZZ
    @given(_bodies)
    def check(body: bytes) -> None:
        _check(running, body)

    check()


def test_random_requests_never_get_a_5xx(running: Server) -> None:
    @FUZZ
    @given(_request)
    def check(body: dict[str, Any]) -> None:
        _check(running, json.dumps(body).encode())

    check()
