"""The public surface of penguiflow.planner.memory: every exported name exists, once."""

from __future__ import annotations

import penguiflow.planner.memory as memory


def test_every_exported_name_exists_once() -> None:
    for name in memory.__all__:
        assert getattr(memory, name) is not None, name
    assert len(set(memory.__all__)) == len(memory.__all__)


def test_the_names_the_planner_and_the_seed_use_are_exported() -> None:
    expected = {
        "ConversationTurn",
        "DefaultShortTermMemory",
        "MemoryBudget",
        "MemoryBudgetExceeded",
        "MemoryHealth",
        "MemoryKey",
        "MemoryKeyRequired",
        "MemorySessions",
        "MemoryStateError",
        "ShortTermMemory",
        "ShortTermMemoryConfig",
        "render_memory_message",
    }
    assert expected <= set(memory.__all__)


def test_health_states_are_the_four_of_the_contract() -> None:
    assert [h.name for h in memory.MemoryHealth] == [
        "HEALTHY",
        "RETRY",
        "DEGRADED",
        "RECOVERING",
    ]
