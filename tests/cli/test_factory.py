"""penguiflow.cli.factory: one contract for loading a flow or a planner from ``module:attr``."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from penguiflow import PenguiFlow
from penguiflow.cli import FactoryError, FactoryErrorCode, LoadedTarget, load_object, load_target
from penguiflow.errors import PenguiFlowError
from penguiflow.planner import PlannerFinish, ReactPlanner
from penguiflow.protocols import Flow, Planner
from penguiflow.registry import ModelRegistry

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def targets_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``factory_targets`` importable, as the working directory is for ``penguiflow worker``."""
    monkeypatch.syspath_prepend(str(HERE))


async def load_error(spec: str, **kwargs: object) -> FactoryError:
    with pytest.raises(FactoryError) as caught:
        await load_target(spec, **kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert error.spec == spec
    assert "\n" not in str(error), str(error)
    return error


# -- what the contract accepts -------------------------------------------------------


@pytest.mark.parametrize(
    "attribute",
    ["flow", "build_flow", "build_flow_async", "build_flow_with_defaults", "Builders.main"],
)
async def test_a_flow_instance_or_factory_loads_a_flow(attribute: str) -> None:
    loaded = await load_target(f"factory_targets:{attribute}")
    assert loaded.kind == "flow"
    assert isinstance(loaded.target, PenguiFlow)
    assert loaded.flow is loaded.target
    assert loaded.registry is None
    assert loaded.spec == f"factory_targets:{attribute}"


@pytest.mark.parametrize("attribute", ["build_pair", "PAIR"])
async def test_a_flow_and_registry_pair_keeps_the_registry(attribute: str) -> None:
    import factory_targets  # the module load_target imported

    loaded = await load_target(f"factory_targets:{attribute}", accept=("flow",))
    assert loaded.kind == "flow"
    assert isinstance(loaded.target, PenguiFlow)
    assert loaded.registry is factory_targets.registry
    assert isinstance(loaded.registry, ModelRegistry)


@pytest.mark.parametrize("attribute", ["planner", "build_planner", "Builders.planner"])
async def test_a_protocol_planner_loads_as_a_planner(attribute: str) -> None:
    loaded = await load_target(f"factory_targets:{attribute}")
    assert loaded.kind == "planner"
    assert isinstance(loaded.target, Planner)
    assert not isinstance(loaded.target, Flow)
    assert await loaded.planner.run("hi") == "echo: hi"
    assert loaded.registry is None


async def test_a_react_planner_loads_and_runs() -> None:
    loaded = await load_target("factory_targets:build_react_planner", accept=("planner",))
    assert isinstance(loaded.target, ReactPlanner)
    outcome = await loaded.planner.run("what is the answer?")
    assert isinstance(outcome, PlannerFinish)
    assert outcome.payload == "42"


async def test_the_loaded_flow_runs() -> None:
    loaded = await load_target("factory_targets:build_flow", accept=("flow",))
    loaded.flow.run(registry=loaded.registry)
    try:
        await loaded.flow.emit("ping")
        assert await loaded.flow.fetch() == "ping"
    finally:
        await loaded.flow.stop()


async def test_the_kind_accessors_refuse_the_other_kind() -> None:
    loaded = await load_target("factory_targets:planner")
    with pytest.raises(TypeError, match="loaded a planner, not a flow"):
        _ = loaded.flow
    flow = await load_target("factory_targets:flow")
    with pytest.raises(TypeError, match="loaded a flow, not a planner"):
        _ = flow.planner


async def test_accept_must_name_known_kinds() -> None:
    with pytest.raises(ValueError, match="accept must name"):
        await load_target("factory_targets:flow", accept=())
    with pytest.raises(ValueError, match="accept must name"):
        await load_target("factory_targets:flow", accept=("agent",))  # type: ignore[arg-type]


def test_the_result_is_a_frozen_value() -> None:
    loaded = LoadedTarget(target=object(), kind="flow", registry=None, spec="m:a")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        loaded.kind = "planner"  # type: ignore[misc]


# -- mistakes: one line naming the module, the attribute and what was found -----------


@pytest.mark.parametrize("spec", ["factory_targets", "factory_targets:", ":flow", "a b:c", "m:1x"])
async def test_a_malformed_spec(spec: str) -> None:
    error = await load_error(spec)
    assert error.code is FactoryErrorCode.MALFORMED_SPEC
    assert str(error) == (
        f"expected module:attribute (for example myapp.flows:build_flow); got {spec!r}"
    )


async def test_a_module_that_does_not_exist() -> None:
    error = await load_error("no_such_module_xyz:build")
    assert error.code is FactoryErrorCode.IMPORT_FAILED
    assert str(error) == (
        "cannot import module 'no_such_module_xyz' (for no_such_module_xyz:build): "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    )


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def write_module(folder: Path, source: str) -> str:
    """A uniquely named module in ``folder`` (so no test sees another's cached import)."""
    name = f"factory_{uuid.uuid4().hex[:12]}"
    (folder / f"{name}.py").write_text(source, encoding="utf-8")
    return name


async def test_a_module_whose_dependency_is_missing(module_dir: Path) -> None:
    name = write_module(module_dir, "import no_such_dependency_xyz\nflow = None\n")
    error = await load_error(f"{name}:flow")
    assert error.code is FactoryErrorCode.IMPORT_FAILED
    assert str(error) == (
        f"cannot import module '{name}' (for {name}:flow): "
        "ModuleNotFoundError: No module named 'no_such_dependency_xyz'"
    )
    assert isinstance(error.__cause__, ModuleNotFoundError)


async def test_a_module_that_raises_while_imported(module_dir: Path) -> None:
    name = write_module(module_dir, "SETTINGS = {}\nPORT = SETTINGS['port']\n")
    error = await load_error(f"{name}:flow")
    assert error.code is FactoryErrorCode.IMPORT_FAILED
    assert str(error) == f"importing module '{name}' (for {name}:flow) raised KeyError: 'port'"


async def test_a_module_with_a_syntax_error(module_dir: Path) -> None:
    name = write_module(module_dir, "def build(:\n")
    error = await load_error(f"{name}:build")
    assert error.code is FactoryErrorCode.IMPORT_FAILED
    assert str(error).startswith(f"importing module '{name}' (for {name}:build) raised SyntaxError")


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("buld_flow", "module 'factory_targets' has no attribute 'buld_flow'"),
        (
            "Builders.mian",
            "module 'factory_targets' has no attribute 'Builders.mian': "
            "Builders is the class Builders without 'mian'",
        ),
    ],
)
async def test_a_missing_attribute(attribute: str, message: str) -> None:
    error = await load_error(f"factory_targets:{attribute}")
    assert error.code is FactoryErrorCode.ATTRIBUTE_MISSING
    assert str(error) == f"{message} (for factory_targets:{attribute})"


@pytest.mark.parametrize(
    ("attribute", "cls"), [("PenguiFlow", "PenguiFlow"), ("EchoPlanner", "EchoPlanner")]
)
async def test_a_class_instead_of_an_instance(attribute: str, cls: str) -> None:
    # isinstance(PenguiFlow, Flow) is True: a runtime protocol only checks attributes.
    error = await load_error(f"factory_targets:{attribute}")
    assert error.code is FactoryErrorCode.CLASS_NOT_INSTANCE
    assert str(error) == (
        f"factory_targets:{attribute} is the class {cls}, not an instance; create the instance "
        f"(e.g. target = {cls}(...)) or give a factory function returning one"
    )


async def test_a_factory_returning_a_class() -> None:
    error = await load_error("factory_targets:returns_flow_class")
    assert error.code is FactoryErrorCode.CLASS_NOT_INSTANCE
    assert str(error).startswith(
        "factory_targets:returns_flow_class() returned the class PenguiFlow, not an instance"
    )


async def test_a_factory_that_needs_arguments_is_not_called() -> None:
    error = await load_error("factory_targets:needs_arguments")
    assert error.code is FactoryErrorCode.NEEDS_ARGUMENTS
    assert str(error) == (
        "factory_targets:needs_arguments needs arguments (name, tenant) but is called with none; "
        "give a callable taking no arguments that returns a flow, a (flow, ModelRegistry) pair "
        "or a planner"
    )


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("broken", "factory_targets:broken() raised RuntimeError: config file missing"),
        ("broken_async", "factory_targets:broken_async() raised ValueError: no such model"),
    ],
)
async def test_a_factory_that_raises(attribute: str, message: str) -> None:
    error = await load_error(f"factory_targets:{attribute}")
    assert error.code is FactoryErrorCode.FACTORY_RAISED
    assert str(error) == message
    assert error.__cause__ is not None


@pytest.mark.parametrize(
    ("attribute", "accept", "message"),
    [
        (
            "returns_text",
            ("flow", "planner"),
            "factory_targets:returns_text() returned str; "
            "expected a flow, a (flow, ModelRegistry) pair or a planner",
        ),
        (
            "returns_text_async",
            ("flow", "planner"),
            "factory_targets:returns_text_async() returned str; "
            "expected a flow, a (flow, ModelRegistry) pair or a planner",
        ),
        (
            "returns_none",
            ("flow",),
            "factory_targets:returns_none() returned None; "
            "expected a flow or a (flow, ModelRegistry) pair",
        ),
        (
            "build_planner",
            ("flow",),
            "factory_targets:build_planner() returned a planner (EchoPlanner); "
            "expected a flow or a (flow, ModelRegistry) pair",
        ),
        (
            "build_flow",
            ("planner",),
            "factory_targets:build_flow() returned a flow (PenguiFlow); expected a planner",
        ),
        (
            "yields_flow",
            ("flow",),
            "factory_targets:yields_flow() returned async_generator; "
            "expected a flow or a (flow, ModelRegistry) pair (use return, not yield)",
        ),
        (
            "TEXT",
            ("flow", "planner"),
            "factory_targets:TEXT is str; expected a flow, a (flow, ModelRegistry) pair or a "
            "planner, or a callable taking no arguments that returns one",
        ),
        (
            "planner",
            ("flow",),
            "factory_targets:planner is a planner (EchoPlanner); expected a flow or a "
            "(flow, ModelRegistry) pair, or a callable taking no arguments that returns one",
        ),
        (
            "PAIR_WITH_TEXT",
            ("flow",),
            "factory_targets:PAIR_WITH_TEXT is tuple (a flow (PenguiFlow), str); expected a flow "
            "or a (flow, ModelRegistry) pair, or a callable taking no arguments that returns one",
        ),
    ],
)
async def test_the_wrong_kind(attribute: str, accept: tuple[str, ...], message: str) -> None:
    error = await load_error(f"factory_targets:{attribute}", accept=accept)
    assert error.code is FactoryErrorCode.WRONG_KIND
    assert str(error) == message


async def test_errors_belong_to_the_penguiflow_root() -> None:
    error = await load_error("factory_targets:TEXT")
    assert isinstance(error, PenguiFlowError)


# -- load_object: the same steps for other objects -----------------------------------


async def test_load_object_takes_any_kind_the_caller_accepts() -> None:
    found = await load_object(
        "factory_targets:returns_text", expected="a str", accepts=lambda o: isinstance(o, str)
    )
    assert found == "a flow, honestly"
    found = await load_object(
        "factory_targets:TEXT", expected="a str", accepts=lambda o: isinstance(o, str)
    )
    assert found == "not a target"


async def test_load_object_names_what_it_expected() -> None:
    with pytest.raises(FactoryError) as caught:
        await load_object(
            "factory_targets:build_flow",
            expected="a StateStore",
            accepts=lambda o: isinstance(o, str),
        )
    assert str(caught.value) == (
        "factory_targets:build_flow() returned a flow (PenguiFlow); expected a StateStore"
    )


def test_the_working_directory_is_searched_like_python_m(tmp_path: Path) -> None:
    # `python -P` leaves the working directory off sys.path, as a console script does.
    (tmp_path / "cwd_flows.py").write_text(
        "from penguiflow import Node, create\n"
        "async def echo(message, ctx):\n"
        "    return message\n"
        "def build():\n"
        "    return create(Node(echo).to())\n",
        encoding="utf-8",
    )
    script = (
        "import asyncio\n"
        "from penguiflow.cli import load_target\n"
        "print(asyncio.run(load_target('cwd_flows:build')).kind)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-P", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "flow"
