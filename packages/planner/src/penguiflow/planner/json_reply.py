"""Reading an LLM's reply as one JSON object, whatever the model sent.

Every reply the planner parses (the main LLM's actions, the critic's reviews,
the summarisers' summaries) goes through `load_json_object`. Model output is
untrusted input: besides text that is not JSON at all, a reply can be valid
JSON nested thousands of levels deep (``"[" * 1000 + "]" * 1000``), which makes
``json.loads`` raise `RecursionError` and, well below that, makes pydantic and
``json.dumps`` fail later on when the action is recorded. Such replies are
malformed like any other: `ReplyError` says what is wrong, and the caller
repairs the reply or gives up as it would for bad JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from penguiflow.planner.errors import PlannerError

__all__ = ["MAX_REPLY_DEPTH", "ReplyError", "load_json_object"]

MAX_REPLY_DEPTH = 100
"""Deepest nesting of objects and lists accepted in a reply (the top-level object is 1)."""

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class ReplyError(PlannerError, ValueError):
    """An LLM's reply is not the JSON object asked for; the message says what is wrong."""


def load_json_object(text: str) -> dict[str, Any]:
    """The JSON object of a reply, bare or wrapped in a Markdown code fence.

    Raises:
        ReplyError: The reply is not JSON, is nested deeper than `MAX_REPLY_DEPTH`,
            or is not an object. The message starts with "the reply".
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ReplyError(
            f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise ReplyError(_too_deep()) from None
    # Depth first: whether json.loads itself gave up depends on the recursion limit.
    if _depth_exceeds(data, MAX_REPLY_DEPTH):
        raise ReplyError(_too_deep())
    if not isinstance(data, dict):
        raise ReplyError(f"the reply must be one JSON object, not a {type(data).__name__}")
    return data


def _too_deep() -> str:
    return f"the reply nests objects or lists more than {MAX_REPLY_DEPTH} levels deep"


def _depth_exceeds(data: Any, limit: int) -> bool:
    # Iterative on purpose: the data may be nested almost as deep as the recursion limit.
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
