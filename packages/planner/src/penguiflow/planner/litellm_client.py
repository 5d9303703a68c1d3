"""`LiteLLMClient`: the planner's `JSONLLMClient` for 100+ providers through litellm.

litellm takes seconds to import, so this module does not import it: the
first ``complete`` call does, in a worker thread so the event loop keeps
running meanwhile. When litellm is imported it downloads its model price map
unless the environment says ``LITELLM_LOCAL_MODEL_COST_MAP=True``; set that
when running offline or in tests (the map bundled with litellm is used then).

How a call goes:

* **Response format.** A JSON-schema ``response_format`` is sent as is while
  ``json_schema_mode`` is on. Providers that cannot honour it answer with a
  4xx whose message names the response format (or litellm refuses the
  parameter itself); the client then resends the call with
  ``{"type": "json_object"}`` and, should that be refused too, with no
  ``response_format`` at all, and remembers the step down for every later
  call. The rejection is detected from the error rather than predicted with
  ``litellm.supports_response_schema``, which answers ``False`` for every
  model missing from litellm's price map, including the OpenAI-compatible
  local servers that do support schemas.
* **Retries.** Rate limits (429), timeouts (408), conflicts (409), 5xx and
  connection errors are retried ``max_retries`` times with exponential
  backoff and jitter (tenacity); other 4xx errors are not. The provider SDK's
  own retries are switched off so each attempt is one request. A streamed
  call is not retried once a piece has reached ``on_stream_chunk``.
* **Failure.** What is left becomes one-line `LLMError`: model, provider
  error type, HTTP status, attempts, message. Secrets among the litellm
  parameters (``api_key`` and other ``*key*``/``*token*``/``*secret*``/
  ``*password*`` values) are masked.
* **Cost.** ``litellm.completion_cost`` prices the response (for a stream,
  the response rebuilt by ``litellm.stream_chunk_builder``); a model litellm
  has no price for costs ``0.0``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import tenacity

from penguiflow.planner.llm import ChatMessage, LLMError, StreamCallback

__all__ = ["FormatMode", "LiteLLMClient"]

_log = logging.getLogger("penguiflow.planner")

FormatMode = Literal["json_schema", "json_object", "none"]
"""The richest ``response_format`` a `LiteLLMClient` sends, from richest to none."""
_STEP_DOWN: Final[dict[FormatMode, FormatMode]] = {
    "json_schema": "json_object",
    "json_object": "none",
}
_RANK: Final[dict[FormatMode, int]] = {"none": 0, "json_object": 1, "json_schema": 2}

_RESERVED: Final = frozenset(
    {
        *("messages", "stream", "response_format", "temperature", "timeout"),
        *("max_retries", "num_retries"),  # retries are tenacity's alone
    }
)
"""litellm parameters this client sets itself on every call."""
# By class name, so nothing of litellm is imported here; its Timeout is an APIConnectionError.
_TRANSIENT_TYPES: Final = frozenset(
    {
        *("RateLimitError", "APIConnectionError", "InternalServerError"),
        *("ServiceUnavailableError", "BadGatewayError"),
    }
)
# 409 is what OpenAI answers when a request lost a lock race; its SDK retries it too.
_TRANSIENT_STATUS: Final = frozenset({408, 409, 429})
_FORMAT_WORDS: Final = ("response_format", "response format", "json_schema", "json schema")
_FORMAT_WORDS_OBJECT: Final = (*_FORMAT_WORDS, "json_object", "json mode")
_SECRET_PARAM = re.compile(r"key|token|secret|password", re.IGNORECASE)
# litellm stacks class names in front of the provider's message:
# "litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: ..."
_LITELLM_PREFIX = re.compile(r"^(?:(?:litellm\.)?\w*(?:Error|Exception|Timeout):\s*)+")
_PROVIDER_MODULES: Final = frozenset({"litellm", "openai", "httpx", "httpcore", "aiohttp"})


@dataclass(slots=True)
class _Call:
    """One ``complete`` call: what was asked, and what its attempts have done so far."""

    messages: list[dict[str, str]]
    stream: bool
    on_stream_chunk: StreamCallback | None
    attempts: int = 0
    delivered: bool = False  # a streamed piece reached the callback: a retry would repeat it


class LiteLLMClient:
    """A `JSONLLMClient` that calls any litellm-supported model.

    Args:
        model: A litellm model name (``"gpt-4o-mini"``, ``"openai/my-model"``,
            ...) or a mapping of litellm parameters holding ``"model"``, e.g.
            ``{"model": "openai/local", "api_base": "http://127.0.0.1:8000/v1",
            "api_key": "k"}``.
        temperature: Sampling temperature (``>= 0``).
        json_schema_mode: Send JSON-schema response formats as they are;
            when ``False`` every response format becomes ``{"type": "json_object"}``.
        max_retries: Retries after the first attempt for transient errors.
        timeout_s: Timeout of one attempt, in seconds.
        retry_initial_s: Backoff before the first retry (grows exponentially, plus jitter).
        retry_max_s: Upper bound of one backoff.
        **litellm_params: Further ``litellm.acompletion`` arguments (``api_base``,
            ``api_key``, ``mock_response``, ...); they win over the mapping's entries.

    Raises:
        TypeError: ``model`` or a number has the wrong type.
        ValueError: ``model`` is empty or lacks ``"model"``, a number is out of
            range, or a parameter this client sets itself is given.

    Example:
        >>> client = LiteLLMClient("gpt-4o-mini", temperature=0.2)
        >>> text, cost_usd = await client.complete(messages=[{"role": "user", "content": "hi"}])
    """

    def __init__(
        self,
        model: str | Mapping[str, Any],
        *,
        temperature: float = 0.0,
        json_schema_mode: bool = True,
        max_retries: int = 3,
        timeout_s: float = 60.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 8.0,
        **litellm_params: Any,
    ) -> None:
        params = _model_params(model)
        params.update(litellm_params)
        reserved = sorted(_RESERVED & params.keys())
        if reserved:
            raise ValueError(
                f"LiteLLMClient sets {', '.join(map(repr, reserved))} itself; use its "
                "keyword arguments (temperature=, timeout_s=, max_retries=) instead"
            )
        self.model: str = params.pop("model")
        self.temperature = _number("temperature", temperature, minimum=0.0)
        self.timeout_s = _number("timeout_s", timeout_s, minimum=0.0, exclusive=True)
        self.retry_initial_s = _number("retry_initial_s", retry_initial_s, minimum=0.0)
        self.retry_max_s = _number("retry_max_s", retry_max_s, minimum=self.retry_initial_s)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise TypeError(f"max_retries must be an int, got {max_retries!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if not isinstance(json_schema_mode, bool):
            raise TypeError(f"json_schema_mode must be a bool, got {json_schema_mode!r}")
        self.max_retries = max_retries
        self.json_schema_mode = json_schema_mode
        self._params = params
        self._secrets = sorted(
            (v for k, v in params.items() if _SECRET_PARAM.search(k) and isinstance(v, str) and v),
            key=len,
            reverse=True,
        )
        self._format_mode: FormatMode = "json_schema" if json_schema_mode else "json_object"

    def __repr__(self) -> str:
        # Never the parameters: they hold the api_key.
        return f"LiteLLMClient(model={self.model!r}, format_mode={self._format_mode!r})"

    @property
    def format_mode(self) -> FormatMode:
        """The richest response format this client still sends (steps down when refused)."""
        return self._format_mode

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        response_format: Mapping[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> tuple[str, float]:
        """Answer ``messages`` with the model; see `penguiflow.planner.llm.JSONLLMClient`.

        Returns:
            ``(text, cost_usd)``; the cost is ``0.0`` when litellm has no price.

        Raises:
            ImportError: litellm is not installed.
            LLMError: The call failed for good, or the model returned no text.
        """
        litellm = await _import_litellm()
        call = _Call([dict(m) for m in messages], stream, on_stream_chunk)
        while True:
            fmt = _format_for(self._format_mode, response_format)
            try:
                return await self._with_retries(litellm, call, fmt)
            except Exception as exc:
                if not _is_provider_error(exc):
                    raise  # a bug or the stream callback's own error: not the LLM's
                sent = _sent_mode(fmt)
                if sent != "none" and not call.delivered and _rejects_format(exc, sent):
                    self._step_down(sent, exc)
                    continue
                raise LLMError(self._describe(exc, call.attempts)) from exc

    async def _with_retries(
        self, litellm: Any, call: _Call, fmt: Mapping[str, Any] | None
    ) -> tuple[str, float]:
        initial = self.retry_initial_s
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=tenacity.wait_exponential_jitter(
                multiplier=initial, jitter=initial, min=initial, max=self.retry_max_s
            ),
            retry=tenacity.retry_if_exception(lambda e: not call.delivered and _is_transient(e)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        return await retrying(self._attempt, litellm, call, fmt)

    async def _attempt(
        self, litellm: Any, call: _Call, fmt: Mapping[str, Any] | None
    ) -> tuple[str, float]:
        call.attempts += 1
        request: dict[str, Any] = {
            **self._params,
            "model": self.model,
            "messages": call.messages,
            "temperature": self.temperature,
            "timeout": self.timeout_s,
            "max_retries": 0,  # tenacity retries; the provider SDK must not retry as well
        }
        if fmt is not None:
            request["response_format"] = dict(fmt)
        if call.stream:
            return await self._stream(litellm, call, request)
        response = await litellm.acompletion(**request)
        text = _content(response, "message")
        if not text:
            reason = getattr(_first_choice(response), "finish_reason", None)
            raise LLMError(f"LLM {self.model!r} returned no content (finish_reason={reason!r})")
        return text, _price(litellm, response)

    async def _stream(
        self, litellm: Any, call: _Call, request: dict[str, Any]
    ) -> tuple[str, float]:
        chunks: list[Any] = []
        pieces: list[str] = []
        response_stream = await litellm.acompletion(**request, stream=True)
        try:
            async for chunk in response_stream:
                chunks.append(chunk)
                if piece := _content(chunk, "delta"):
                    pieces.append(piece)
                    if call.on_stream_chunk is not None:
                        call.delivered = True
                        call.on_stream_chunk(piece, False)
        finally:
            close = getattr(response_stream, "aclose", None)
            if close is not None:
                await close()
        if not pieces:
            raise LLMError(f"LLM {self.model!r} streamed no content")
        if call.on_stream_chunk is not None:
            call.on_stream_chunk("", True)
        return "".join(pieces), _stream_price(litellm, chunks, call.messages)

    def _step_down(self, refused: FormatMode, exc: BaseException) -> None:
        target = _STEP_DOWN[refused]
        # Only ever down: a concurrent call may already have gone further.
        if _RANK[target] < _RANK[self._format_mode]:
            self._format_mode = target
        detail = self._redact(_one_line(exc))
        _log.warning(
            "LLM %r refused response_format %s (%s); sending %s from now on",
            *(self.model, refused, detail, self._format_mode),
        )

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        _log.warning(
            "LLM %r attempt %d failed (%s); retrying in %.2fs",
            *(self.model, state.attempt_number, type(error).__name__, state.upcoming_sleep),
        )

    def _describe(self, exc: BaseException, attempts: int) -> str:
        status = _status(exc)
        http = f", HTTP {status}" if status is not None else ""
        tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
        return self._redact(
            f"LLM {self.model!r} failed after {tries} ({type(exc).__name__}{http}): "
            f"{_one_line(exc)}"
        )

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _model_params(model: object) -> dict[str, Any]:
    if isinstance(model, str):
        params: dict[str, Any] = {"model": model}
    elif isinstance(model, Mapping):
        if not all(isinstance(key, str) for key in model):
            raise TypeError("the litellm parameter mapping must have string keys")
        if "model" not in model:
            raise ValueError(
                'the litellm parameter mapping needs a "model" entry, e.g. '
                '{"model": "openai/local", "api_base": "http://127.0.0.1:8000/v1"}'
            )
        params = dict(model)
    else:
        raise TypeError(
            f"model must be a litellm model name or a mapping of litellm parameters, "
            f"got {type(model).__name__}"
        )
    name = params["model"]
    if not isinstance(name, str):
        raise TypeError(f"the model name must be a string, got {type(name).__name__}")
    if not name.strip():
        raise ValueError("the model name must not be empty")
    return params


def _number(name: str, value: object, *, minimum: float, exclusive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    too_small = number <= minimum if exclusive else number < minimum
    if not math.isfinite(number) or too_small:
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


_litellm: Any = None
"""The litellm module once fully imported (``Any``: its API is dynamic, not type-checked here).

Not ``sys.modules["litellm"]``: that entry appears as soon as an import starts,
so a second call would see a half-initialised module while the first imports.
"""


async def _import_litellm() -> Any:
    global _litellm
    if _litellm is None:
        try:
            # Importing litellm takes seconds: do it off the event loop. Concurrent
            # first calls are safe: the import system makes the later ones wait.
            _litellm = await asyncio.to_thread(importlib.import_module, "litellm")
        except ModuleNotFoundError as exc:
            if exc.name != "litellm":
                raise
            raise ImportError(
                'LiteLLMClient needs litellm; install it with: pip install "penguiflow-planner"'
            ) from exc
    return _litellm


def _format_for(mode: FormatMode, requested: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if requested is None or mode == "none":
        return None
    if mode == "json_object" and requested.get("type") == "json_schema":
        return {"type": "json_object"}
    return requested


def _sent_mode(fmt: Mapping[str, Any] | None) -> FormatMode:
    if fmt is None:
        return "none"
    return "json_schema" if fmt.get("type") == "json_schema" else "json_object"


def _is_provider_error(exc: BaseException) -> bool:
    """Whether litellm or an HTTP stack under it raised ``exc`` (not a callback or a bug)."""
    return type(exc).__module__.partition(".")[0] in _PROVIDER_MODULES


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _is_transient(exc: BaseException) -> bool:
    if not _is_provider_error(exc):
        return False
    status = _status(exc)
    if status is not None and (status in _TRANSIENT_STATUS or status >= 500):
        return True
    return any(cls.__name__ in _TRANSIENT_TYPES for cls in type(exc).__mro__)


def _rejects_format(exc: BaseException, mode: FormatMode) -> bool:
    """Whether ``exc`` is the provider (or litellm) refusing the response format we sent."""
    status = _status(exc)
    if status not in (400, 422):
        return False
    text = f"{exc} {getattr(exc, 'body', '') or ''}".lower()
    words = _FORMAT_WORDS if mode == "json_schema" else _FORMAT_WORDS_OBJECT
    return any(word in text for word in words)


def _one_line(exc: BaseException) -> str:
    text = _LITELLM_PREFIX.sub("", str(exc).strip(), count=1)
    # litellm appends help banners on extra lines; the first line is the error.
    first = " ".join(text.splitlines()[:1]).strip() or type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


def _first_choice(response: Any) -> Any:
    choices = getattr(response, "choices", None)
    return choices[0] if choices else None


def _content(response: Any, part: Literal["message", "delta"]) -> str:
    """``choices[0].<part>.content`` of a response or stream chunk, ``""`` when absent."""
    content = getattr(getattr(_first_choice(response), part, None), "content", None)
    return content if isinstance(content, str) else ""


def _price(litellm: Any, response: Any) -> float:
    try:
        cost = float(litellm.completion_cost(completion_response=response))
    except Exception:  # litellm raises when it has no price for the model: it is free to us
        return 0.0
    return cost if math.isfinite(cost) and cost > 0 else 0.0


def _stream_price(litellm: Any, chunks: list[Any], messages: list[dict[str, str]]) -> float:
    try:
        rebuilt = litellm.stream_chunk_builder(chunks, messages=messages)
    except Exception:  # a cost we cannot rebuild must not fail a call that succeeded
        return 0.0
    return 0.0 if rebuilt is None else _price(litellm, rebuilt)
