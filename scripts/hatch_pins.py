"""Hatch metadata hook that pins sibling PenguiFlow distributions to the shared version.

Every package in ``packages/`` reads its version from the root ``VERSION`` file
(``[tool.hatch.version]``) and declares its requirements in the hook table
instead of ``[project]``:

```toml
[project]
dynamic = ["version", "dependencies", "optional-dependencies"]

[tool.hatch.metadata.hooks.custom]
path = "../../scripts/hatch_pins.py"
dependencies = ["pydantic>=2.6"]

[tool.hatch.metadata.hooks.custom.optional-dependencies]
planner = ["penguiflow-planner"]
```

Third-party requirements are copied unchanged. A sibling (any name in
``SIBLINGS``) must be written as a bare name, optionally with extras; the hook
appends ``==<version>`` so the pins can never drift from ``VERSION``. Core's
extras may name core itself (``a2a-server = ["penguiflow-core[a2a]"]``):
hatchling replaces such a self-reference by the named extras' requirements.

Hatchling sets ``metadata["version"]`` before it calls ``update``. The hook
refuses to build a package whose version is not the one in the shared
``VERSION`` file (``VERSION_FILE``: beside the folder holding this script, the
monorepo root; in an sdist, its root, where ``scripts/hatch_sdist.py`` puts
both), so a package given a version of its own fails here instead of being
released out of step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["SIBLINGS", "VERSION_FILE", "SiblingPinsHook", "check_version", "pin_requirements"]

SIBLINGS = frozenset(
    {
        "penguiflow-core",
        "penguiflow-planner",
        "penguiflow-a2a",
        "penguiflow-tools",
        "penguiflow-playground",
    }
)
"""Canonical names of the distributions released in lockstep."""

VERSION_FILE = Path(__file__).resolve().parent.parent / "VERSION"
"""The shared version of every package (the monorepo's, or the sdist's copy of it)."""


def check_version(name: str, version: str, version_file: Path) -> None:
    """Refuse a package whose version differs from the shared version file.

    Args:
        name: The distribution being built, for the message.
        version: The version hatchling resolved for it.
        version_file: The file holding the shared version.

    Raises:
        ValueError: The file is missing or unreadable as a version, or ``version``
            is not the same version.
    """
    try:
        shared = version_file.read_text(encoding="utf-8").strip()
        matches = Version(version) == Version(shared)
    except OSError as exc:
        raise ValueError(
            f"{name}: cannot read the shared version file {version_file}: {exc}"
        ) from exc
    except InvalidVersion as exc:
        raise ValueError(f"{name}: {exc} (checked against {version_file})") from exc
    if not matches:
        raise ValueError(
            f"{name} would be built as version {version}, but the shared version file "
            f"{version_file} says {shared}. Every PenguiFlow package takes its version from "
            'that file ([tool.hatch.version] path = "../../VERSION"); remove any version of '
            "the package's own and change versions with `make bump VERSION=X.Y.Z`."
        )


def pin_requirements(requirements: object, version: str, *, where: str) -> list[str]:
    """Return ``requirements`` with every sibling pinned to ``version``.

    Args:
        requirements: The list of PEP 508 strings from the hook configuration.
        version: The shared version of all PenguiFlow distributions.
        where: Name of the configuration key, used in error messages.

    Raises:
        TypeError: If ``requirements`` is not a list of strings.
        ValueError: If an entry is not a valid requirement, or a sibling carries its
            own version specifier, marker or URL.
    """
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        raise TypeError(f"`{where}` must be a list of requirement strings")
    pinned: list[str] = []
    for raw in requirements:
        try:
            requirement = Requirement(raw)
        except InvalidRequirement as exc:
            raise ValueError(f"`{where}`: invalid requirement {raw!r}: {exc}") from exc
        if canonicalize_name(requirement.name) not in SIBLINGS:
            pinned.append(raw)
            continue
        if requirement.specifier or requirement.marker or requirement.url:
            raise ValueError(
                f"`{where}`: write the sibling {requirement.name!r} as a bare name; "
                f"its pin is generated from VERSION, got {raw!r}"
            )
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pinned.append(f"{requirement.name}{extras}=={version}")
    return pinned


class SiblingPinsHook(MetadataHookInterface):
    """Fill ``dependencies`` and ``optional-dependencies`` from the hook table."""

    def update(self, metadata: dict[str, Any]) -> None:
        """Write the pinned requirement lists into the ``[project]`` mapping.

        Args:
            metadata: The mutable ``project`` table; ``version`` is already resolved.

        Raises:
            ValueError: The version is not the shared one, or a requirement is
                invalid or a sibling carries a constraint of its own.
        """
        version = str(metadata["version"])
        check_version(str(metadata.get("name", "this package")), version, VERSION_FILE)
        if "dependencies" in self.config:
            metadata["dependencies"] = pin_requirements(
                self.config["dependencies"], version, where="dependencies"
            )
        if "optional-dependencies" in self.config:
            extras = self.config["optional-dependencies"]
            if not isinstance(extras, dict):
                raise TypeError("`optional-dependencies` must be a table of extra -> list")
            metadata["optional-dependencies"] = {
                name: pin_requirements(reqs, version, where=f"optional-dependencies.{name}")
                for name, reqs in extras.items()
            }
