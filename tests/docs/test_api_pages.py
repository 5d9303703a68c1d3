"""The API reference generator (scripts/docs_hooks/api_pages.py) documents exactly the public API.

The hook reads modules from the source files; these tests compare what it
produces with what Python sees when it imports the packages.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import griffe
import pytest
import yaml
from mkdocs.exceptions import PluginError

__all__: list[str] = []

TOP_PACKAGES = ("penguiflow", "penguiflow_a2a")
PACKAGE_ORDER = ("core", "planner", "tools", "playground", "a2a")


@pytest.fixture(scope="module")
def hook(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("scripts/docs_hooks/api_pages.py")


@pytest.fixture(scope="module")
def distributions(hook: ModuleType, repo_root: Path) -> list[Any]:
    roots = [repo_root / "packages" / name / "src" for name in PACKAGE_ORDER]
    result: list[Any] = hook.find_distributions(roots)
    return result


@pytest.fixture(scope="module")
def pages(hook: ModuleType, distributions: list[Any]) -> dict[str, str]:
    result: dict[str, str] = hook.build_pages(distributions)
    return result


def _runtime_public_modules() -> dict[str, ModuleType]:
    # What an importing user can reach, found by Python's own package walk (which
    # follows the extended penguiflow.__path__ into the planner and tools folders).
    modules: dict[str, ModuleType] = {}
    for top in TOP_PACKAGES:
        package = importlib.import_module(top)
        modules[top] = package
        for info in pkgutil.walk_packages(package.__path__, f"{top}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                modules[info.name] = importlib.import_module(info.name)
    return modules


def _page_directive(content: str) -> tuple[str, list[str]]:
    """The module a page renders and its ``members`` option."""
    head, _, options = content.partition("\n")
    assert head.startswith("::: "), content
    parsed = yaml.safe_load(textwrap.dedent(options))
    return head.removeprefix("::: "), parsed["options"]["members"]


def _module_pages(pages: dict[str, str], hook: ModuleType) -> dict[str, str]:
    return {uri: content for uri, content in pages.items() if uri != hook.API_INDEX}


def test_every_public_module_with_names_gets_a_page(
    pages: dict[str, str], hook: ModuleType
) -> None:
    expected = {name for name, module in _runtime_public_modules().items() if module.__all__}
    rendered = {_page_directive(content)[0] for content in _module_pages(pages, hook).values()}
    assert rendered == expected
    # Both packages of the shared import name are there, nested ones included.
    assert {"penguiflow", "penguiflow.core", "penguiflow.bus.memory"} <= rendered
    assert {"penguiflow.planner", "penguiflow.planner.react", "penguiflow.planner.memory"} <= (
        rendered
    )


def test_each_page_names_exactly_its_module_all(pages: dict[str, str], hook: ModuleType) -> None:
    for uri, content in _module_pages(pages, hook).items():
        name, members = _page_directive(content)
        assert members == list(importlib.import_module(name).__all__), uri
        assert uri == f"api/{name.replace('.', '/')}.md"


def test_re_exporting_modules_list_the_re_exported_names(pages: dict[str, str]) -> None:
    # penguiflow.floe only re-exports kernel classes; the page still shows them.
    assert _page_directive(pages["api/penguiflow/floe.md"]) == (
        "penguiflow.floe",
        ["Floe", "FloeClosed"],
    )
    assert "create" in _page_directive(pages["api/penguiflow.md"])[1]


def test_nothing_private_gets_a_page(pages: dict[str, str], distributions: list[Any]) -> None:
    for uri in pages:
        assert not any(part.startswith("_") for part in uri.split("/")), uri
    names = [module.name for dist in distributions for module in dist.modules]
    assert names and not [name for name in names if "._" in name]
    assert "api/penguiflow/_kernel/floe.md" not in pages


def test_skeleton_packages_have_no_page_but_are_in_the_index(
    pages: dict[str, str], hook: ModuleType
) -> None:
    for uri in ("api/penguiflow/tools.md", "api/penguiflow/playground.md", "api/penguiflow_a2a.md"):
        assert uri not in pages
    index = pages[hook.API_INDEX]
    assert "## penguiflow-tools\n\n`penguiflow.tools`: no public names yet." in index
    assert "## penguiflow-playground\n\n`penguiflow.playground`: no public names yet." in index
    assert "## penguiflow-a2a\n\n`penguiflow_a2a`: no public names yet." in index


def test_index_links_every_page_under_its_distribution_with_the_docstring_summary(
    pages: dict[str, str], hook: ModuleType
) -> None:
    index = pages[hook.API_INDEX]
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", index, re.M | re.S))
    assert list(sections) == [f"penguiflow-{name}" for name in PACKAGE_ORDER]
    for uri, content in _module_pages(pages, hook).items():
        name, _ = _page_directive(content)
        doc = importlib.import_module(name).__doc__ or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        link = uri.removeprefix("api/")
        planner = name.startswith("penguiflow.planner")
        section = sections["penguiflow-planner" if planner else "penguiflow-core"]
        assert f"| [`{name}`]({link}) | {summary} |" in section, name


def test_nav_gets_one_section_per_documented_distribution_after_the_index(
    hook: ModuleType, distributions: list[Any]
) -> None:
    nav: list[Any] = [{"Home": "index.md"}, {"API reference": ["api/index.md"]}]
    hook.insert_api_nav(nav, distributions)
    api = nav[1]["API reference"]
    assert api[0] == "api/index.md"
    assert [next(iter(section)) for section in api[1:]] == ["penguiflow-core", "penguiflow-planner"]
    planner = api[2]["penguiflow-planner"]
    assert {"penguiflow.planner.react": "api/penguiflow/planner/react.md"} in planner


def test_nav_without_the_index_entry_is_refused(hook: ModuleType, distributions: list[Any]) -> None:
    with pytest.raises(PluginError, match=r"api/index\.md"):
        hook.insert_api_nav([{"Home": "index.md"}], distributions)


def _fake_package(root: Path, name: str, source: str) -> Path:
    src = root / name / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text(source, encoding="utf-8")
    (root / name / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n', encoding="utf-8")
    return src


def test_a_public_module_without_a_literal_all_stops_the_build(
    hook: ModuleType, tmp_path: Path
) -> None:
    src = _fake_package(tmp_path, "one", '"""Doc."""\n__all__ = [*other]\n')
    with pytest.raises(PluginError, match=r"pkg .*literal `__all__"):
        hook.find_distributions([src])


def test_a_package_missing_from_the_paths_stops_the_build(hook: ModuleType, tmp_path: Path) -> None:
    listed = _fake_package(tmp_path, "one", '"""Doc."""\n__all__ = ["x"]\n')
    forgotten = _fake_package(tmp_path, "two", '"""Doc."""\n__all__ = ["y"]\n')
    with pytest.raises(PluginError, match=re.escape(str(forgotten))):
        hook.find_distributions([listed])


def test_griffe_extension_makes_the_planner_part_of_penguiflow(
    load_script: Callable[[str], ModuleType], repo_root: Path
) -> None:
    # mkdocstrings reads the code with griffe, which alone sees core's folder only.
    extension = load_script("scripts/docs_hooks/griffe_portions.py")
    roots = [repo_root / "packages" / name / "src" for name in PACKAGE_ORDER]
    plain = griffe.GriffeLoader(search_paths=roots)
    assert "planner" not in plain.load("penguiflow").members

    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(extension.PackagePortions()), search_paths=roots
    )
    package = loader.load("penguiflow")
    assert {"planner", "tools", "core"} <= set(package.members)
    loader.resolve_aliases(implicit=False, external=False)
    collection = loader.modules_collection
    planner = collection["penguiflow.planner.ReactPlanner"]
    assert planner.canonical_path == "penguiflow.planner.react.ReactPlanner"
    assert planner.docstring is not None and "ReAct" in planner.docstring.value
    # The planner's imports of core names resolve into the same tree.
    assert collection["penguiflow.planner.flows.NodePolicy"].canonical_path == (
        "penguiflow.node.NodePolicy"
    )
    assert collection["penguiflow"] is package
