"""LiteLLMClient against a scripted OpenAI-compatible server on loopback (and litellm's mock).

No test reaches a real provider: every model's ``api_base`` is the loopback
server of ``conftest.py``, except one priced call on litellm's offline
``mock_response``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from penguiflow.planner.litellm_client import LiteLLMClient
from penguiflow.planner.llm import JSONLLMClient, LLMError

if TYPE_CHECKING:  # only names the fixture's type: conftest is no importable module
    from conftest import ScriptedOpenAIServer

__all__: list[str] = []

pytestmark = [
    # litellm's streaming path builds a pydantic TypeAdapter over its own
    # ``ChatCompletionReasoningItem`` TypedDict, and pydantic warns that the
    # ``ReadOnly`` items are not enforced; under warnings-as-errors litellm
    # would turn that into a failed stream (MidStreamFallbackError).
    pytest.mark.filterwarnings(
        "ignore:Item 'summary' on TypedDict class 'ChatCompletionReasoningItem':UserWarning"
    ),
]

MESSAGES = [
    {"role": "system", "content": "Answer with one JSON object."},
    {"role": "user", "content": "How many penguins?"},
]
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {
            "type": "object",
            "properties": {"count": {"type": "integer"}},
            "required": ["count"],
        },
    },
}
SCHEMA_REFUSED = "Invalid parameter: 'response_format' of type 'json_schema' is not supported."


def client_for(
    server: ScriptedOpenAIServer, model: dict[str, Any] | None = None, **options: Any
) -> LiteLLMClient:
    options.setdefault("retry_initial_s", 0.01)
    options.setdefault("retry_max_s", 0.02)
    return LiteLLMClient(model or server.model(), **options)


def sent_formats(server: ScriptedOpenAIServer) -> list[Any]:
    return [request.json.get("response_format") for request in server.requests]


# -- plain calls ---------------------------------------------------------------------------


async def test_plain_reply_returns_text_and_zero_cost_for_unpriced_model(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_text('{"count": 3}')
    client = client_for(openai_server, temperature=0.3)

    text, cost = await client.complete(messages=MESSAGES)

    assert (text, cost) == ('{"count": 3}', 0.0)
    [request] = openai_server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test"
    assert request.json["model"] == "scripted"
    assert request.json["messages"] == MESSAGES
    assert request.json["temperature"] == 0.3
    assert "response_format" not in request.json
    assert "stream" not in request.json


async def test_client_satisfies_the_protocol() -> None:
    assert isinstance(LiteLLMClient("gpt-4o-mini"), JSONLLMClient)


async def test_json_schema_response_format_is_sent_as_given(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_text('{"count": 1}')

    await client_for(openai_server).complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)

    assert sent_formats(openai_server) == [SCHEMA_FORMAT]


async def test_json_schema_mode_off_sends_json_object(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.queue_text("{}", "{}")
    client = client_for(openai_server, json_schema_mode=False)

    await client.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)
    await client.complete(messages=MESSAGES, response_format={"type": "json_object"})

    assert sent_formats(openai_server) == [{"type": "json_object"}] * 2


# -- response format fallback -------------------------------------------------------------


async def test_refused_schema_falls_back_to_json_object_and_stays_there(
    openai_server: ScriptedOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.queue_error(400, SCHEMA_REFUSED)
    openai_server.queue_text('{"count": 1}', '{"count": 2}')
    client = client_for(openai_server)

    with caplog.at_level(logging.WARNING, logger="penguiflow.planner"):
        first = await client.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)
    second = await client.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)

    assert (first[0], second[0]) == ('{"count": 1}', '{"count": 2}')
    json_object = {"type": "json_object"}
    assert sent_formats(openai_server) == [SCHEMA_FORMAT, json_object, json_object]
    assert client.format_mode == "json_object"
    assert "refused response_format json_schema" in caplog.text


async def test_refused_json_object_falls_back_to_no_format(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_error(400, SCHEMA_REFUSED)
    openai_server.queue_error(400, "response_format json_object is not supported by this model")
    openai_server.queue_text('{"count": 1}')
    client = client_for(openai_server)

    text, _ = await client.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)

    assert text == '{"count": 1}'
    assert sent_formats(openai_server) == [SCHEMA_FORMAT, {"type": "json_object"}, None]
    assert client.format_mode == "none"


async def test_unrelated_bad_request_is_not_a_format_fallback(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_error(400, "This model's maximum context length is 8192 tokens.")
    client = client_for(openai_server)

    # litellm refines this 400 to its BadRequestError subclass for context overflows.
    with pytest.raises(LLMError, match=r"\(ContextWindowExceededError, HTTP 400\): OpenAIExc"):
        await client.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)

    assert len(openai_server.requests) == 1
    assert client.format_mode == "json_schema"


# -- retries and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, "requests"), (500, "server_error"), (502, "server_error"), (503, "server_error")],
)
async def test_transient_errors_are_retried(
    openai_server: ScriptedOpenAIServer, status: int, kind: str
) -> None:
    openai_server.queue_error(status, "try again later", kind=kind, times=2)
    openai_server.queue_text('{"count": 5}')

    text, _ = await client_for(openai_server, max_retries=2).complete(messages=MESSAGES)

    assert text == '{"count": 5}'
    assert len(openai_server.requests) == 3


async def test_exhausted_retries_raise_one_line_without_the_api_key(
    openai_server: ScriptedOpenAIServer,
) -> None:
    key = "sk-penguin-secret-123"
    # Providers echo (parts of) the key in errors; the client must mask it.
    openai_server.queue_error(429, f"Rate limit reached for key {key}", kind="requests", times=3)
    client = LiteLLMClient(
        openai_server.model(api_key=key), max_retries=2, retry_initial_s=0.01, retry_max_s=0.02
    )

    with pytest.raises(LLMError) as raised:
        await client.complete(messages=MESSAGES)

    message = str(raised.value)
    assert len(openai_server.requests) == 3
    assert "\n" not in message
    assert key not in message and key not in repr(client)
    assert message.startswith("LLM 'openai/scripted' failed after 3 attempts (RateLimitError")
    assert "HTTP 429" in message and "Rate limit reached for key ***" in message
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {key}"


async def test_authentication_error_is_not_retried(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.queue_error(401, "Incorrect API key provided.", times=3)

    with pytest.raises(LLMError, match=r"after 1 attempt \(AuthenticationError, HTTP 401\)"):
        await client_for(openai_server).complete(messages=MESSAGES)

    assert len(openai_server.requests) == 1


async def test_timeouts_are_retried_then_reported(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.queue_hang(times=2)
    client = client_for(openai_server, max_retries=1, timeout_s=0.3)

    with pytest.raises(LLMError, match=r"after 2 attempts \(Timeout"):
        await client.complete(messages=MESSAGES)

    assert len(openai_server.requests) == 2


async def test_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on ``port`` any more: every attempt is refused.
    model = {"model": "openai/scripted", "api_base": f"http://127.0.0.1:{port}/v1", "api_key": "k"}
    client = LiteLLMClient(model, max_retries=1, retry_initial_s=0.01, retry_max_s=0.02)

    with pytest.raises(LLMError, match="after 2 attempts"):
        await client.complete(messages=MESSAGES)


async def test_missing_content_is_an_error_naming_the_model(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_text(None)

    with pytest.raises(LLMError, match=r"'openai/scripted' returned no content"):
        await client_for(openai_server).complete(messages=MESSAGES)

    assert len(openai_server.requests) == 1


# -- streaming ----------------------------------------------------------------------------


async def test_stream_delivers_pieces_in_order_then_done(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_stream('{"count"', ": ", "4", "}")
    received: list[tuple[str, bool]] = []

    text, cost = await client_for(openai_server).complete(
        messages=MESSAGES,
        response_format=SCHEMA_FORMAT,
        stream=True,
        on_stream_chunk=lambda piece, done: received.append((piece, done)),
    )

    assert text == '{"count": 4}'
    assert cost == 0.0
    assert received == [('{"count"', False), (": ", False), ("4", False), ("}", False), ("", True)]
    [request] = openai_server.requests
    assert request.json["stream"] is True
    assert request.json["response_format"] == SCHEMA_FORMAT


async def test_stream_without_callback_returns_the_text(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_stream("a", "b")

    text, _ = await client_for(openai_server).complete(messages=MESSAGES, stream=True)

    assert text == "ab"


async def test_empty_stream_is_an_error(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.queue_stream()
    received: list[tuple[str, bool]] = []

    with pytest.raises(LLMError, match="'openai/scripted' streamed no content"):
        await client_for(openai_server).complete(
            messages=MESSAGES, stream=True, on_stream_chunk=lambda *a: received.append(a)
        )

    assert received == []


async def test_failing_callback_propagates_and_is_not_retried(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_stream("a", "b")
    openai_server.queue_stream("a", "b")

    def explode(piece: str, done: bool) -> None:
        raise RuntimeError(f"consumer broke on {piece!r}")

    with pytest.raises(RuntimeError, match="consumer broke on 'a'"):
        await client_for(openai_server).complete(
            messages=MESSAGES, stream=True, on_stream_chunk=explode
        )

    assert len(openai_server.requests) == 1


async def test_stream_broken_after_delivery_is_not_retried(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.queue_stream("{", '"count"', cut=True)
    openai_server.queue_stream('{"count": 1}')  # what a (wrong) retry would receive
    received: list[tuple[str, bool]] = []

    with pytest.raises(LLMError, match="after 1 attempt"):
        await client_for(openai_server).complete(
            messages=MESSAGES, stream=True, on_stream_chunk=lambda *a: received.append(a)
        )

    assert received == [("{", False), ('"count"', False)]
    assert len(openai_server.requests) == 1


async def test_concurrent_calls_share_one_client(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.queue_text('{"count": 1}', '{"count": 1}')
    client = client_for(openai_server)

    results = await asyncio.gather(*(client.complete(messages=MESSAGES) for _ in range(2)))

    assert results == [('{"count": 1}', 0.0)] * 2
    assert len(openai_server.requests) == 2


# -- cost (litellm's offline mock) -------------------------------------------------------


async def test_priced_model_costs_the_same_streamed_or_not(
    openai_server: ScriptedOpenAIServer,
) -> None:
    # litellm knows gpt-4o-mini's price; the server reports the same usage both times.
    openai_server.queue_text('{"count": 2}')
    openai_server.queue_stream('{"count": ', "2}")
    client = client_for(openai_server, model=openai_server.model("gpt-4o-mini"))

    plain = await client.complete(messages=MESSAGES)
    streamed = await client.complete(messages=MESSAGES, stream=True)

    assert plain[0] == streamed[0] == '{"count": 2}'
    assert 0.0 < plain[1] < 0.001
    assert streamed[1] == pytest.approx(plain[1])
    assert [r.json["model"] for r in openai_server.requests] == ["gpt-4o-mini"] * 2


async def test_known_model_is_priced_on_litellm_mock() -> None:
    client = LiteLLMClient("gpt-4o-mini", mock_response='{"count": 2}')

    text, cost = await client.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)

    assert text == '{"count": 2}'
    assert 0.0 < cost < 0.01


# -- import and construction ---------------------------------------------------------------


def test_importing_the_module_does_not_import_litellm() -> None:
    probe = (
        "import sys, penguiflow.planner.litellm_client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'litellm'))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.replace("'", '"')) == []


def test_missing_litellm_raises_install_hint() -> None:
    # A fresh interpreter: this one may have imported litellm already.
    probe = (
        "import asyncio, sys\n"
        "sys.modules['litellm'] = None  # makes `import litellm` fail\n"
        "from penguiflow.planner.litellm_client import LiteLLMClient\n"
        "try:\n"
        "    asyncio.run(LiteLLMClient('gpt-4o-mini').complete(messages=[]))\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        'LiteLLMClient needs litellm; install it with: pip install "penguiflow-planner"'
    )


@pytest.mark.parametrize(
    ("model", "options", "error", "match"),
    [
        ({"api_base": "http://127.0.0.1:1/v1"}, {}, ValueError, 'needs a "model" entry'),
        ({"model": 4}, {}, TypeError, "model name must be a string"),
        ("  ", {}, ValueError, "must not be empty"),
        (42, {}, TypeError, "litellm model name or a mapping"),
        ({1: "x", "model": "m"}, {}, TypeError, "string keys"),
        ("m", {"temperature": -0.1}, ValueError, "temperature must be a finite number >= 0"),
        ("m", {"temperature": float("nan")}, ValueError, "temperature"),
        ("m", {"temperature": "warm"}, TypeError, "temperature must be a number"),
        ("m", {"max_retries": -1}, ValueError, "max_retries must be >= 0"),
        ("m", {"max_retries": 1.5}, TypeError, "max_retries must be an int"),
        ("m", {"max_retries": True}, TypeError, "max_retries must be an int"),
        ("m", {"timeout_s": 0}, ValueError, "timeout_s must be a finite number > 0"),
        ("m", {"retry_initial_s": 2, "retry_max_s": 1}, ValueError, "retry_max_s"),
        ("m", {"json_schema_mode": "yes"}, TypeError, "json_schema_mode must be a bool"),
        ("m", {"stream": True}, ValueError, "sets 'stream' itself"),
        ({"model": "m", "temperature": 1}, {}, ValueError, "sets 'temperature' itself"),
    ],
)
def test_invalid_construction_is_refused(
    model: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        LiteLLMClient(model, **options)


def test_mapping_and_keyword_params_merge_and_repr_hides_them() -> None:
    client = LiteLLMClient({"model": "openai/local", "api_key": "sk-hidden"}, api_base="http://x")

    assert client.model == "openai/local"
    assert repr(client) == "LiteLLMClient(model='openai/local', format_mode='json_schema')"
