"""Griffe extension: load the folders `pkgutil.extend_path` adds to a package (its portions).

`penguiflow` is one import name spread over several source folders: core owns
``penguiflow/__init__.py`` and extends the package's ``__path__`` with every
other ``penguiflow/`` folder on the search path, which is how
``penguiflow.planner`` and ``penguiflow.tools`` become importable. Griffe,
which reads the sources without importing them, stops at the first folder that
has an ``__init__.py`` (it only recognises the one-line ``__path__ =
__import__("pkgutil").extend_path(...)`` form, and core must extend its path in
place), so mkdocstrings would not find the planner at all.

This extension does what ``extend_path`` does at import time: after a package
whose ``__init__`` calls ``extend_path`` is loaded, every other folder of the
same name on the search path is loaded too and its modules become submodules of
the package. As in Python, the first folder that provides a name wins.
mkdocs.yml lists it under the python handler's ``extensions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import griffe

__all__ = ["PackagePortions"]


class PackagePortions(griffe.Extension):
    """Attach the modules of a package's other portions to the loaded package."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Load the other portions of ``pkg`` when its ``__init__`` extends ``__path__``."""
        if not _extends_path(pkg):
            return
        own_folder = Path(str(pkg.filepath)).parent.resolve()
        collection = loader.modules_collection
        for search_path in loader.finder.search_paths:
            folder = (search_path / pkg.name).resolve()
            if folder == own_folder or not folder.is_dir():
                continue
            # A loader that sees only this portion reads it as a namespace package
            # whose modules share the collection, so that their aliases into the
            # rest of the package resolve. It registers that namespace under the
            # package's name: the real package steps aside meanwhile (griffe would
            # otherwise try to merge the two as a module and its stubs).
            portion_loader = griffe.GriffeLoader(
                extensions=loader.extensions,
                search_paths=[search_path],
                docstring_parser=loader.docstring_parser,
                docstring_options=loader.docstring_options,
                lines_collection=loader.lines_collection,
                modules_collection=collection,
                allow_inspection=False,
            )
            del collection.members[pkg.name]
            try:
                portion = portion_loader.load(pkg.name, try_relative_path=False)
            finally:
                collection.set_member(pkg.name, pkg)
            for name, member in portion.members.items():
                if name not in pkg.members:
                    pkg.set_member(name, member)


def _extends_path(pkg: griffe.Module) -> bool:
    # Namespace packages (a folder list, no __init__) are what this extension builds
    # from a portion; only a real __init__ that calls extend_path has portions to add.
    if not isinstance(pkg.filepath, Path) or pkg.filepath.name != "__init__.py":
        return False
    return "extend_path(__path__" in pkg.filepath.read_text(encoding="utf-8")
