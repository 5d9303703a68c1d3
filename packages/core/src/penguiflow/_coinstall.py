"""Warn once when the single-package ``penguiflow`` distribution is installed beside ours.

The published ``penguiflow`` distribution (the 2.x line, one package) ships
``penguiflow/__init__.py`` and modules of the same names as penguiflow-core.
Installed into the same environment, the two overwrite each other's files
and ``import penguiflow`` runs a mix of both. pip does not prevent it, so
``penguiflow/__init__.py`` checks at import time and names the fix.

The check must stay cheap (``import penguiflow`` is measured by
``benchmarks/import_time.py``), so it does not use ``importlib.metadata``,
which scans every entry of ``sys.path``: an installer puts a distribution's
metadata folder (``penguiflow-2.7.3.dist-info``) beside its package folder,
so one directory listing of each folder holding a portion of ``penguiflow``
finds it. If the other distribution was installed last, its
``__init__.py`` replaced ours and this code never runs; ``pip list`` shows
both then, and the same fix applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["OTHER_DISTRIBUTION", "find_other_distribution", "warn_if_coinstalled"]

OTHER_DISTRIBUTION = "penguiflow"
"""The canonical name of the single-package distribution that clashes with ours."""

_SUFFIX = ".dist-info"


def find_other_distribution(package_path: Iterable[str]) -> tuple[str, str] | None:
    """Find the ``penguiflow`` distribution in the folders holding ``package_path``.

    Args:
        package_path: The ``__path__`` of the ``penguiflow`` package (one folder
            per portion: one for wheels, one per source folder when editable).

    Returns:
        ``(site folder, version)`` of the first ``penguiflow-<version>.dist-info``
        found beside a portion, or None.
    """
    seen: set[str] = set()
    for portion in package_path:
        site = os.path.dirname(portion)
        if site in seen:
            continue
        seen.add(site)
        try:
            names = os.listdir(site)
        except OSError:
            continue
        for entry in names:
            if not entry.endswith(_SUFFIX):
                continue
            name, _, version = entry[: -len(_SUFFIX)].rpartition("-")
            if _canonical(name) == OTHER_DISTRIBUTION:
                return site, version
    return None


def warn_if_coinstalled(package_path: Iterable[str]) -> None:
    """Emit one ``RuntimeWarning`` naming both distributions and the fix, if they clash.

    Args:
        package_path: The ``__path__`` of the ``penguiflow`` package.
    """
    found = find_other_distribution(package_path)
    if found is None:
        return
    import warnings

    site, version = found
    ours = _our_distributions(site)
    reinstall = " ".join(f"{name}=={ours[name]}" for name in sorted(ours)) or "penguiflow-core"
    warnings.warn(
        f"the distribution '{OTHER_DISTRIBUTION}' {version} is installed next to "
        f"penguiflow-core in {site}; both ship penguiflow/__init__.py and overwrite each "
        f"other's files. Remove it with `pip uninstall {OTHER_DISTRIBUTION}`, then restore "
        f"PenguiFlow's files with `pip install --force-reinstall --no-deps {reinstall}`.",
        RuntimeWarning,
        stacklevel=2,
    )


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _our_distributions(site: str) -> dict[str, str]:
    """penguiflow-* distributions installed in ``site`` (name -> version)."""
    ours: dict[str, str] = {}
    for entry in os.listdir(site):
        if entry.endswith(_SUFFIX):
            name, _, version = entry[: -len(_SUFFIX)].rpartition("-")
            canonical = _canonical(name)
            if canonical.startswith(f"{OTHER_DISTRIBUTION}-"):
                ours[canonical] = version
    return ours
