"""The ``penguiflow worker`` command: serve one node of a flow from a message bus.

Usage::

    penguiflow worker module:attr --node NAME --bus URL [-o KEY=VALUE ...]
                      [--concurrency N] [--ack-wait SECONDS] [--namespace NS]
                      [--consumer NAME] [--log-level LEVEL]

``module:attr`` follows the factory contract of `penguiflow.cli.load_target`,
flows only: a flow, a ``(flow, registry)`` pair when the flow runs with a
`ModelRegistry`, or a callable (sync or async, no arguments) returning one —
the same factory the owning process uses. The worker serves the node through
`penguiflow.distributed.RemoteWorker` until SIGINT/SIGTERM; requests it holds
then go back to the group for another worker.

penguiflow-core registers this command under the ``penguiflow.commands``
entry-point group like any sibling command. Exit status: 0 stopped by a
signal; 1 the command failed (bus unreachable, factory failed); 2 the command
line is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from penguiflow.bus import BusError, open_bus
from penguiflow.cli._support import CliError, parse_options, redact
from penguiflow.cli.factory import (
    FactoryError,
    FactoryErrorCode,
    LoadedTarget,
    TargetKind,
    load_target,
)
from penguiflow.distributed import RemoteWorker

__all__ = ["WorkerCommand", "command"]

_FLOWS_ONLY: tuple[TargetKind, ...] = ("flow",)


class WorkerCommand:
    """``penguiflow worker``: a `penguiflow.cli.Command` serving one node from a bus."""

    name = "worker"
    help = "serve one node of a flow from a message bus"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the worker's arguments (see the module docstring)."""
        parser.description = "Serve one node of a flow from a message bus until SIGINT/SIGTERM."
        parser.add_argument(
            "factory",
            metavar="module:attr",
            help="the flow, a (flow, registry) pair, or a callable (sync or async, no "
            "arguments) returning one",
        )
        parser.add_argument("--node", required=True, help="name of the node to serve")
        parser.add_argument(
            "--bus",
            required=True,
            help="bus URL: redis://host:6379/0, nats://host:4222, memory://",
        )
        parser.add_argument(
            "-o",
            "--bus-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="option for the bus's open(), e.g. prefix=myapp (Redis) or stream_prefix=MYAPP "
            "(NATS); repeatable; numbers and true/false are converted",
        )
        parser.add_argument("--concurrency", type=int, default=1, help="requests run at once (1)")
        parser.add_argument(
            "--ack-wait",
            type=float,
            default=30.0,
            help="seconds before an unacknowledged request goes to another worker (30)",
        )
        parser.add_argument("--namespace", default=None, help="the flow's bus_namespace, if set")
        parser.add_argument("--consumer", default=None, help="this worker's name (host-pid-random)")
        parser.add_argument(
            "--log-level",
            default="INFO",
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            type=str.upper,
            help="logging level (INFO)",
        )

    def run(self, args: argparse.Namespace) -> int:
        """Serve until SIGINT/SIGTERM; return 0.

        Raises:
            CliError: The factory, the bus or the node is wrong (one line, exit 1 or 2).
        """
        logging.basicConfig(
            level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        asyncio.run(_serve(args))
        return 0


command: WorkerCommand = WorkerCommand()
"""The object the ``worker`` entry point loads."""


async def _load_flow(spec: str) -> LoadedTarget:
    try:
        return await load_target(spec, accept=_FLOWS_ONLY)
    except FactoryError as exc:
        usage = exc.code is FactoryErrorCode.MALFORMED_SPEC
        raise CliError(str(exc), exit_code=2 if usage else 1) from None


async def _serve(args: argparse.Namespace) -> None:
    options = parse_options(args.bus_option, "--bus-option")
    loaded = await _load_flow(args.factory)
    try:
        bus = await open_bus(args.bus, **options)
    except (TypeError, ValueError) as exc:  # malformed URL, unknown scheme or option
        raise CliError(f"--bus {redact(args.bus)}: {exc}", exit_code=2) from None
    except BusError as exc:
        raise CliError(str(exc)) from None
    try:
        try:
            worker = RemoteWorker(
                loaded.flow,
                args.node,
                bus,
                registry=loaded.registry,
                concurrency=args.concurrency,
                ack_wait_s=args.ack_wait,
                consumer=args.consumer,
                namespace=args.namespace,
            )
        except (TypeError, ValueError) as exc:
            raise CliError(str(exc), exit_code=2) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        serving = loop.create_task(worker.serve())
        waiting = loop.create_task(stop.wait())
        await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if serving.done():
            serving.result()  # the bus failed for good: report it
            return
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        logging.getLogger("penguiflow.distributed").info("worker %s stopped", worker.consumer)
    except BusError as exc:
        raise CliError(str(exc)) from None
    finally:
        await bus.close()
