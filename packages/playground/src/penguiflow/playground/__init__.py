"""The PenguiFlow playground (``penguiflow dev``); empty until the playground issue fills it.

A namespace portion of ``penguiflow``, like ``penguiflow.planner``: the
``penguiflow-playground`` wheel ships only this folder and core's
``penguiflow/__init__.py`` adds it to the package path.
"""

from __future__ import annotations

__all__: list[str] = []
