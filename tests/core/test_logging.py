"""penguiflow.logging: JSON lines, redaction of secrets, configure_logging."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import Message, Node, NodePolicy, create, log_flow_events
from penguiflow.logging import (
    DEFAULT_REDACT_KEYS,
    REDACTED,
    JsonFormatter,
    configure_logging,
    redact,
    resolve_level,
)
from penguiflow.types import Headers

__all__: list[str] = []


@pytest.fixture
def scratch_logger() -> Iterator[logging.Logger]:
    """A logger of our own, restored afterwards (configure_logging changes global state)."""
    name = "penguiflow.tests.scratch"
    logger = logging.getLogger(name)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def format_record(formatter: logging.Formatter, **kwargs: Any) -> str:
    logger = logging.getLogger("penguiflow.tests.format")
    record = logger.makeRecord(
        logger.name,
        kwargs.pop("level", logging.INFO),
        "file.py",
        1,
        kwargs.pop("msg", "hello %s"),
        kwargs.pop("args", ("world",)),
        kwargs.pop("exc_info", None),
        extra=kwargs.pop("extra", None),
    )
    return formatter.format(record)


# -- redact ---------------------------------------------------------------------------
class Credentials(BaseModel):
    user: str
    password: str


@dataclass
class Connection:
    host: str
    api_key: str


def test_redact_walks_nested_structures() -> None:
    value = {
        "user": "ann",
        "Authorization": "Bearer abc",
        "db-password": "hunter2",
        "openai_api_key": "sk-1",
        "tokens_used": 12,  # not a secret: only exact names or an `_<name>` suffix match
        "max_tokens": 100,
        "items": [{"secret": "s"}, ("plain", {"refresh_token": "r"})],
        "model": Credentials(user="bob", password="pw"),
        "conn": Connection(host="db", api_key="k"),
    }
    assert redact(value) == {
        "user": "ann",
        "Authorization": REDACTED,
        "db-password": REDACTED,
        "openai_api_key": REDACTED,
        "tokens_used": 12,
        "max_tokens": 100,
        "items": [{"secret": REDACTED}, ["plain", {"refresh_token": REDACTED}]],
        "model": {"user": "bob", "password": REDACTED},
        "conn": {"host": "db", "api_key": REDACTED},
    }
    assert value["Authorization"] == "Bearer abc"  # the input is left alone


def test_redact_with_custom_or_no_keys() -> None:
    assert redact({"pin": 1234, "password": "x"}, keys=["PIN"]) == {
        "pin": REDACTED,
        "password": "x",
    }
    assert redact({"password": "x"}, keys=()) == {"password": "x"}
    assert "password" in DEFAULT_REDACT_KEYS


def test_redact_stops_at_a_bounded_depth() -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(100):
        cursor["next"] = {}
        cursor = cursor["next"]
    text = json.dumps(redact(deep))
    assert "too deep to log" in text


# -- JsonFormatter --------------------------------------------------------------------
def test_json_formatter_writes_one_object_per_line_with_extras() -> None:
    line = format_record(
        JsonFormatter(),
        extra={"node_name": "parse", "ts": 1.5, "obj": object(), "meta": {"token": "t"}},
    )
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "INFO"
    assert data["logger"] == "penguiflow.tests.format"
    assert data["message"] == "hello world"
    assert data["ts"].endswith("+00:00") and "T" in data["ts"]
    assert data["node_name"] == "parse"
    assert data["extra_ts"] == 1.5  # an extra named like a reserved key is renamed
    assert data["obj"].startswith("<object object")  # str() for what JSON cannot hold
    assert data["meta"] == {"token": REDACTED}


def test_json_formatter_includes_exceptions_as_text() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        import sys

        line = format_record(JsonFormatter(), level=logging.ERROR, exc_info=sys.exc_info())
    data = json.loads(line)
    assert data["level"] == "ERROR"
    assert data["exception"].startswith("Traceback (most recent call last):")
    assert data["exception"].rstrip().endswith("ValueError: bad value")


def test_json_formatter_redaction_can_be_turned_off() -> None:
    data = json.loads(format_record(JsonFormatter(redact_keys=()), extra={"password": "p"}))
    assert data["password"] == "p"


# -- configure_logging ------------------------------------------------------------------
def test_configure_logging_is_idempotent_and_writes_json(scratch_logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("debug", stream=first, logger_name=scratch_logger.name)
    logger = configure_logging("DEBUG", stream=second, logger_name=scratch_logger.name)

    assert logger is scratch_logger
    assert len(logger.handlers) == 1
    assert logger.level == logging.DEBUG
    assert logger.propagate is False
    logger.getChild("child").debug("step %d", 3, extra={"api_key": "k", "n": 1})
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    data = json.loads(line)
    assert data["message"] == "step 3"
    assert data["logger"] == f"{scratch_logger.name}.child"
    assert data["api_key"] == REDACTED
    assert data["n"] == 1


def test_configure_logging_text_mode(scratch_logger: logging.Logger) -> None:
    stream = io.StringIO()
    logger = configure_logging(
        logging.WARNING, json=False, stream=stream, logger_name=scratch_logger.name
    )
    logger.info("hidden")
    logger.warning("careful", extra={"password": "p", "node_name": "a"})
    (line,) = stream.getvalue().splitlines()
    assert f"WARNING {scratch_logger.name}: careful" in line
    assert "password='[REDACTED]'" in line
    assert "node_name='a'" in line


def test_configure_logging_keeps_foreign_handlers(scratch_logger: logging.Logger) -> None:
    theirs = logging.NullHandler()
    scratch_logger.addHandler(theirs)
    configure_logging(stream=io.StringIO(), logger_name=scratch_logger.name)
    configure_logging(stream=io.StringIO(), logger_name=scratch_logger.name)
    assert theirs in scratch_logger.handlers
    assert len(scratch_logger.handlers) == 2


def test_levels_are_checked() -> None:
    assert resolve_level("warning") == logging.WARNING
    assert resolve_level(15) == 15
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")
    with pytest.raises(ValueError, match=">= 0"):
        resolve_level(-1)
    with pytest.raises(TypeError, match="int or a level name"):
        resolve_level(2.5)  # type: ignore[arg-type]


# -- end to end: FlowEvents as JSON lines ---------------------------------------------
async def test_flow_events_become_json_lines(scratch_logger: logging.Logger) -> None:
    stream = io.StringIO()
    logger = configure_logging(stream=stream, logger_name=scratch_logger.name)

    async def work(msg: Message, _ctx: object) -> Message:
        return msg

    node = Node(work, policy=NodePolicy(validate="none"))
    flow = create(node.to(), middlewares=[log_flow_events(logger)])
    flow.run()
    try:
        message = Message(payload="x", headers=Headers(tenant="acme"))
        await flow.emit(message)
        await flow.fetch()
    finally:
        await flow.stop()

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["node_start", "node_success"]
    success = lines[1]
    assert success["event"] == "node_success"
    assert success["node_name"] == "work"
    assert success["trace_id"] == message.trace_id
    assert success["latency_ms"] >= 0
    assert isinstance(success["extra_ts"], float)
    assert success["extra"] == {}
