"""MemoryBudget and ShortTermMemoryConfig: defaults, validation, the seed's call shapes."""

from __future__ import annotations

from typing import Any

import pytest

from penguiflow.planner.memory import MemoryBudget, MemoryKey, ShortTermMemoryConfig


def test_the_seed_configuration_builds() -> None:
    config = ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(
            full_zone_turns=5,
            summary_max_tokens=1000,
            total_max_tokens=8000,
            overflow_policy="truncate_oldest",
        ),
    )
    assert config.enabled
    assert config.require_explicit_key is True
    assert MemoryKey(tenant_id="acme", user_id="user123", session_id="sess-abc")


def test_the_seed_callbacks_configuration_builds() -> None:
    seen: list[Any] = []
    config = ShortTermMemoryConfig(
        on_turn_added=lambda turn: seen.append(turn),
        on_summary_updated=lambda summary: seen.append(summary),
        on_health_changed=lambda old, new: seen.append((old, new)),
    )
    assert config.strategy == "none"
    assert not config.enabled


def test_defaults() -> None:
    budget = MemoryBudget()
    assert (budget.full_zone_turns, budget.summary_max_tokens, budget.total_max_tokens) == (
        5,
        1000,
        8000,
    )
    assert budget.overflow_policy == "truncate_oldest"
    assert ShortTermMemoryConfig().budget == budget


@pytest.mark.parametrize(
    "kwargs",
    [
        {"full_zone_turns": 0},
        {"summary_max_tokens": 0},
        {"total_max_tokens": -1},
        {"total_max_tokens": 1.5},
        {"full_zone_turns": True},
        {"overflow_policy": "drop_everything"},
    ],
)
def test_budget_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="MemoryBudget"):
        MemoryBudget(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strategy": "lru"}, ValueError, "strategy"),
        ({"budget": {"full_zone_turns": 3}}, TypeError, "budget"),
        ({"require_explicit_key": "yes"}, TypeError, "require_explicit_key"),
        ({"summarizer_retries": -1}, ValueError, "summarizer_retries"),
        ({"summarizer_backoff_s": float("nan")}, ValueError, "summarizer_backoff_s"),
        ({"summarizer_timeout_s": 0}, ValueError, "summarizer_timeout_s"),
        ({"recovery_probe_every_turns": 0}, ValueError, "recovery_probe_every_turns"),
        ({"max_sessions": 0}, ValueError, "max_sessions"),
        ({"on_turn_added": "print"}, TypeError, "on_turn_added"),
        ({"token_estimator": 4}, TypeError, "token_estimator"),
    ],
)
def test_config_rejects_bad_values(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ShortTermMemoryConfig(**kwargs)


def test_configs_are_frozen() -> None:
    config = ShortTermMemoryConfig()
    with pytest.raises(AttributeError):
        config.strategy = "truncation"  # type: ignore[misc]


def test_token_estimation_is_pluggable_and_checked() -> None:
    assert ShortTermMemoryConfig().estimate("x" * 40) == 10
    assert ShortTermMemoryConfig().estimate("") == 0
    assert ShortTermMemoryConfig(token_estimator=len).estimate("x" * 40) == 40
    broken = ShortTermMemoryConfig(token_estimator=lambda text: -1)
    with pytest.raises(TypeError, match="token_estimator"):
        broken.estimate("text")
