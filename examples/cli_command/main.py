"""The factory contract from Python: load a flow and a planner by name and ask each a question.

``penguiflow ask`` (``ask_command.py``, installed from this folder) does the
same from the terminal; run this file to see it without installing anything.
"""

from __future__ import annotations

import asyncio

from ask_command import ask

from penguiflow.cli import FactoryError, load_target

QUESTION = "where is my order"
TARGETS = ("agents:build_flow", "agents:shouting_flow", "agents:build_planner")


async def main() -> dict[str, str]:
    answers: dict[str, str] = {}
    for spec in TARGETS:
        loaded = await load_target(spec)
        answers[spec] = await ask(loaded, QUESTION, timeout_s=10)
        print(f"{spec} ({loaded.kind}): {answers[spec]}")
    try:
        await load_target("agents:build_flw")
    except FactoryError as exc:
        print(f"a typo: {exc}")
    return answers


if __name__ == "__main__":
    asyncio.run(main())
