"""Run import-linter on the layer contracts in pyproject.toml (``[tool.importlinter]``).

`penguiflow` is one import name shared by several distributions: core's
``__init__`` adds the planner's and tools' folders to the package path when it
runs. import-linter (through grimp) looks packages up without importing them,
so it would see core's folder only; importing `penguiflow` first makes every
portion visible. Usage: ``python scripts/lint_imports.py [lint-imports options]``.
"""

from __future__ import annotations

import sys

from importlinter.cli import lint_imports_command

import penguiflow  # noqa: F401 - registers the planner and tools portions of the package

if __name__ == "__main__":
    sys.exit(lint_imports_command())
