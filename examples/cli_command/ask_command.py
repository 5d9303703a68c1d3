"""``penguiflow ask TARGET QUESTION``: a subcommand another distribution plugs into ``penguiflow``.

Registered in this folder's ``pyproject.toml`` under the ``penguiflow.commands``
entry-point group; ``penguiflow`` finds it once the distribution is installed.
It loads TARGET with core's factory contract (a flow, a planner, or a
zero-argument factory returning one) and prints the answer to QUESTION.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from penguiflow import Headers, Message
from penguiflow.cli import CliError, FactoryError, LoadedTarget, load_target

__all__ = ["AskCommand", "ask", "command"]


async def ask(loaded: LoadedTarget, question: str, *, timeout_s: float = 30.0) -> str:
    """Put ``question`` to a flow (as the payload of one trace) or to a planner (as its query)."""
    if loaded.kind == "planner":
        outcome: Any = await asyncio.wait_for(loaded.planner.run(question), timeout_s)
        return str(getattr(outcome, "payload", outcome))
    flow = loaded.flow
    flow.run(registry=loaded.registry)
    try:
        message = Message(payload=question, headers=Headers(tenant="cli"))
        await flow.emit(message)
        result = await flow.first_result(message.trace_id, timeout=timeout_s)
    finally:
        await flow.stop()
    return str(result.payload if isinstance(result, Message) else result)


class AskCommand:
    """The four members `penguiflow.cli.Command` asks for."""

    name = "ask"
    help = "put one question to a flow or a planner and print the answer"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("target", help="module:attr naming a flow, a planner or a factory")
        parser.add_argument("question", help="the question (a flow gets it as its payload)")
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds (30)")

    def run(self, args: argparse.Namespace) -> int:
        if not args.timeout > 0:
            raise CliError(f"--timeout must be > 0; got {args.timeout}", exit_code=2)
        try:
            answer = asyncio.run(self._answer(args))
        except FactoryError as exc:
            raise CliError(str(exc)) from None
        print(answer)
        return 0

    async def _answer(self, args: argparse.Namespace) -> str:
        loaded = await load_target(args.target)
        return await ask(loaded, args.question, timeout_s=args.timeout)


command = AskCommand()
"""What the entry point ``ask = "ask_command:command"`` loads."""
