"""The ``penguiflow`` console script.

Commands::

    penguiflow worker module:factory --node NAME --bus URL [-o KEY=VALUE ...]
                      [--concurrency N] [--ack-wait SECONDS] [--namespace NS]
                      [--consumer NAME] [--log-level LEVEL]

``worker`` serves one node of a flow from a message bus (see
`penguiflow.distributed`). ``module:factory`` is a callable (sync or async, no
arguments) returning the flow — the same factory the owning process uses —
or a ``(flow, registry)`` pair when the flow runs with a `ModelRegistry`.
The worker runs until SIGINT/SIGTERM; requests it holds then go back to the
group for another worker.

Errors are one line on stderr, never a traceback. Exit status: 0 stopped by
a signal; 1 the command failed (bus unreachable, factory failed); 2 the
command line is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Any

from penguiflow._cli_support import CliError, OneLineParser, fail, parse_options, redact
from penguiflow._factories import FactoryError, call_factory, is_factory_spec

__all__ = ["CliError", "build_parser", "main"]

_PROG = "penguiflow"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``penguiflow`` (exposed for docs and tests)."""
    parser = OneLineParser(prog=_PROG, description="PenguiFlow command line.")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser
    )
    worker = commands.add_parser(
        "worker",
        help="serve one node of a flow from a message bus",
        description="Serve one node of a flow from a message bus until SIGINT/SIGTERM.",
    )
    worker.add_argument("factory", help="module:factory returning the flow (or (flow, registry))")
    worker.add_argument("--node", required=True, help="name of the node to serve")
    worker.add_argument(
        "--bus", required=True, help="bus URL: redis://host:6379/0, nats://host:4222, memory://"
    )
    worker.add_argument(
        "-o",
        "--bus-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option for the bus's open(), e.g. prefix=myapp (Redis) or stream_prefix=MYAPP "
        "(NATS); repeatable; numbers and true/false are converted",
    )
    worker.add_argument("--concurrency", type=int, default=1, help="requests run at once (1)")
    worker.add_argument(
        "--ack-wait",
        type=float,
        default=30.0,
        help="seconds before an unacknowledged request goes to another worker (30)",
    )
    worker.add_argument("--namespace", default=None, help="the flow's bus_namespace, if set")
    worker.add_argument("--consumer", default=None, help="this worker's name (host-pid-random)")
    worker.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="logging level (INFO)",
    )
    return parser


async def _load_flow(spec: str) -> tuple[Any, Any]:
    from penguiflow.core import PenguiFlow
    from penguiflow.registry import ModelRegistry

    if not is_factory_spec(spec):
        raise CliError(f"the flow factory must look like package.module:function; got {spec!r}", 2)
    try:
        built = await call_factory(spec, "a PenguiFlow")
    except FactoryError as exc:
        raise CliError(str(exc)) from None
    flow, registry = built if isinstance(built, tuple) and len(built) == 2 else (built, None)
    if not isinstance(flow, PenguiFlow) or not (
        registry is None or isinstance(registry, ModelRegistry)
    ):
        raise CliError(
            f"{spec}() returned {type(built).__name__}; it must return a PenguiFlow "
            "or a (PenguiFlow, ModelRegistry) pair"
        )
    return flow, registry


async def _worker(args: argparse.Namespace) -> None:
    from penguiflow.bus import BusError, open_bus
    from penguiflow.distributed import RemoteWorker

    options = parse_options(args.bus_option, "--bus-option")
    flow, registry = await _load_flow(args.factory)
    try:
        bus = await open_bus(args.bus, **options)
    except (TypeError, ValueError) as exc:  # malformed URL, unknown scheme or option
        raise CliError(f"--bus {redact(args.bus)}: {exc}", exit_code=2) from None
    except BusError as exc:
        raise CliError(str(exc)) from None
    try:
        try:
            worker = RemoteWorker(
                flow,
                args.node,
                bus,
                registry=registry,
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``penguiflow`` on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(
            level=args.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        asyncio.run(_worker(args))
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except ImportError as exc:  # a missing driver names the extra to install
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    return 0


def _fail(message: str, code: int) -> int:
    return fail(_PROG, message, code)


if __name__ == "__main__":
    raise SystemExit(main())
