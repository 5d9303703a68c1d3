"""Hatch build hook that makes a package's sdist build on its own, away from the monorepo.

Every package's ``pyproject.toml`` reaches files at the monorepo root: the
shared ``VERSION`` (``[tool.hatch.version] path = "../../VERSION"``) and the
hatch scripts in ``scripts/`` (this hook and ``hatch_pins.py``). An sdist holds
only the package folder, so once it is unpacked anywhere else those ``../../``
paths point at nothing and the wheel cannot be built from it.

For the sdist target, this hook copies each such file into the archive at its
path relative to the monorepo root (``VERSION``, ``scripts/hatch_pins.py``,
...) and ships a ``pyproject.toml`` in which only those path strings are
rewritten to match (``"../../VERSION"`` becomes ``"VERSION"``). The unpacked
sdist then has the monorepo's layout in miniature, so the same hooks find the
same files and check the same things. Building an sdist of an unpacked sdist
finds nothing outside the folder and changes nothing.

Each package enables it for the sdist target only:

```toml
[tool.hatch.build.targets.sdist.hooks.custom]
path = "../../scripts/hatch_sdist.py"
```
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from itertools import dropwhile
from pathlib import Path, PurePosixPath
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

__all__ = ["SelfContainedSdistHook", "outside_references", "rewrite_pyproject"]


def outside_references(config: dict[str, Any], root: Path) -> dict[str, str]:
    """Find the files outside ``root`` that ``[tool.hatch]`` names, and where they go.

    Args:
        config: The parsed ``pyproject.toml`` of the package.
        root: The package folder.

    Returns:
        The path as written (``"../../VERSION"``) -> its path inside the sdist
        (``"VERSION"``: the written path without its leading ``..`` parts).

    Raises:
        ValueError: A path leaves ``root`` but names no file, has a ``..`` after
            its first named part, or would land on a file the package already has.
    """
    found: dict[str, str] = {}
    for value in _strings(config.get("tool", {}).get("hatch", {})):
        if not value.startswith("../") or value in found:
            continue
        inner_parts = tuple(dropwhile(lambda part: part == "..", PurePosixPath(value).parts))
        if ".." in inner_parts or not inner_parts:
            raise ValueError(
                f"[tool.hatch] path {value!r}: only leading '..' parts are supported "
                "in a path outside the package"
            )
        source = Path(os.path.normpath(root / value))
        if source.is_relative_to(root):
            continue
        if not source.is_file():
            raise ValueError(
                f"[tool.hatch] path {value!r} leaves the package folder but names no file "
                f"({source}); the sdist could not carry it"
            )
        inner = PurePosixPath(*inner_parts).as_posix()
        if (root / inner).exists():
            raise ValueError(
                f"[tool.hatch] path {value!r} would be stored in the sdist as {inner!r}, "
                "which the package already has; rename one of them"
            )
        found[value] = inner
    return found


def rewrite_pyproject(text: str, references: dict[str, str]) -> str:
    """``text`` with each quoted path of ``references`` replaced by its sdist path.

    Only whole TOML string values are replaced (``"../../VERSION"`` or
    ``'../../VERSION'``), and the result is checked by parsing it again.

    Raises:
        ValueError: The rewritten file does not parse to the original with exactly
            those strings replaced (a path written in a form this hook cannot edit).
    """
    rewritten = text
    for old, new in references.items():
        for quote in ('"', "'"):
            rewritten = rewritten.replace(f"{quote}{old}{quote}", f"{quote}{new}{quote}")
    expected = _replace_strings(tomllib.loads(text), references)
    if tomllib.loads(rewritten) != expected:
        raise ValueError(
            "could not rewrite the paths outside the package in pyproject.toml; write each "
            f"of {sorted(references)} as a plain one-line TOML string"
        )
    return rewritten


class SelfContainedSdistHook(BuildHookInterface):
    """Ship the monorepo files a package's build configuration needs inside its sdist."""

    _staging: Path | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Add the outside files and the rewritten ``pyproject.toml`` to ``force_include``."""
        if self.target_name != "sdist":
            return
        root = Path(self.root)
        pyproject = os.path.join(self.root, "pyproject.toml")
        text = Path(pyproject).read_text(encoding="utf-8")
        references = outside_references(tomllib.loads(text), root)
        if not references:
            return
        force_include: dict[str, str] = build_data["force_include"]
        if force_include.pop(pyproject, None) != "pyproject.toml":
            raise RuntimeError(
                "hatch_sdist: hatchling no longer adds pyproject.toml to the sdist the way "
                "this hook expects; update scripts/hatch_sdist.py"
            )
        self._staging = Path(tempfile.mkdtemp(prefix="penguiflow-sdist-"))
        staged = self._staging / "pyproject.toml"
        staged.write_text(rewrite_pyproject(text, references), encoding="utf-8")
        force_include[str(staged)] = "pyproject.toml"
        for written, inner in references.items():
            force_include[os.path.normpath(root / written)] = inner

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the staged ``pyproject.toml`` once the archive is written."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _replace_strings(value: object, references: dict[str, str]) -> object:
    if isinstance(value, str):
        return references.get(value, value)
    if isinstance(value, dict):
        return {key: _replace_strings(item, references) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_strings(item, references) for item in value]
    return value
