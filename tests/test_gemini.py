"""The native ``gemini`` kind and the ``Gemini`` preset against the Gemini emulator."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from g4f_lite_gemini import KEY_ENVS, PRESETS, GeminiProvider

import g4f_lite
from g4f_lite.errors import (
    AuthenticationError,
    BadRequestError,
    BrokenLineError,
    ContentFilterError,
    InvalidMessagesError,
    MissingCredentialsError,
    NoProviderAvailableError,
    PartialResponseError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TruncatedResponseError,
    UpstreamError,
)
from g4f_lite.provider import BaseProvider, collect, run_provider
from g4f_lite.registry import ENV_PLUGINS, registry
from g4f_lite.testing import Fault, GeminiEmulator
from g4f_lite.types import Chunk, Finish, Reasoning, ToolCallDelta, Usage

KEY = "AIzaSy-test-key-0123456789"
MODEL = "gemini-2.5-flash"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
ASK = [{"role": "user", "content": "Weather in Paris?"}]
PIXEL = "data:image/png;base64,iVBORw0KGgo="


@pytest.fixture(autouse=True)
def gemini_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only this plugin (so nothing else competes for routing), and no key from the machine."""
    monkeypatch.setenv(ENV_PLUGINS, "gemini")
    for variable in KEY_ENVS:
        monkeypatch.delenv(variable, raising=False)
    registry.reset()


@pytest.fixture
async def gemini() -> AsyncIterator[GeminiEmulator]:
    """An emulated Gemini API (key ``KEY``) on the test's own event loop."""
    async with GeminiEmulator(api_key=KEY, models=[MODEL, "gemini-2.5-pro"]) as server:
        yield server


def declare(server: GeminiEmulator, **options: Any) -> type[BaseProvider]:
    options.setdefault("api_key", KEY)
    return g4f_lite.declare_provider("G", "gemini", base_url=server.url, models=[MODEL], **options)


async def events(
    provider: type[BaseProvider], messages: Any = HELLO, model: str = "", **kwargs: Any
) -> list[Chunk]:
    return [c async for c in run_provider(provider, model, messages, **kwargs)]


async def ask(provider: type[BaseProvider], messages: Any = HELLO, **kwargs: Any) -> str:
    return await collect(run_provider(provider, "", messages, **kwargs), provider.name)


# -- the wire ----------------------------------------------------------------


async def test_stream(gemini: GeminiEmulator) -> None:
    gemini.reply = "one two three"
    chunks = await events(declare(gemini))
    assert chunks == ["one ", "two ", "three", Usage.of(3, 3), Finish("stop")]
    request = gemini.requests[0]
    assert request.path == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    assert request.headers["x-goog-api-key"] == KEY
    assert "Authorization" not in request.headers
    assert request.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


async def test_a_whole_answer_and_the_sampling_options(gemini: GeminiEmulator) -> None:
    gemini.reply = "one two three four"
    chunks = await events(
        declare(gemini, stream=False),
        temperature=0.2,
        top_p=0.9,
        max_tokens=3,
        stop="END",
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.25,
    )
    # maxOutputTokens cut the answer: finish reason "length".
    assert chunks == ["one two three", Usage.of(3, 3), Finish("length")]
    request = gemini.requests[0]
    assert request.path == f"/v1beta/models/{MODEL}:generateContent"
    assert request.body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 3,
        "stopSequences": ["END"],
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
    }


async def test_max_completion_tokens_wins_over_max_tokens(gemini: GeminiEmulator) -> None:
    await ask(declare(gemini), max_tokens=50, max_completion_tokens=2, stop=["a", "b"])
    config = gemini.requests[0].body["generationConfig"]
    assert config == {"maxOutputTokens": 2, "stopSequences": ["a", "b"]}


async def test_roles_history_and_model_names(gemini: GeminiEmulator) -> None:
    conversation: list[dict[str, Any]] = [
        {"role": "system", "content": "One."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "system", "content": "Two."},
        {"role": "user", "content": [{"type": "text", "text": "Again"}]},
    ]
    text = await collect(run_provider(declare(gemini), "models/gemini-2.5-pro", conversation), "G")
    assert text.endswith("You said: Again")
    body = gemini.requests[0].body
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"] == {"parts": [{"text": "One."}, {"text": "Two."}]}
    assert gemini.requests[0].path.startswith("/v1beta/models/gemini-2.5-pro:")


async def test_a_hostile_model_name_is_refused_before_sending(gemini: GeminiEmulator) -> None:
    with pytest.raises(g4f_lite.ConfigurationError, match="not a Gemini model id") as info:
        await collect(run_provider(declare(gemini), "x/../../admin?", HELLO), "G")
    assert info.value.param == "model" and info.value.request_fault
    assert gemini.requests == []


async def test_a_base_url_with_the_version_is_used_as_it_is(gemini: GeminiEmulator) -> None:
    provider = g4f_lite.declare_provider(
        "V", "gemini", base_url=f"{gemini.url}/v1beta", api_key=KEY, models=[MODEL]
    )
    assert await ask(provider)
    assert gemini.requests[0].path.startswith("/v1beta/models/")


async def test_models_are_listed_and_fill_an_empty_model(gemini: GeminiEmulator) -> None:
    provider = g4f_lite.declare_provider("NoModels", "gemini", base_url=gemini.url, api_key=KEY)
    assert isinstance(provider, type) and issubclass(provider, GeminiProvider)
    assert await provider.list_models() == [MODEL, "gemini-2.5-pro"]
    await ask(provider)
    assert gemini.requests[-1].path.startswith(f"/v1beta/models/{MODEL}:")


# -- keys and the preset -------------------------------------------------------


async def test_the_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    [info] = g4f_lite.providers(plugin="g4f-lite-gemini")
    assert set(PRESETS) == {info.name} == {"Gemini"}
    assert info.url == "https://generativelanguage.googleapis.com"
    assert info.needs_auth and info.working and info.supports_stream
    assert info.supports_tools and info.supports_vision and info.supports_json_mode
    assert MODEL in info.models and "gemini-2.5-pro" in info.models
    provider = g4f_lite.get_provider("Gemini")
    assert provider.default_model == MODEL
    assert not provider.has_credentials({})
    with pytest.raises(MissingCredentialsError, match=r"\$GEMINI_API_KEY or \$GOOGLE_API_KEY"):
        await ask(provider)
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google")
    assert provider.has_credentials({})


@pytest.mark.parametrize("variable", KEY_ENVS)
def test_the_preset_routes_with_a_key_in_the_environment(
    gemini_emulator: GeminiEmulator, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    gemini_emulator.api_key = KEY
    config = {"providers": {"Gemini": {"base_url": gemini_emulator.url}}}
    with g4f_lite.Client(config=config) as client:
        # No key: the preset is not a candidate.
        with pytest.raises(NoProviderAvailableError):
            client.chat.completions.create(MODEL, HELLO)
        monkeypatch.setenv(variable, KEY)
        completion = client.chat.completions.create(MODEL, HELLO)
    assert completion.provider == "Gemini"
    assert completion.choices[0].message.content == (
        "Hello from the Gemini emulator! You said: Hello"
    )
    assert gemini_emulator.requests[-1].headers["x-goog-api-key"] == KEY


def test_gemini_api_key_comes_before_google_api_key(
    gemini_emulator: GeminiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "the-gemini-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "the-google-key")
    config = {"providers": {"Gemini": {"base_url": gemini_emulator.url}}}
    with g4f_lite.Client(config=config) as client:
        client.chat.completions.create(MODEL, HELLO, provider="Gemini")
    assert gemini_emulator.requests[0].headers["x-goog-api-key"] == "the-gemini-key"


def test_the_presets_key_variable_overridden_replaces_both_of_googles(
    gemini_emulator: GeminiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pointed at a proxy with its own key: Google's keys must not go there.
    monkeypatch.setenv("GOOGLE_API_KEY", "the-google-key")
    monkeypatch.setenv("GEMINI_API_KEY", "the-gemini-key")
    monkeypatch.delenv("PROXY_KEY", raising=False)
    table = {"base_url": gemini_emulator.url, "api_key_env": "PROXY_KEY"}
    with g4f_lite.Client(config={"providers": {"Gemini": table}}) as client:
        with pytest.raises(NoProviderAvailableError):
            client.chat.completions.create(MODEL, HELLO)
        monkeypatch.setenv("PROXY_KEY", "the-proxy-key")
        client.chat.completions.create(MODEL, HELLO)
    assert [r.headers["x-goog-api-key"] for r in gemini_emulator.requests] == ["the-proxy-key"]


async def test_a_declared_key_variable(
    gemini: GeminiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = declare(gemini, api_key=None, api_key_env="MY_GEMINI_KEY")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)  # not the one the table names
    assert not provider.has_credentials({})
    with pytest.raises(MissingCredentialsError, match=r"\$MY_GEMINI_KEY"):
        await ask(provider)
    monkeypatch.setenv("MY_GEMINI_KEY", KEY)
    assert provider.has_credentials({}) and await ask(provider)


async def test_a_wrong_key_is_an_authentication_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "AIzaSy-very-secret-key-1234567890"
    async with GeminiEmulator(api_key=KEY, echo_key_in_errors=True) as server:
        provider = declare(server, api_key=secret)
        with pytest.raises(AuthenticationError) as info:
            await ask(provider)
        assert server.requests[0].headers["x-goog-api-key"] == secret
    error = info.value
    # Google says 400 INVALID_ARGUMENT: still a key problem, not the request's fault.
    assert (error.status, error.code, error.provider) == (400, "API_KEY_INVALID", "G")
    assert not error.request_fault and not error.retryable
    assert "API key not valid: ***" in str(error)
    for text in (str(error), repr(error), caplog.text, repr(provider.__dict__), repr(server)):
        assert secret not in text


async def test_no_key_at_all_is_permission_denied(gemini: GeminiEmulator) -> None:
    provider = declare(gemini, api_key=None, needs_auth=False)
    with pytest.raises(PermissionDeniedError, match="unregistered callers") as info:
        await ask(provider)
    assert info.value.status == 403 and info.value.code == "PERMISSION_DENIED"


async def test_an_echoed_key_is_scrubbed_from_every_error(gemini: GeminiEmulator) -> None:
    gemini.faults.extend(
        [
            Fault.error_body("API key {api_key} is expired."),
            Fault.error_body("Bad key {api_key}", status=400),
            Fault.error_event(after=1, message="stream failed for {api_key}"),
        ]
    )
    provider = declare(gemini)
    for expected in (ServerError, BadRequestError, ServerError):
        with pytest.raises(expected) as info:
            await ask(provider)
        assert KEY not in str(info.value) and KEY not in repr(info.value)
        assert "***" in str(info.value)


# -- typed errors --------------------------------------------------------------


async def test_rate_limits_take_retry_info_or_the_header(gemini: GeminiEmulator) -> None:
    gemini.faults.extend(
        [
            Fault.http_status(429, retry_after=7),
            Fault("status", status=429, retry_after=7, headers=(("Retry-After", "3"),)),
            Fault.http_status(429),
        ]
    )
    provider = declare(gemini)
    retry_afters = []
    for _ in range(3):
        with pytest.raises(RateLimitError) as info:
            await ask(provider)
        assert info.value.retryable and info.value.code == "RESOURCE_EXHAUSTED"
        retry_afters.append(info.value.retry_after)
    assert retry_afters == [7, 3, None]


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_server_errors_are_retryable(gemini: GeminiEmulator, status: int) -> None:
    gemini.faults.append(Fault.http_status(status))
    with pytest.raises(ServerError) as info:
        await ask(declare(gemini))
    assert info.value.status == status and info.value.retryable
    assert not info.value.request_fault


async def test_an_invalid_argument_is_the_requests_fault(gemini: GeminiEmulator) -> None:
    gemini.faults.append(Fault.http_status(400))
    with pytest.raises(BadRequestError) as info:
        await ask(declare(gemini))
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.request_fault and not info.value.retryable


async def test_an_unknown_model_is_a_404(gemini: GeminiEmulator) -> None:
    with pytest.raises(BadRequestError, match="is not found") as info:
        await collect(run_provider(declare(gemini), "gemini-17", HELLO), "G")
    assert (info.value.status, info.value.code) == (404, "NOT_FOUND")


async def test_a_failed_precondition_is_not_the_requests_fault(gemini: GeminiEmulator) -> None:
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "User location is not supported for the API use.",
                "status": "FAILED_PRECONDITION",
            }
        }
    ).encode()
    gemini.faults.append(Fault.raw(400, (body,), (("Content-Type", "application/json"),)))
    with pytest.raises(PermissionDeniedError, match="location") as info:
        await ask(declare(gemini))
    assert not info.value.request_fault


async def test_broken_streams(gemini: GeminiEmulator) -> None:
    gemini.reply = "a b c d"
    gemini.faults.extend(
        [Fault.no_end(), Fault.error_event(after=1), Fault.garbage(after=1), Fault.drop(after=2)]
    )
    provider = declare(gemini)
    with pytest.raises(TruncatedResponseError, match="finishReason") as truncated:
        await ask(provider)
    assert truncated.value.partial == "a b c d" and truncated.value.provider == "G"
    with pytest.raises(ServerError, match="server had an error") as upstream:
        await ask(provider)
    assert upstream.value.partial == "a "
    with pytest.raises(BrokenLineError, match="Broken line"):
        await ask(provider)
    with pytest.raises(TruncatedResponseError):
        await ask(provider)


async def test_a_stream_broken_after_text_is_partial_through_the_client(
    gemini: GeminiEmulator,
) -> None:
    gemini.reply = "a b c d"
    gemini.faults.append(Fault.drop(after=2))
    declare(gemini)
    async with g4f_lite.AsyncClient(config={}) as client:
        stream = await client.chat.completions.create(MODEL, HELLO, provider="G", stream=True)
        with pytest.raises(PartialResponseError) as info:
            async for _ in stream:
                pass
    assert info.value.provider == "G" and info.value.partial == "a b "


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "SPII"])
@pytest.mark.parametrize("stream", [True, False])
async def test_a_filtered_answer_is_a_content_filter_error(
    gemini: GeminiEmulator, reason: str, stream: bool
) -> None:
    gemini.finish_reason = reason
    with pytest.raises(ContentFilterError, match=reason) as info:
        await ask(declare(gemini), stream=stream)
    assert info.value.reason == reason and info.value.provider == "G"
    assert info.value.request_fault and not info.value.retryable


@pytest.mark.parametrize("stream", [True, False])
async def test_a_blocked_prompt_is_a_content_filter_error(
    gemini: GeminiEmulator, stream: bool
) -> None:
    gemini.block_reason = "BLOCKLIST"
    with pytest.raises(ContentFilterError, match="blocked the prompt") as info:
        await ask(declare(gemini), stream=stream)
    assert info.value.reason == "BLOCKLIST"


async def test_a_candidate_without_content_is_an_error(gemini: GeminiEmulator) -> None:
    body = json.dumps({"candidates": [{"finishReason": "OTHER", "index": 0}]}).encode()
    gemini.faults.append(Fault.raw(200, (b"data: " + body + b"\r\n\r\n",)))
    with pytest.raises(UpstreamError, match="without an answer"):
        await ask(declare(gemini))


async def test_deep_and_garbled_json_are_protocol_errors(gemini: GeminiEmulator) -> None:
    gemini.faults.extend([Fault.deep_json("body"), Fault.deep_json("line", depth=100_000)])
    provider = declare(gemini, stream=False)
    with pytest.raises(g4f_lite.ProtocolError, match="nested too deep"):
        await ask(provider)
    with pytest.raises(BrokenLineError, match="nested too deep"):
        await ask(provider, stream=True)


# -- the chat surface ----------------------------------------------------------


async def test_a_tool_call_round_trip(gemini: GeminiEmulator) -> None:
    gemini.tool_arguments = '{"city": "Paris", "days": 3}'
    declare(gemini)
    async with g4f_lite.AsyncClient(config={}) as client:
        first = await client.chat.completions.create(
            MODEL, ASK, provider="G", tools=[WEATHER], tool_choice="auto"
        )
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        [call] = choice.message.tool_calls or []
        assert call.function.name == "get_weather" and call.id.startswith("call_")
        assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}
        assert first.usage is not None and first.usage.completion_tokens >= 1
        follow_up = [
            *ASK,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 18}'},
        ]
        second = await client.chat.completions.create(
            MODEL, follow_up, provider="G", tools=[WEATHER]
        )
    assert second.choices[0].message.content == 'The tool said: {"temperature": 18}'
    assert second.choices[0].finish_reason == "stop"
    first_body, second_body = gemini.requests[0].body, gemini.requests[1].body
    assert first_body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The weather in a city.",
                    "parametersJsonSchema": WEATHER["function"]["parameters"],  # type: ignore[index]
                }
            ]
        }
    ]
    assert first_body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert second_body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 3}}}
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 18}}}
            ],
        },
    ]


async def test_a_streamed_tool_call_is_one_whole_delta(gemini: GeminiEmulator) -> None:
    chunks = await events(declare(gemini), ASK, tools=[WEATHER])
    deltas = [c for c in chunks if isinstance(c, ToolCallDelta)]
    [delta] = deltas
    assert (delta.index, delta.name) == (0, "get_weather") and delta.id
    assert json.loads(delta.arguments) == {"city": "emulated", "days": 1}
    assert chunks[-1] == Finish("tool_calls")


async def test_tool_results_that_are_not_objects_and_several_calls(
    gemini: GeminiEmulator,
) -> None:
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
        for i, (n, a) in enumerate([("get_weather", '{"city": "Paris"}'), ("now", "")])
    ]
    conversation = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "noon"},
        {"role": "tool", "tool_call_id": "c0", "content": "[1, 2]"},
    ]
    text = await ask(declare(gemini), conversation, tools=[WEATHER])
    assert text.startswith("The tool said:")
    turn = gemini.requests[0].body["contents"][-1]
    assert turn == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "now", "response": {"output": "noon"}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": [1, 2]}}},
        ],
    }
    model_turn = gemini.requests[0].body["contents"][-2]
    assert model_turn["parts"][1] == {"functionCall": {"name": "now", "args": {}}}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
    ],
)
async def test_tool_choice(gemini: GeminiEmulator, choice: Any, config: Any) -> None:
    clock = {"type": "function", "function": {"name": "get_time"}}
    chunks = await events(declare(gemini), ASK, tools=[WEATHER, clock], tool_choice=choice)
    assert gemini.requests[0].body["toolConfig"] == {"functionCallingConfig": config}
    names = [c.name for c in chunks if isinstance(c, ToolCallDelta)]
    assert (
        names
        == {"NONE": [], "ANY": [config.get("allowedFunctionNames", ["get_weather"])[0]]}[
            config["mode"]
        ]
    )


async def test_a_tool_message_for_an_unknown_call_is_refused(gemini: GeminiEmulator) -> None:
    conversation = [*ASK, {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    with pytest.raises(InvalidMessagesError, match="'nope'"):
        await ask(declare(gemini), conversation)
    assert gemini.requests == []


async def test_images_go_inline_or_by_uri(gemini: GeminiEmulator) -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What are these?"},
            {"type": "image_url", "image_url": {"url": PIXEL}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png?s=1"}},
        ],
    }
    declare(gemini)
    async with g4f_lite.AsyncClient(config={}) as client:
        completion = await client.chat.completions.create(MODEL, [message], provider="G")
    assert completion.choices[0].message.content == (
        "Hello from the Gemini emulator! You said: What are these? (with 2 image(s))"
    )
    assert gemini.requests[0].body["contents"][0]["parts"] == [
        {"text": "What are these?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png?s=1"}},
    ]


async def test_a_data_url_that_is_not_base64_is_refused(gemini: GeminiEmulator) -> None:
    message = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}],
    }
    with pytest.raises(InvalidMessagesError, match="base64"):
        await ask(declare(gemini), [message])


async def test_json_mode(gemini: GeminiEmulator) -> None:
    declare(gemini)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    async with g4f_lite.AsyncClient(config={}) as client:
        plain = await client.chat.completions.create(
            MODEL, HELLO, provider="G", response_format={"type": "json_object"}
        )
        typed = await client.chat.completions.create(
            MODEL,
            HELLO,
            provider="G",
            response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        )
    assert json.loads(plain.choices[0].message.content or "")["answer"].endswith("Hello")
    assert json.loads(typed.choices[0].message.content or "")
    assert gemini.requests[0].body["generationConfig"] == {"responseMimeType": "application/json"}
    assert gemini.requests[1].body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


async def test_usage_streamed_and_whole_through_the_client(gemini: GeminiEmulator) -> None:
    gemini.reply = "four words right here"
    declare(gemini)
    async with g4f_lite.AsyncClient(config={}) as client:
        whole = await client.chat.completions.create(MODEL, HELLO, provider="G")
        stream = await client.chat.completions.create(MODEL, HELLO, provider="G", stream=True)
        chunks = [chunk async for chunk in stream]
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (3, 4)
    assert [c.usage for c in chunks if c.usage] == [whole.usage]
    # A whole answer is asked for as one: generateContent, not the stream.
    assert gemini.requests[0].path.endswith(":generateContent")


async def test_thoughts_are_reasoning(gemini: GeminiEmulator) -> None:
    gemini.reply = "Yes."
    gemini.thoughts = "Let me think about it"
    provider = declare(gemini, include_thoughts=True)
    for stream in (True, False):
        chunks = await events(provider, stream=stream)
        assert chunks == [
            Reasoning("Let me think about it"),
            "Yes.",
            Usage(prompt_tokens=3, completion_tokens=1 + 5, total_tokens=9),
            Finish("stop"),
        ]
    assert gemini.requests[0].body["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True}
    }
    # Off by default: not asked for, so none comes.
    plain = g4f_lite.declare_provider("Plain", "gemini", base_url=gemini.url, api_key=KEY)
    assert Reasoning("Let me think about it") not in await events(plain, model=MODEL)


async def test_a_declared_table_through_the_client(gemini_emulator: GeminiEmulator) -> None:
    table = {"kind": "gemini", "base_url": gemini_emulator.url, "models": ["gemini-2.5-flash"]}
    async with g4f_lite.AsyncClient(config={"providers": {"Mine": table}}) as client:
        [info] = [i for i in client.providers() if i.name == "Mine"]
        # A table with no key of its own reads $GEMINI_API_KEY: none here.
        assert info.needs_auth
        completion = await client.chat.completions.create(
            MODEL, HELLO, provider="Mine", api_key=KEY
        )
    assert completion.choices[0].message.content
    assert gemini_emulator.requests[0].headers["x-goog-api-key"] == KEY


def test_through_the_synchronous_legacy_api(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.reply = "sync"
    g4f_lite.configure(
        {
            "providers": {
                "Local": {"kind": "gemini", "base_url": gemini_emulator.url, "api_key": KEY}
            }
        }
    )
    assert g4f_lite.ChatCompletion.create(MODEL, HELLO, provider="Local") == "sync"
    streamed = g4f_lite.ChatCompletion.create(MODEL, HELLO, provider="Local", stream=True)
    assert "".join(streamed) == "sync"


async def test_the_key_is_never_in_a_repr(gemini: GeminiEmulator) -> None:
    provider = declare(gemini)
    settings = g4f_lite.get_provider("G")
    assert KEY not in repr(provider.__dict__) and KEY not in repr(settings.__dict__)
    assert KEY not in repr(gemini)


async def test_connections_are_reused(gemini: GeminiEmulator) -> None:
    provider = declare(gemini)
    await ask(provider)
    await ask(provider, stream=False)
    await ask(provider)
    assert len({r.client_port for r in gemini.requests}) == 1
