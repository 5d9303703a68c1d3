"""docs/design/architecture.md is what scripts/architecture.py makes of the code today."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__: list[str] = []

CONTRACT = """
[[tool.importlinter.contracts]]
id = "core-layers"
name = "{name}"
type = "layers"
containers = ["pkg"]
layers = ["app : (later)", "lib"]
"""


@pytest.fixture(scope="module")
def arch(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("scripts/architecture.py")


@pytest.fixture(scope="module")
def fresh_block(arch: ModuleType) -> str:
    block: str = arch.render(arch.read_layers(), arch.build_graph())
    return block


def test_committed_page_matches_a_fresh_generation(arch: ModuleType, fresh_block: str) -> None:
    page = arch.PAGE.read_text(encoding="utf-8")
    assert arch.replace_block(page, fresh_block) == page, (
        "docs/design/architecture.md is stale: run 'make architecture' and commit the page"
    )


def test_generation_is_deterministic_and_machine_independent(
    arch: ModuleType, fresh_block: str, repo_root: Path
) -> None:
    assert arch.render(arch.read_layers(), arch.build_graph()) == fresh_block
    assert str(repo_root) not in fresh_block and "/home/" not in fresh_block


def test_every_layer_is_a_subgraph_with_its_members_top_down(
    arch: ModuleType, fresh_block: str
) -> None:
    titles = re.findall(r'subgraph layer\d+\["layer \d+: ([^"]+)"\]', fresh_block)
    assert titles == [layer.title for layer in arch.read_layers()]
    assert titles[0] == "siblings" and titles[-1] == "data types"
    assert 'm_penguiflow_core["core.py"]' in fresh_block
    assert 'm_penguiflow__kernel["_kernel/<br/>' in fresh_block
    # Every member of the contract exists today (penguiflow-playground included).
    assert 'm_penguiflow_playground["playground/<br/>1 module"]' in fresh_block
    assert "absent" not in fresh_block
    # Each layer's table lists its modules, packages' submodules included.
    assert "| `penguiflow._kernel.worker` |" in fresh_block
    assert "| `penguiflow.planner.react` |" in fresh_block


def test_an_import_between_two_layers_draws_an_edge(arch: ModuleType) -> None:
    layers = arch.read_layers()
    graph = arch.build_graph()
    tools, kernel = _layer_number(layers, "tools"), _layer_number(layers, "kernel")
    edge = f"layer{tools} --> layer{kernel}\n"
    assert edge not in arch.render(layers, graph)  # the tools reach the kernel through core
    assert not graph.direct_import_exists(
        importer="penguiflow.testkit", imported="penguiflow._kernel.floe"
    )
    graph.add_import(importer="penguiflow.testkit", imported="penguiflow._kernel.floe")
    assert edge in arch.render(layers, graph)


def test_an_upward_import_is_drawn_as_breaking_the_rule(arch: ModuleType) -> None:
    layers = arch.read_layers()
    graph = arch.build_graph()
    graph.add_import(importer="penguiflow._kernel.traces", imported="penguiflow.playbook")
    kernel, features = _layer_number(layers, "kernel"), _layer_number(layers, "features")
    assert f'layer{kernel} -->|"upwards: breaks the rule"| layer{features}' in arch.render(
        layers, graph
    )


def test_check_fails_on_a_stale_page_and_a_run_repairs_it(
    arch: ModuleType, fresh_block: str, tmp_path: Path
) -> None:
    page = tmp_path / "architecture.md"
    page.write_text(f"# Title\n\n{arch.START}\nold map\n{arch.END}\n\nprose\n", encoding="utf-8")
    assert arch.main(["--check", "--page", str(page)]) == 1
    assert "old map" in page.read_text(encoding="utf-8")
    assert arch.main(["--page", str(page)]) == 0
    assert page.read_text(encoding="utf-8") == (
        f"# Title\n\n{arch.START}\n{fresh_block}{arch.END}\n\nprose\n"
    )
    assert arch.main(["--check", "--page", str(page)]) == 0


def test_a_page_without_markers_is_refused(arch: ModuleType) -> None:
    with pytest.raises(ValueError, match="markers"):
        arch.replace_block("# no markers here\n", "block\n")


def test_layers_come_from_the_contract_top_down_with_optional_members(
    arch: ModuleType, tmp_path: Path
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(CONTRACT.format(name="two layers: base < top"), encoding="utf-8")
    top, base = arch.read_layers(pyproject)
    assert (top.title, base.title) == ("top", "base")
    assert top.members == (arch.Member("pkg.app"), arch.Member("pkg.later", optional=True))
    assert top.owns("pkg.app.sub") and not top.owns("pkg.application")


def test_an_optional_member_that_does_not_exist_is_drawn_dashed(
    arch: ModuleType, tmp_path: Path
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(CONTRACT.format(name="two layers: base < top"), encoding="utf-8")
    block = arch.render(arch.read_layers(pyproject), arch.build_graph())
    assert 'm_pkg_later["later<br/>not written yet"]' in block
    assert "class m_pkg_app,m_pkg_later,m_pkg_lib absent" in block
    assert "| `pkg.later` | optional member, not written yet |" in block


def test_a_contract_name_that_does_not_name_every_layer_is_refused(
    arch: ModuleType, tmp_path: Path
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(CONTRACT.format(name="layers of pkg"), encoding="utf-8")
    with pytest.raises(ValueError, match="bottom up"):
        arch.read_layers(pyproject)


def _layer_number(layers: list[Any], prefix: str) -> int:
    return next(i for i, layer in enumerate(layers, 1) if layer.title.startswith(prefix))
