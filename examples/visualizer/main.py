"""Visualiser: export a flow's graph as a Mermaid diagram in Markdown and as a Graphviz DOT file.

The flow fans a question out to two retrievers, merges what they find and
hands it to a controller that loops on itself until it can answer. The
diagrams show that shape: OpenSea and Rookery as the two ends, the fan-out,
the controller as a hexagon and its loop edge dashed and labelled.

Run it from the repository root, with an optional output folder (a new
temporary folder by default)::

    .venv/bin/python examples/visualizer/main.py [OUT_DIR]

Render the DOT file with Graphviz: ``dot -Tsvg OUT_DIR/flow.dot -o flow.svg``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from penguiflow import WM, Context, FinalAnswer, Message, Node, NodePolicy, PenguiFlow, create
from penguiflow.viz import flow_to_dot, flow_to_mermaid

__all__ = ["Diagrams", "build_flow", "main"]


@dataclass(frozen=True, slots=True)
class Diagrams:
    """What the example wrote.

    Attributes:
        mermaid: The Mermaid diagram (without the Markdown fence).
        dot: The Graphviz DOT text.
        markdown_path: ``flow.md``, the diagram in a fenced ``mermaid`` block.
        dot_path: ``flow.dot``.
    """

    mermaid: str
    dot: str
    markdown_path: Path
    dot_path: Path


async def triage(msg: Message, _ctx: Context) -> Message:
    """Turn the question into working memory for the rest of the flow."""
    return msg.model_copy(update={"payload": WM(query=str(msg.payload))})


async def search_web(msg: Message, _ctx: Context) -> Message:
    """One retriever of the fan-out."""
    wm: WM = msg.payload
    return msg.model_copy(update={"payload": wm.model_copy(update={"facts": ["web: ..."]})})


async def search_docs(msg: Message, _ctx: Context) -> Message:
    """The other retriever of the fan-out."""
    wm: WM = msg.payload
    return msg.model_copy(update={"payload": wm.model_copy(update={"facts": ["docs: ..."]})})


async def merge(msg: Message, _ctx: Context) -> Message:
    """Pass each retriever's findings on to the controller."""
    return msg


async def answer(msg: Message, _ctx: Context) -> Message:
    """Controller: loop until enough facts are known, then answer."""
    wm: WM = msg.payload
    if len(wm.facts) >= 2:
        return msg.model_copy(update={"payload": FinalAnswer(text="; ".join(wm.facts))})
    return msg.model_copy(update={"payload": wm.model_copy(update={"facts": [*wm.facts, "..."]})})


def build_flow() -> PenguiFlow:
    """Wire the flow: triage -> (search web | search docs) -> merge -> answer (loop)."""
    policy = NodePolicy(validate="none")
    triage_node = Node(triage, name="triage", policy=policy)
    web = Node(search_web, name="search web", policy=policy)
    docs = Node(search_docs, name="search docs", policy=policy)
    merge_node = Node(merge, name="merge", policy=policy)
    controller = Node(answer, name="answer", policy=policy, allow_cycle=True)
    return create(
        triage_node.to(web, docs),
        web.to(merge_node),
        docs.to(merge_node),
        merge_node.to(controller),
        controller.to(controller),
    )


async def main(out_dir: str | Path | None = None) -> Diagrams:
    """Write ``flow.md`` and ``flow.dot`` for the example flow into ``out_dir``.

    Args:
        out_dir: Folder to write into (created if missing); a new temporary
            folder when ``None``.

    Returns:
        The texts and where they were written.
    """
    folder = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="penguiflow-"))
    folder.mkdir(parents=True, exist_ok=True)
    flow = build_flow()
    mermaid = flow_to_mermaid(flow, direction="LR")
    dot = flow_to_dot(flow, rankdir="LR")
    markdown_path = folder / "flow.md"
    dot_path = folder / "flow.dot"
    markdown_path.write_text(f"# Example flow\n\n```mermaid\n{mermaid}```\n", encoding="utf-8")
    dot_path.write_text(dot, encoding="utf-8")
    return Diagrams(mermaid=mermaid, dot=dot, markdown_path=markdown_path, dot_path=dot_path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", help="output folder (default: a new temporary one)")
    diagrams = asyncio.run(main(parser.parse_args().out_dir))
    print(diagrams.mermaid)
    print(diagrams.dot, end="")
    print(f"\nwrote {diagrams.markdown_path}")
    print(f"wrote {diagrams.dot_path}")
