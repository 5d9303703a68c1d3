"""Lazy access to names that live in optional distributions (and to ``__version__``)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["OPTIONAL_NAMES", "load_lazy_attribute"]

# name -> (module that provides it, extra of penguiflow-core that installs it)
OPTIONAL_NAMES: dict[str, tuple[str, str]] = {
    "ReactPlanner": ("penguiflow.planner", "planner"),
}


def load_lazy_attribute(name: str) -> Any:
    """Resolve ``penguiflow.<name>`` for names not imported eagerly.

    Raises:
        ImportError: The optional package providing ``name`` is not installed
            (the message gives the ``pip install`` command).
        AttributeError: ``name`` is not a PenguiFlow name at all.
    """
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("penguiflow-core")
        except PackageNotFoundError:  # running from a source tree without installing
            return "0+unknown"
    if name not in OPTIONAL_NAMES:
        raise AttributeError(f"module 'penguiflow' has no attribute {name!r}")
    module_name, extra = OPTIONAL_NAMES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"penguiflow.{name} needs the optional package {module_name!r}: "
            f'pip install "penguiflow-core[{extra}]"'
        ) from exc
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(
            f"{module_name} is installed but provides no {name!r} yet; "
            f'upgrade it: pip install -U "penguiflow-core[{extra}]"'
        ) from None
