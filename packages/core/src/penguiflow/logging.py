"""Structured logging: a JSON-lines formatter, secret redaction and a one-call setup.

``configure_logging()`` gives the ``penguiflow`` loggers one handler writing
one JSON object per line::

    {"ts": "2026-01-02T03:04:05.678+00:00", "level": "INFO",
     "logger": "penguiflow.flow", "message": "node_success", "node_name": "parse", ...}

Fields passed with ``extra=`` (such as the `FlowEvent` fields that
``log_flow_events`` attaches) become top-level keys. Values under keys that
look like secrets (``password``, ``token``, ``api_key``, ``authorization``,
``secret``, ... and names ending in them, such as ``openai_api_key``) are
replaced by ``"[REDACTED]"`` at any depth.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "REDACTED",
    "JsonFormatter",
    "configure_logging",
    "redact",
    "resolve_level",
]

DEFAULT_REDACT_KEYS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "auth",
        "cookie",
        "set_cookie",
        "private_key",
        "secret_key",
        "access_key",
        "credentials",
    }
)
"""Keys redacted by default; a key also matches when it ends in ``_<key>`` (``db_password``)."""

REDACTED = "[REDACTED]"
"""What a redacted value is replaced with."""

_MAX_DEPTH = 32
_RESERVED = ("ts", "level", "logger", "message", "exception", "stack")
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _normalise(key: str) -> str:
    return key.lower().replace("-", "_")


def _is_secret(key: object, keys: frozenset[str]) -> bool:
    if not isinstance(key, str):
        return False
    name = _normalise(key)
    return name in keys or any(name.endswith(f"_{secret}") for secret in keys)


def redact(value: Any, keys: Iterable[str] = DEFAULT_REDACT_KEYS) -> Any:
    """Return a copy of ``value`` with secret-looking entries replaced by `REDACTED`.

    Walks mappings, lists, tuples and sets; pydantic models and dataclasses
    are turned into dicts first so their fields are checked too. Keys are
    compared case-insensitively with ``-`` read as ``_``; a key matches a
    secret name exactly or by ending in ``_<name>``. Other values are
    returned as they are.

    Args:
        value: What to clean (typically a dict of log fields or ``meta``).
        keys: Secret key names; ``()`` disables redaction.

    Example:
        >>> redact({"user": "ann", "db_password": "hunter2", "nested": {"Api-Key": "k"}})
        {'user': 'ann', 'db_password': '[REDACTED]', 'nested': {'Api-Key': '[REDACTED]'}}
    """
    secrets = frozenset(_normalise(key) for key in keys)
    if not secrets:
        return value
    return _redact(value, secrets, 0)


def _redact(value: Any, keys: frozenset[str], depth: int) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if depth >= _MAX_DEPTH:
        return "<too deep to log>"
    if isinstance(value, Mapping):
        return {
            k: REDACTED if _is_secret(k, keys) else _redact(v, keys, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(item, keys, depth + 1) for item in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return _redact(dump(mode="json"), keys, depth + 1)
        except Exception:  # not a pydantic model after all; leave it to str()
            return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _redact(fields, keys, depth + 1)
    return value


def resolve_level(level: int | str) -> int:
    """Turn ``"INFO"``/``"info"``/``20`` into a logging level number.

    Raises:
        ValueError: Unknown level name or a negative number.
        TypeError: Neither an int nor a str.
    """
    if isinstance(level, bool) or not isinstance(level, int | str):
        raise TypeError(f"log level must be an int or a level name; got {level!r}")
    if isinstance(level, int):
        if level < 0:
            raise ValueError(f"log level must be >= 0; got {level}")
        return level
    names = logging.getLevelNamesMapping()
    number = names.get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}; use one of {sorted(names)}")
    return number


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object on one line.

    Keys: ``ts`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``,
    ``message``, every field passed with ``extra=`` (an extra named like one
    of these keys is written as ``extra_<name>``), ``exception`` (the
    formatted traceback) when the record carries one, and ``stack`` for
    ``stack_info``. Values that JSON cannot hold are written with ``str()``.

    Args:
        redact_keys: Secret key names whose values are replaced by `REDACTED`
            (see `redact`); ``()`` turns redaction off.
    """

    def __init__(self, redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS) -> None:
        super().__init__()
        self.redact_keys: frozenset[str] = frozenset(_normalise(key) for key in redact_keys)

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line for ``record``."""
        created = _dt.datetime.fromtimestamp(record.created, _dt.UTC)
        data: dict[str, Any] = {
            "ts": created.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            data[f"extra_{key}" if key in _RESERVED else key] = value
        if self.redact_keys:
            data = _redact(data, self.redact_keys, 0)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        import json  # here, not at module level: `import penguiflow` stays cheap

        return json.dumps(data, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """``ts LEVEL logger: message key=value ...`` for humans, with the same redaction."""

    def __init__(self, redact_keys: frozenset[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact_keys = redact_keys

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = _extra_fields(record)
        if self.redact_keys:
            extra = _redact(extra, self.redact_keys, 0)
        if not extra:
            return text
        fields = " ".join(f"{key}={value!r}" for key, value in extra.items())
        head, sep, tail = text.partition("\n")  # keep a traceback below the fields
        return f"{head} {fields}{sep}{tail}"


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


def configure_logging(
    level: int | str = "INFO",
    json: bool = True,
    stream: IO[str] | None = None,
    logger_name: str = "penguiflow",
    *,
    redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
    propagate: bool = False,
) -> logging.Logger:
    """Send ``logger_name``'s records (and its children's) to ``stream``, structured.

    Calling it again replaces the handler it installed before instead of
    adding a second one.

    Args:
        level: Minimum level, as a number or a name such as ``"DEBUG"``.
        json: One JSON object per line (`JsonFormatter`); ``False`` gives a
            readable ``ts LEVEL logger: message key=value`` line.
        stream: Where to write; ``sys.stderr`` by default.
        logger_name: The logger to configure (``"penguiflow"`` covers every
            logger of the library, such as ``penguiflow.flow``).
        redact_keys: Secret key names to redact (see `redact`); ``()`` disables.
        propagate: Also pass records on to the parent (root) logger's handlers.

    Returns:
        The configured logger.

    Raises:
        ValueError: Unknown level name.

    Example:
        >>> configure_logging("DEBUG", json=True)  # doctest: +SKIP
    """
    number = resolve_level(level)
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if getattr(handler, "_penguiflow_handler", False):
            logger.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._penguiflow_handler = True  # type: ignore[attr-defined]
    keys = frozenset(_normalise(key) for key in redact_keys)
    handler.setFormatter(JsonFormatter(keys) if json else _TextFormatter(keys))
    logger.addHandler(handler)
    logger.setLevel(number)
    logger.propagate = propagate
    return logger
