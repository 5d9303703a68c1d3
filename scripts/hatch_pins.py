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

Third-party requirements are copied unchanged. A sibling (``penguiflow-core``,
``penguiflow-planner``, ``penguiflow-a2a``, ``penguiflow-tools``) must be written
as a bare name, optionally with extras; the hook appends ``==<version>`` so the
pins can never drift from ``VERSION``. Hatchling sets ``metadata["version"]``
before it calls ``update``, so the version seen here is the normalised one.
"""

from __future__ import annotations

from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["SIBLINGS", "SiblingPinsHook", "pin_requirements"]

SIBLINGS = frozenset(
    {"penguiflow-core", "penguiflow-planner", "penguiflow-a2a", "penguiflow-tools"}
)
"""Canonical names of the distributions released in lockstep."""


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
        """
        version = str(metadata["version"])
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
