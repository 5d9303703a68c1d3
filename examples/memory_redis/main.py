"""Short-term memory in Redis: a shopping chat whose turns are served by different processes.

A web tier that runs many stateless planner processes keeps the
conversations in Redis: the planner's ``state_store`` is
``open_store("redis://...", prefix=...)``, and every turn's memory is saved
there under ``{prefix}:memory:{tenant:user:session}``.

``write PREFIX`` serves turns 1 and 2 of a session and exits. ``read PREFIX``
is another process: a new planner on the same Redis prefix serves turn 3,
which only makes sense with the first two turns ("the cheapest blue one",
in "my size"). The strategy is ``truncation`` (the last three turns), so no
summariser is involved. The process also shows the explicit calls of the
seed README on the session's memory: ``await memory.hydrate(store,
key.composite())`` (reload what the store holds) and ``await
memory.persist(store, key.composite())``.

Redis is at ``--url`` (default: ``$PENGUIFLOW_TEST_REDIS_URL``, else
``redis://127.0.0.1:6379/0``). The LLM is a `ScriptedLLM` whose replies are
computed from the ``conversation_memory`` block of each prompt.

Run it from the repository root::

    .venv/bin/python examples/memory_redis/main.py write shop-demo
    .venv/bin/python examples/memory_redis/main.py read shop-demo

or, with no arguments, both steps as two child processes on a fresh prefix,
deleted afterwards::

    .venv/bin/python examples/memory_redis/main.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import (
    MemoryBudget,
    MemoryKey,
    PlannerFinish,
    ReactPlanner,
    ShortTermMemoryConfig,
)
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import StateStore, open_store

__all__ = [
    "CONFIG",
    "DEFAULT_URL",
    "KEY",
    "TURNS",
    "ReadResult",
    "build_planner",
    "destroy",
    "main",
    "read_session",
    "shown_memory",
    "write_session",
]

DEFAULT_URL = os.environ.get("PENGUIFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Messages = list[dict[str, str]]


class Search(BaseModel):
    category: str
    size: int
    max_price_eur: int


class Product(BaseModel):
    sku: str
    name: str
    price_eur: int


class Products(BaseModel):
    products: list[Product]


class SkuList(BaseModel):
    skus: list[str]


class Colours(BaseModel):
    colours: dict[str, list[str]]


class OrderLine(BaseModel):
    sku: str
    size: int
    colour: str


class Order(BaseModel):
    order_id: str
    sku: str
    size: int
    colour: str
    price_eur: int


CATALOGUE = [
    Product(sku="RS-210", name="Trail Runner 2", price_eur=95),
    Product(sku="RS-340", name="Road Glide", price_eur=115),
    Product(sku="RS-480", name="Carbon Pace", price_eur=180),
]
COLOURS = {"RS-210": ["black", "blue"], "RS-340": ["blue", "white"], "RS-480": ["red"]}


@tool(desc="Search the shop's products", side_effects="read")
async def search_products(args: Search, ctx: Any) -> Products:
    return Products(products=[p for p in CATALOGUE if p.price_eur <= args.max_price_eur])


@tool(desc="Colours available for products", side_effects="read")
async def check_colours(args: SkuList, ctx: Any) -> Colours:
    return Colours(colours={sku: COLOURS[sku] for sku in args.skus})


@tool(desc="Place an order for one product", side_effects="write")
async def place_order(args: OrderLine, ctx: Any) -> Order:
    price = next(p.price_eur for p in CATALOGUE if p.sku == args.sku)
    return Order(
        order_id="SO-5521", sku=args.sku, size=args.size, colour=args.colour, price_eur=price
    )


registry = ModelRegistry()
registry.register("search_products", Search, Products)
registry.register("check_colours", SkuList, Colours)
registry.register("place_order", OrderLine, Order)

KEY = MemoryKey(tenant_id="shop", user_id="kim", session_id="chat-88")
CONFIG = ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(full_zone_turns=3))
TURNS = (
    "I need running shoes, size 42, under 120 EUR.",
    "Do any of them come in blue?",
    "Order the cheapest blue one in my size.",
)

SKU = re.compile(r"\b(RS-\d{3})\b")


def shown_memory(messages: Messages) -> dict[str, Any] | None:
    """The ``conversation_memory`` block of the prompt, or ``None`` when there is none."""
    for message in messages:
        if message["role"] == "system" and '"conversation_memory"' in message["content"]:
            content = message["content"]
            block: dict[str, Any] = json.loads(content[content.index("{") :])
            return dict(block["conversation_memory"])
    return None


def recent_answers(messages: Messages) -> list[str]:
    memory = shown_memory(messages)
    if memory is None:
        raise LookupError("no conversation memory in the prompt")
    return [turn["assistant"] for turn in memory["recent_turns"]]


def observation(messages: Messages) -> Any:
    return json.loads(messages[-1]["content"])["observation"]


# -- the planner's LLM -------------------------------------------------------------------------


def list_products(messages: Messages) -> dict[str, Any]:
    found = observation(messages)["products"]
    listed = "; ".join(f"{p['name']} ({p['sku']}, {p['price_eur']} EUR)" for p in found)
    return {
        "thought": f"{len(found)} shoes are under the budget; I'll list them with prices.",
        "next_node": None,
        "answer": f"Size 42, under 120 EUR: {listed}.",
    }


def colours_of_listed(messages: Messages) -> dict[str, Any]:
    skus = SKU.findall(recent_answers(messages)[-1])
    return {
        "thought": (
            f"'Them' are the shoes I listed in the previous turn: {', '.join(skus)}. "
            "I'll check their colours."
        ),
        "next_node": "check_colours",
        "args": {"skus": skus},
    }


def list_blue(messages: Messages) -> dict[str, Any]:
    colours = observation(messages)["colours"]
    blue = [sku for sku, options in colours.items() if "blue" in options]
    return {
        "thought": "Both come in blue; I'll say so.",
        "next_node": None,
        "answer": f"Yes: {' and '.join(blue)} come in blue.",
    }


def order_cheapest_blue(messages: Messages) -> dict[str, Any]:
    first, second = recent_answers(messages)[-2:]
    size = int(re.findall(r"Size (\d+)", first)[0])
    prices = {sku: int(price) for sku, price in re.findall(r"(RS-\d{3}), (\d+) EUR", first)}
    blue = SKU.findall(second)
    cheapest = min(blue, key=prices.__getitem__)
    return {
        "thought": (
            f"From the earlier turns: size {size}; the blue ones are {', '.join(blue)}, and "
            f"{cheapest} is the cheapest at {prices[cheapest]} EUR. I'll order it."
        ),
        "next_node": "place_order",
        "args": {"sku": cheapest, "size": size, "colour": "blue"},
    }


def confirm_order(messages: Messages) -> dict[str, Any]:
    order = observation(messages)
    return {
        "thought": "The order went through; I'll confirm it.",
        "next_node": None,
        "answer": (
            f"Ordered: {order['sku']} in {order['colour']}, size {order['size']}, "
            f"{order['price_eur']} EUR (order {order['order_id']})."
        ),
    }


WRITE_SCRIPT: list[Any] = [
    {
        "thought": "Running shoes, size 42, at most 120 EUR: I'll search the shop.",
        "next_node": "search_products",
        "args": {"category": "running shoes", "size": 42, "max_price_eur": 120},
    },
    list_products,
    colours_of_listed,
    list_blue,
]
READ_SCRIPT: list[Any] = [order_cheapest_blue, confirm_order]


def build_planner(llm: ScriptedLLM, store: StateStore) -> ReactPlanner:
    """The shop assistant: truncation memory, saved to ``store``."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([search_products, check_colours, place_order], registry),
        short_term_memory=CONFIG,
        state_store=store,
    )


def wrap(text: str, indent: str = "  ") -> str:
    """``text`` wrapped at 88 columns, continuation lines indented."""
    return textwrap.fill(text, 88, subsequent_indent=indent, break_on_hyphens=False)


async def serve(planner: ReactPlanner, llm: ScriptedLLM, number: int) -> PlannerFinish:
    """Turn ``number`` of the chat, printed."""
    question = TURNS[number - 1]
    first_call = len(llm.calls)
    result = await planner.run(question, memory_key=KEY)
    assert isinstance(result, PlannerFinish), result
    memory = shown_memory(llm.calls[first_call].messages)
    print(f"turn {number}: {question}")
    print(f"  memory shown to the LLM: {len(memory['recent_turns']) if memory else 0} turn(s)")
    for step in result.metadata["steps"]:
        if step["node_name"] is not None:
            print(wrap(f"  thought: {step['thought']}", indent="    "))
            print(f"  {step['node_name']} {json.dumps(step['args'])}")
    print(wrap(f"  assistant: {result.payload}", indent="    "))
    return result


@dataclass(slots=True)
class ReadResult:
    """What the reading process found and did."""

    reloaded: bool
    result: PlannerFinish
    llm: ScriptedLLM


async def write_session(url: str, prefix: str) -> list[PlannerFinish]:
    """First process: turns 1 and 2; every turn is saved to Redis as it finishes."""
    print(f"== process 1: session {KEY.composite()} in Redis")
    async with await open_store(url, prefix=prefix) as store:
        llm = ScriptedLLM(WRITE_SCRIPT)
        planner = build_planner(llm, store)
        results = [await serve(planner, llm, number) for number in (1, 2)]
        await planner.aclose()
        saved = await store.load_memory_state(KEY.composite())
        print(f"Redis holds {len(saved['turns']) if saved else 0} turn(s) of {KEY.composite()}")
    return results


async def read_session(url: str, prefix: str) -> ReadResult:
    """Second process: a new planner on the same prefix serves turn 3."""
    print("== process 2: a new planner on the same Redis prefix")
    async with await open_store(url, prefix=prefix, create=False) as store:
        llm = ScriptedLLM(READ_SCRIPT)
        planner = build_planner(llm, store)
        # Runs reload a session another process saved since; hydrate() does it on demand.
        memory = await planner.memory(KEY)
        reloaded = await memory.hydrate(store, KEY.composite())
        print(f"reloaded from Redis: {reloaded}, {len(memory.recent_turns)} turn(s)")
        result = await serve(planner, llm, 3)
        await memory.persist(store, KEY.composite())  # already saved; harmless to repeat
        await planner.aclose()
    return ReadResult(reloaded, result, llm)


async def destroy(url: str, prefix: str) -> None:
    """Delete every key under ``prefix``."""
    store: Any = await open_store(url, prefix=prefix)
    await store.destroy()


def _both_steps(url: str) -> int:
    """``write`` then ``read`` as two separate processes, on a fresh prefix deleted afterwards."""
    prefix = f"memory-demo-{uuid.uuid4().hex[:12]}"
    try:
        for step in ("write", "read"):
            done = subprocess.run(
                [sys.executable, __file__, "--url", url, step, prefix],
                capture_output=True,
                text=True,
                check=True,
            )
            print(done.stdout, end="")
    finally:
        asyncio.run(destroy(url, prefix))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``write PREFIX`` / ``read PREFIX``; no step runs both as child processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="Redis URL (default: %(default)s)")
    parser.add_argument("step", nargs="?", choices=["write", "read"])
    parser.add_argument("prefix", nargs="?", help="Redis key prefix of the store")
    args = parser.parse_args(argv)
    if args.step is None:
        return _both_steps(args.url)
    if args.prefix is None:
        parser.error(f"{args.step} needs a PREFIX")
    if args.step == "write":
        asyncio.run(write_session(args.url, args.prefix))
        return 0
    read = asyncio.run(read_session(args.url, args.prefix))
    return 0 if read.reloaded else 1


if __name__ == "__main__":
    raise SystemExit(main())
