"""The emulators speak their protocols as the real servers do, seen from a raw HTTP client."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import aiohttp
import pytest

from g4f_lite.testing import AIEngineEmulator, Fault, OpenAIEmulator

SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
SESSION = "/wp-json/mwai/v1/start_session"
BODY = {"botId": "default", "messages": [], "newMessage": "Hi", "stream": False}


async def post(url: str, body: Any = None, **headers: str) -> tuple[int, Any, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None), dict(response.headers)


async def page_settings(site: AIEngineEmulator) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(site.url + "/") as response:
        text = await response.text()
    match = re.search(r"data-system='([^']*)'", text)
    assert match is not None
    settings: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return settings


async def test_default_generation_needs_no_nonce() -> None:
    async with AIEngineEmulator() as site:
        status, body, _ = await post(site.url + SUBMIT, BODY)
        assert (status, body["success"]) == (200, True)
        status, body, _ = await post(site.url + SESSION)
        assert (status, body["code"]) == (404, "rest_no_route")


async def test_2_0_puts_the_nonce_in_the_page_and_checks_it() -> None:
    async with AIEngineEmulator(generation="2.0", bot_id="b", context_id=5) as site:
        settings = await page_settings(site)
        assert settings["restNonce"] == site.nonce
        assert (settings["botId"], settings["contextId"]) == ("b", 5)
        status, body, _ = await post(site.url + SUBMIT, BODY)
        assert (status, body["code"]) == (401, "rest_forbidden")
        status, body, _ = await post(site.url + SUBMIT, BODY, **{"X-WP-Nonce": "wrong"})
        assert (status, body["code"]) == (403, "rest_cookie_invalid_nonce")
        status, body, _ = await post(site.url + SUBMIT, BODY, **{"X-WP-Nonce": site.nonce})
        assert status == 200
        assert (await post(site.url + SESSION))[0] == 404


async def test_3x_starts_sessions_and_rotates_nonces() -> None:
    async with AIEngineEmulator(generation="3.x") as site:
        settings = await page_settings(site)
        assert settings["restNonce"] is None
        assert settings["sessionId"] is None
        async with aiohttp.ClientSession() as session, session.post(site.url + SESSION) as response:
            started = await response.json()
            assert response.cookies["mwai_session_id"].value == started["sessionId"]
        nonce = started["restNonce"]
        assert started["success"] is True
        assert nonce == site.nonce
        site.advance(12)
        status, body, headers = await post(site.url + SUBMIT, BODY, **{"X-WP-Nonce": nonce})
        assert status == 200
        assert body["new_token"] == headers["X-WP-Nonce"] == site.nonce != nonce
        site.advance(12)  # 24 hours: the first nonce has expired
        status, body, _ = await post(site.url + SUBMIT, BODY, **{"X-WP-Nonce": nonce})
        assert (status, body["code"]) == (403, "rest_cookie_invalid_nonce")


async def test_2_4_4_accepts_an_old_nonce_without_rotating_it() -> None:
    async with AIEngineEmulator(generation="2.4.4") as site:
        nonce = site.nonce
        site.advance(13)
        status, body, headers = await post(site.url + SUBMIT, BODY, **{"X-WP-Nonce": nonce})
        assert status == 200
        assert "new_token" not in body
        assert "X-WP-Nonce" not in headers


def test_unknown_generation_is_refused() -> None:
    with pytest.raises(ValueError, match="generation"):
        AIEngineEmulator(generation="4.0")  # type: ignore[arg-type]


async def test_openai_emulator_models_auth_and_errors() -> None:
    async with OpenAIEmulator(api_key="sk-k", models=["a"]) as server:
        auth = {"Authorization": "Bearer sk-k"}
        async with aiohttp.ClientSession(headers=auth) as session:
            async with session.get(server.url + "/models") as response:
                assert [m["id"] for m in (await response.json())["data"]] == ["a"]
            request = {"model": "a", "messages": [{"role": "user", "content": "x"}]}
            async with session.post(server.url + "/chat/completions", json=request) as response:
                completion = await response.json()
            assert completion["object"] == "chat.completion"
            assert completion["choices"][0]["finish_reason"] == "stop"
            stream_request = {**request, "stream": True}
            async with session.post(
                server.url + "/chat/completions", json=stream_request
            ) as response:
                lines = [line async for line in response.content if line.strip()]
            assert lines[-1] == b"data: [DONE]\n"
            assert json.loads(lines[0][6:])["choices"][0]["delta"]["role"] == "assistant"
            server.faults.append(Fault.http_status(429, retry_after=4))
            async with session.post(server.url + "/chat/completions", json=request) as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "4"
                assert (await response.json())["error"]["code"] == "rate_limit_exceeded"
        status, body, _ = await post(server.url + "/chat/completions", request)
        assert (status, body["error"]["message"]) == (401, "You didn't provide an API key.")
        assert "sk-k" not in repr(server)
        assert [r.path for r in server.requests][:2] == ["/v1/models", "/v1/chat/completions"]


async def test_openai_faults_echo_the_key_sent() -> None:
    from g4f_lite.testing import API_KEY_PLACEHOLDER

    body = {"model": "emulated-model", "messages": [], "stream": False}
    auth = {"Authorization": "Bearer sk-echo-me"}
    async with OpenAIEmulator(
        api_key="sk-echo-me",
        faults=[
            Fault.error_body(f"bad {API_KEY_PLACEHOLDER}"),
            Fault.error_body(f"denied {API_KEY_PLACEHOLDER}", status=401),
        ],
    ) as server:
        url = server.url + "/chat/completions"
        status, answer, _ = await post(url, body, **auth)
        assert (status, answer["error"]["message"]) == (200, "bad sk-echo-me")
        status, answer, _ = await post(url, body, **auth)
        assert (status, answer["error"]["message"]) == (401, "denied sk-echo-me")


async def test_raw_and_deep_json_faults() -> None:
    async with (
        AIEngineEmulator(
            faults=[
                Fault.raw(418, (b"te", b"apot"), (("X-Odd", "1"),)),
                Fault.deep_json("body", depth=100),
            ]
        ) as site,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(site.url + SUBMIT, json=BODY) as response:
            assert (response.status, await response.read()) == (418, b"teapot")
            assert response.headers["X-Odd"] == "1"
        async with session.post(site.url + SUBMIT, json=BODY) as response:
            assert await response.text() == "[" * 100 + '"deep"' + "]" * 100
