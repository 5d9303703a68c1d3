"""mkdocs hook: the API reference, one generated page per public module, from its `__all__`.

Nothing here lists modules or members by hand. The packages are the folders in
mkdocstrings' ``paths`` (mkdocs.yml); each is the ``src/`` folder of one
distribution under ``packages/``. Every module in them whose dotted path has no
part starting with ``_`` is public and gets a page, ``api/<dotted/path>.md``,
that renders exactly the names in its ``__all__`` (read from the source, not
imported). ``api/index.md`` lists the modules by distribution with the first
paragraph of their docstrings, and the nav entries go after ``api/index.md`` in
mkdocs.yml's nav. A module whose ``__all__`` is empty (a package skeleton)
gets no page; the index says it has no public names yet.

To document a new package: add its ``src`` folder to ``paths``; the build
fails with that instruction if a sibling of a listed package is missing.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

__all__ = [
    "API_INDEX",
    "Distribution",
    "PublicModule",
    "build_pages",
    "find_distributions",
    "insert_api_nav",
    "on_config",
    "on_files",
    "source_roots",
]

API_DIR = "api"
API_INDEX = f"{API_DIR}/index.md"

NavItem = str | dict[str, Any]

INDEX_INTRO = """\
# API reference

These pages are generated from the code at every build: one page per public
module (a module whose dotted path has no part starting with `_`), showing
exactly the names in that module's `__all__`, with their docstrings. To improve
a page, fix the docstring; to add or remove a name, change `__all__`.

Most programs need only the curated top-level API in
[`penguiflow`](penguiflow.md) (`create`, `Node`, `Message`, ...); the planner's
is [`penguiflow.planner`](penguiflow/planner.md). Modules whose names start
with an underscore are implementation details and are not documented here;
the names users need from them are re-exported by a public module
(`penguiflow.floe.Floe` is defined in `penguiflow._kernel.floe`).
"""


@dataclass(frozen=True, slots=True)
class PublicModule:
    """A public module: its dotted name, docstring summary (first paragraph) and `__all__`."""

    name: str
    summary: str
    exports: tuple[str, ...]

    @property
    def src_uri(self) -> str:
        """Where its page lives in the site, e.g. ``api/penguiflow/bus/memory.md``."""
        return f"{API_DIR}/{self.name.replace('.', '/')}.md"

    def page(self) -> str:
        """The Markdown of its page: the module, restricted to the names in `__all__`."""
        members = "".join(f'        - "{name}"\n' for name in self.exports)
        return f"::: {self.name}\n    options:\n      members:\n{members}"


@dataclass(frozen=True, slots=True)
class Distribution:
    """One distribution of the monorepo (``packages/<x>``) and its public modules."""

    name: str
    src: Path
    modules: tuple[PublicModule, ...]

    @property
    def documented(self) -> tuple[PublicModule, ...]:
        """The modules that get a page: those with at least one public name."""
        return tuple(module for module in self.modules if module.exports)


def source_roots(config: MkDocsConfig) -> list[Path]:
    """The ``src`` folders listed in mkdocstrings' python ``paths``, absolute, in order."""
    base = Path(config.config_file_path).parent
    try:
        handlers = config.plugins["mkdocstrings"].config["handlers"]
        paths = handlers["python"]["paths"]
    except KeyError as error:
        raise PluginError(
            "api_pages hook: mkdocs.yml must configure the mkdocstrings python handler "
            "with `paths:` listing each package's src folder"
        ) from error
    return [(base / path).resolve() for path in paths]


def find_distributions(roots: Sequence[Path]) -> list[Distribution]:
    """Read each ``src`` root's distribution and public modules (in the order given).

    Raises:
        PluginError: A root has no ``pyproject.toml`` beside it, a public module has
            no literal ``__all__``, or a sibling package's ``src`` is not listed.
    """
    _check_no_package_left_out(roots)
    return [
        Distribution(name=_distribution_name(root), src=root, modules=tuple(_public_modules(root)))
        for root in roots
    ]


def build_pages(distributions: Iterable[Distribution]) -> dict[str, str]:
    """Every generated page, ``src_uri -> Markdown``: the index first, then the modules."""
    distributions = list(distributions)
    pages = {API_INDEX: _index_page(distributions)}
    for distribution in distributions:
        for module in distribution.documented:
            pages[module.src_uri] = module.page()
    return pages


def insert_api_nav(nav: list[NavItem], distributions: Iterable[Distribution]) -> list[NavItem]:
    """Put one nav section per distribution after the ``api/index.md`` entry of ``nav``.

    Raises:
        PluginError: ``nav`` has no section holding ``api/index.md``.
    """
    entries: list[NavItem] = [
        {dist.name: [{module.name: module.src_uri} for module in dist.documented]}
        for dist in distributions
        if dist.documented
    ]
    if not _insert_after_index(nav, entries):
        raise PluginError(
            f"api_pages hook: add a nav section holding `{API_INDEX}` to mkdocs.yml "
            "(e.g. `- API reference: [api/index.md]`); the module pages go after it"
        )
    return nav


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Add the generated pages to the nav (mkdocs event)."""
    if config.nav is None:
        raise PluginError("api_pages hook: mkdocs.yml needs an explicit nav")
    config.nav = insert_api_nav(config.nav, find_distributions(source_roots(config)))
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages to the site (mkdocs event)."""
    for src_uri, content in build_pages(find_distributions(source_roots(config))).items():
        if files.get_file_from_path(src_uri) is not None:
            raise PluginError(
                f"api_pages hook: docs/{src_uri} is generated; delete the hand-written file"
            )
        files.append(File.generated(config, src_uri, content=content))
    return files


def _public_modules(root: Path) -> Iterable[PublicModule]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts or any(part.startswith("_") for part in parts):
            continue
        yield _read_module(".".join(parts), path)


def _read_module(name: str, path: Path) -> PublicModule:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstring = ast.get_docstring(tree) or ""
    return PublicModule(
        name=name,
        # The first paragraph: a few summaries wrap onto a second line.
        summary=" ".join(docstring.split("\n\n", 1)[0].split()),
        exports=_literal_all(tree, name, path),
    )


def _literal_all(tree: ast.Module, name: str, path: Path) -> tuple[str, ...]:
    # A module states its public names once, as a literal `__all__` (STYLE.md); the
    # page shows exactly those, so a computed or missing `__all__` stops the build.
    for node in tree.body:
        value: ast.expr | None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        else:
            continue
        if not (isinstance(target, ast.Name) and target.id == "__all__"):
            continue
        if isinstance(value, ast.List | ast.Tuple):
            names = [item.value for item in value.elts if isinstance(item, ast.Constant)]
            if len(names) == len(value.elts) and all(isinstance(n, str) for n in names):
                return tuple(str(n) for n in names)
        break
    raise PluginError(
        f"api_pages hook: public module {name} ({path}) needs a literal "
        "`__all__ = [...]` of strings; its API page shows exactly those names"
    )


def _distribution_name(root: Path) -> str:
    pyproject = root.parent / "pyproject.toml"
    if not pyproject.is_file():
        raise PluginError(
            f"api_pages hook: {root} is not the src folder of a package (no {pyproject})"
        )
    with pyproject.open("rb") as file:
        name: str = tomllib.load(file)["project"]["name"]
    return name


def _check_no_package_left_out(roots: Sequence[Path]) -> None:
    # Packages sit side by side (packages/<x>/src): one forgotten in mkdocs.yml would
    # silently have no API reference, so its siblings vouch for it.
    listed = set(roots)
    for folder in sorted({root.parent.parent for root in roots}):
        for pyproject in sorted(folder.glob("*/pyproject.toml")):
            src = pyproject.parent / "src"
            if src.is_dir() and src not in listed:
                raise PluginError(
                    f"api_pages hook: {src} is not in the mkdocstrings python `paths` "
                    "of mkdocs.yml; add it so that its package gets an API reference"
                )


def _index_page(distributions: Sequence[Distribution]) -> str:
    return INDEX_INTRO + "".join(_index_section(dist) for dist in distributions)


def _index_section(dist: Distribution) -> str:
    heading = f"\n## {dist.name}\n\n"
    if not dist.documented:
        return heading + f"{_code_list(m.name for m in dist.modules)}: no public names yet.\n"
    names = {module.name for module in dist.modules}
    tops = [module.name for module in dist.modules if module.name.rpartition(".")[0] not in names]
    rows = "".join(
        f"| [`{module.name}`]({_relative_to_index(module.src_uri)}) "
        f"| {_table_cell(module.summary)} |\n"
        for module in dist.documented
    )
    section = (
        heading + f"Import name: {_code_list(tops)}.\n\n"
        "| module | what it holds |\n| --- | --- |\n" + rows
    )
    skeletons = [module.name for module in dist.modules if not module.exports]
    if skeletons:
        section += f"\nNo public names yet: {_code_list(skeletons)}.\n"
    return section


def _code_list(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _relative_to_index(src_uri: str) -> str:
    return src_uri.removeprefix(f"{API_DIR}/")


def _table_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _insert_after_index(items: list[NavItem], entries: list[NavItem]) -> bool:
    for position, item in enumerate(items):
        target = next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else item
        if target == API_INDEX:
            items[position + 1 : position + 1] = entries
            return True
        if isinstance(target, list) and _insert_after_index(target, entries):
            return True
    return False
