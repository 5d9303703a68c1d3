"""The consumer groups of `penguiflow.bus.nats.NatsJetStreamBus`: their JetStream configuration,
joining one as it is, and looking one up.

Imports the nats-py driver at import time; only `penguiflow.bus._nats_connection`
imports this module, itself imported inside the guarded driver import of
`penguiflow.bus.nats`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from nats.js import JetStreamContext, api
from nats.js import errors as js_errors

__all__ = ["find_group", "group_config", "join_group"]

_STREAM_NOT_FOUND = 10059  # JetStream err_code
_DELIVER_POLICY_FIXED = 10012  # a consumer's deliver policy cannot be updated


def group_config(
    subject: str,
    group: str,
    ack_wait_s: float,
    *,
    ephemeral_ttl_s: float | None = None,
    start_seq: int | None = None,
) -> api.ConsumerConfig:
    """The durable pull consumer of ``group`` on ``subject``.

    A durable group starts at the stream's first message. An ephemeral one
    (``ephemeral_ttl_s`` given) starts after the last, or at ``start_seq``,
    and is deleted by the server after ``ephemeral_ttl_s`` without readers.
    """
    if ephemeral_ttl_s is None:
        policy, start_seq = api.DeliverPolicy.ALL, None
    elif start_seq is None:
        policy = api.DeliverPolicy.NEW
    else:
        policy = api.DeliverPolicy.BY_START_SEQUENCE
    kind = "group" if ephemeral_ttl_s is None else "ephemeral group"
    return api.ConsumerConfig(
        name=group,
        durable_name=group,
        description=f"penguiflow bus {kind} {group!r}",
        deliver_policy=policy,
        opt_start_seq=start_seq,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=-1,
        filter_subject=subject,
        inactive_threshold=ephemeral_ttl_s,
    )


async def join_group(
    js: JetStreamContext, stream: str, config: api.ConsumerConfig
) -> api.ConsumerInfo:
    """Create the group of ``config``, or update it keeping its position and inactivity limit.

    JetStream refuses to change a consumer's deliver policy, so a group that
    exists with another one (ephemeral vs durable, or recreated from a
    sequence) is joined as it is, with the rest of ``config`` (``ack_wait``).
    """
    try:
        return await js.add_consumer(stream, config)
    except js_errors.APIError as exc:
        if exc.err_code != _DELIVER_POLICY_FIXED:
            raise
    assert config.durable_name is not None
    found = (await js.consumer_info(stream, config.durable_name)).config
    kept = dataclasses.replace(
        config,
        description=found.description,
        deliver_policy=found.deliver_policy,
        opt_start_seq=found.opt_start_seq,
        opt_start_time=found.opt_start_time,
        inactive_threshold=found.inactive_threshold,
    )
    return await js.add_consumer(stream, kept)


async def find_group(
    js: JetStreamContext, stream: str, group: str
) -> Literal["found", "no group", "no stream"]:
    """Whether ``group`` exists on ``stream``, and if not, whether the stream is gone too."""
    try:
        await js.consumer_info(stream, group)
    except js_errors.NotFoundError as exc:
        return "no stream" if exc.err_code == _STREAM_NOT_FOUND else "no group"
    return "found"
