"""Message types that travel through a flow: envelopes, stream chunks and controller state."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "WM",
    "FinalAnswer",
    "Headers",
    "Message",
    "PlanStep",
    "StreamChunk",
    "Thought",
]


def _new_trace_id() -> str:
    return uuid.uuid4().hex


# A trace id or tenant keys history, fetch and cancel: an empty or blank one
# could be written but never asked for again. Constraints rather than a Python
# validator keep envelope construction on the fast path (checked in Rust); the
# default trace id is not validated at all.
_Key = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]

# Validators are built on first use rather than at import: `import penguiflow`
# stays cheap and programs pay only for the types they touch.
_LAZY = ConfigDict(defer_build=True)


class Headers(BaseModel):
    """Routing headers of an envelope.

    Attributes:
        tenant: The tenant the trace belongs to. Required and not blank: it
            is the unit of isolation for fetch, cancel and history.
        topic: Optional free-form topic used by routers.
        priority: Optional priority hint (higher is more urgent).
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, defer_build=True)

    tenant: _Key
    topic: str | None = None
    priority: int = 0


class Message(BaseModel):
    """The envelope: a payload plus the headers, trace id and metadata that follow it.

    Unknown public attribute reads are forwarded to the payload, so results
    fetched from Rookery can be used like the payload they carry
    (``out.prompt`` as well as ``out.payload.prompt``).

    Attributes:
        payload: The value carried by the envelope (usually a pydantic model).
        headers: Routing headers; ``tenant`` is required.
        trace_id: Correlates every message of one run. A fresh uuid4 hex by
            default; an explicit one must not be empty or blank.
        ts: Creation time, epoch seconds.
        deadline_s: Absolute wall-clock deadline (epoch seconds) or ``None``.
        meta: Mutable metadata carried across hops (see the metadata guide).

    Example:
        >>> msg = Message(payload={"q": "hi"}, headers=Headers(tenant="acme"))
        >>> msg.meta["request_id"] = "abc123"
    """

    model_config: ClassVar[ConfigDict] = _LAZY

    payload: Any
    headers: Headers
    trace_id: _Key = Field(default_factory=_new_trace_id)
    ts: float = Field(default_factory=time.time)
    deadline_s: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Pydantic's own __getattr__ serves private attributes; anything
            # else public falls through to the payload as a read-only convenience.
            try:
                return super().__getattr__(name)
            except AttributeError:
                if name.startswith("_"):
                    raise
                try:
                    payload = object.__getattribute__(self, "__dict__")["payload"]
                except (AttributeError, KeyError):
                    raise AttributeError(name) from None
                try:
                    return getattr(payload, name)
                except AttributeError:
                    raise AttributeError(
                        f"{type(self).__name__!r} object has no attribute {name!r} "
                        f"(and neither has its payload of type {type(payload).__name__!r})"
                    ) from None


class StreamChunk(BaseModel):
    """One piece of a streamed response (for example an LLM token).

    Attributes:
        stream_id: Identifies the stream; defaults to the parent's trace id.
        seq: Position in the stream, starting at 0, without gaps.
        text: The chunk's text.
        done: ``True`` on the last chunk of the stream.
        meta: Extra data for the consumer.
    """

    model_config: ClassVar[ConfigDict] = _LAZY

    stream_id: str
    seq: int
    text: str
    done: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)


class PlanStep(BaseModel):
    """One step a controller intends to take.

    Attributes:
        kind: What kind of step it is (``"retrieve"``, ``"summarize"``, ...).
        args: Arguments for the step.
    """

    model_config: ClassVar[ConfigDict] = _LAZY

    kind: str
    args: dict[str, Any] = Field(default_factory=dict)


class Thought(BaseModel):
    """A controller's intermediate reasoning, kept for transparency.

    Attributes:
        steps: The steps the controller plans to take.
        rationale: Why.
        done: Whether the controller considers itself finished.
    """

    model_config: ClassVar[ConfigDict] = _LAZY

    steps: list[PlanStep] = Field(default_factory=list)
    rationale: str = ""
    done: bool = False


class WM(BaseModel):
    """Working memory of a controller loop.

    The runtime increments ``hops`` each time a controller routes a ``WM`` and
    ends the loop with a `FinalAnswer` when ``budget_hops`` or
    ``budget_tokens`` is exhausted. Leave a budget ``None`` to disable it.

    Attributes:
        query: The question the loop works on.
        facts: Facts gathered so far.
        hops: Passes through the controller so far (maintained by the runtime).
        budget_hops: Maximum number of hops, or ``None`` for no limit.
        tokens_used: Tokens spent so far (maintained by the controller).
        budget_tokens: Maximum number of tokens, or ``None`` for no limit.
        thoughts: Intermediate `Thought` records.
    """

    model_config: ClassVar[ConfigDict] = _LAZY

    query: str
    facts: list[Any] = Field(default_factory=list)
    hops: int = 0
    budget_hops: int | None = 8
    tokens_used: int = 0
    budget_tokens: int | None = None
    thoughts: list[Thought] = Field(default_factory=list)


class FinalAnswer(BaseModel):
    """The terminal answer of a controller loop.

    Attributes:
        text: The answer.
        citations: Sources backing the answer.
    """

    model_config: ClassVar[ConfigDict] = _LAZY

    text: str
    citations: list[str] = Field(default_factory=list)
