"""Name checks, the JSON form of a `BusEnvelope` and the delivery base shared by the bus backends.

Every backend validates with the same rules, before any I/O, so a bad name
fails the same way on ``memory://`` as on a broker:

* topic: 1-200 characters, dot-separated words of letters, digits, ``_`` and
  ``-`` (``flow.node-a``); no empty word, so no leading, trailing or double
  dot (NATS subjects forbid them, and one rule for all backends keeps a flow
  portable);
* group: 1-100 letters, digits, ``_`` or ``-`` (no dot: it names a NATS
  durable consumer);
* consumer: 1-200 letters, digits, ``_``, ``-`` or ``.``;
* ``ack_wait_s``: a positive, finite number of seconds; ``ephemeral``: a bool
  (not merely truthy: ``ephemeral="no"`` must not delete a group on close).

An envelope travels as one compact JSON object (``topic``, ``body``,
``headers``, ``message_id``, ``ts``); `decode_envelope` checks every field's
type so a foreign or damaged record is reported, not half-read.
"""

from __future__ import annotations

import math
import re
from typing import Any

from penguiflow.bus.base import BusEnvelope

__all__ = [
    "DeliveryBase",
    "check_ack_wait",
    "check_consumer",
    "check_count",
    "check_ephemeral",
    "check_group",
    "check_seconds",
    "check_topic",
    "decode_envelope",
    "encode_envelope",
]

_TOPIC = re.compile(r"^[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*$")
_GROUP = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_CONSUMER = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
_MAX_TOPIC_LENGTH = 200


def check_topic(topic: object) -> str:
    """Return ``topic`` if it is a valid topic name.

    Raises:
        TypeError: ``topic`` is not a string.
        ValueError: It is empty, too long, or holds characters other than
            letters, digits, ``_``, ``-`` and single inner dots.
    """
    if not isinstance(topic, str):
        raise TypeError(f"a bus topic must be a string, got {type(topic).__name__}")
    if len(topic) > _MAX_TOPIC_LENGTH or not _TOPIC.match(topic):
        raise ValueError(
            f"invalid bus topic {topic!r:.80}: use 1-{_MAX_TOPIC_LENGTH} characters, "
            "dot-separated words of letters, digits, '_' or '-' (e.g. 'flow.enrich')"
        )
    return topic


def check_group(group: object) -> str:
    """Return ``group`` if it is a valid consumer group name.

    Raises:
        TypeError: ``group`` is not a string.
        ValueError: It is empty, longer than 100 characters, or holds anything
            but letters, digits, ``_`` and ``-``.
    """
    if not isinstance(group, str):
        raise TypeError(f"a consumer group must be a string, got {type(group).__name__}")
    if not _GROUP.match(group):
        raise ValueError(
            f"invalid consumer group {group!r:.80}: use 1-100 letters, digits, '_' or '-'"
        )
    return group


def check_consumer(consumer: object) -> str:
    """Return ``consumer`` if it is a valid consumer (group member) name.

    Raises:
        TypeError: ``consumer`` is not a string.
        ValueError: It is empty, longer than 200 characters, or holds anything
            but letters, digits, ``_``, ``-`` and ``.``.
    """
    if not isinstance(consumer, str):
        raise TypeError(f"a consumer name must be a string, got {type(consumer).__name__}")
    if not _CONSUMER.match(consumer):
        raise ValueError(
            f"invalid consumer name {consumer!r:.80}: use 1-200 letters, digits, '_', '-' or '.'"
        )
    return consumer


def check_seconds(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a positive, finite number of seconds.

    Raises:
        ValueError: It is not (the message names ``name``).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    seconds = float(value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


def check_count(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1 (not a bool).

    Raises:
        ValueError: It is not (the message names ``name``).
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_ack_wait(ack_wait_s: object) -> float:
    """Return ``ack_wait_s`` as a float if it is a positive, finite number of seconds.

    Raises:
        ValueError: It is not a positive finite number.
    """
    return check_seconds("ack_wait_s", ack_wait_s)


def check_ephemeral(ephemeral: object) -> bool:
    """Return ``ephemeral`` if it is a bool.

    Raises:
        TypeError: It is anything else (``1``, ``"yes"``, ``None``, ...).
    """
    if not isinstance(ephemeral, bool):
        raise TypeError(f"ephemeral must be True or False, got {ephemeral!r:.80}")
    return ephemeral


def encode_envelope(envelope: BusEnvelope) -> str:
    """Return the JSON text of ``envelope`` after checking its topic and fields.

    Raises:
        TypeError: ``envelope`` is not a `BusEnvelope`, or a field has the wrong type.
        ValueError: Bad topic, empty ``message_id``, or a body that is not
            JSON-safe (the message names the envelope).
    """
    import json  # on use: json is ~1.3 ms of `import penguiflow`

    if not isinstance(envelope, BusEnvelope):
        raise TypeError(f"publish() takes a BusEnvelope, got {type(envelope).__name__}")
    check_topic(envelope.topic)
    # Typed fields, but nothing stops a caller from passing anything: check at run time.
    message_id: object = envelope.message_id
    body: object = envelope.body
    headers: object = envelope.headers
    ts: object = envelope.ts
    where = f"envelope {message_id!r:.80} on topic {envelope.topic!r}"
    if not isinstance(message_id, str) or not message_id:
        raise ValueError(f"{where}: message_id must be a non-empty string")
    if not isinstance(body, dict):
        raise TypeError(f"{where}: body must be a dict, got {type(body).__name__}")
    if not isinstance(headers, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in headers.items()
    ):
        raise TypeError(f"{where}: headers must be a dict of str to str, got {headers!r:.200}")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise TypeError(f"{where}: ts must be epoch seconds, got {ts!r}")
    record = {
        "topic": envelope.topic,
        "body": body,
        "headers": headers,
        "message_id": message_id,
        "ts": float(ts),
    }
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{where}: the body is not JSON-safe: {exc}") from exc


def decode_envelope(raw: str | bytes) -> BusEnvelope:
    """Rebuild a `BusEnvelope` from its JSON text.

    Raises:
        ValueError: ``raw`` is not UTF-8 JSON of an envelope (the message says what is wrong).
    """
    import json  # on use: json is ~1.3 ms of `import penguiflow`

    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    data: Any = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    topic, body, headers = data.get("topic"), data.get("body"), data.get("headers")
    message_id, ts = data.get("message_id"), data.get("ts")
    if not isinstance(topic, str) or not isinstance(message_id, str) or not message_id:
        raise ValueError("the topic or message_id is missing")
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("the headers are not an object of strings")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise ValueError("ts is not a number")
    return BusEnvelope(topic=topic, body=body, headers=headers, message_id=message_id, ts=float(ts))


class DeliveryBase:
    """What every backend's `Delivery` shares: the envelope and the redelivery flag.

    Backends subclass it and add ``ack()`` with their own acknowledgement.
    """

    __slots__ = ("_envelope", "_redelivered")

    def __init__(self, envelope: BusEnvelope, redelivered: bool) -> None:
        self._envelope = envelope
        self._redelivered = redelivered

    @property
    def envelope(self) -> BusEnvelope:
        """The message."""
        return self._envelope

    @property
    def redelivered(self) -> bool:
        """Whether an earlier delivery of this message was not acknowledged in time."""
        return self._redelivered
