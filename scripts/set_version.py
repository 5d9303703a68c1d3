"""Set the single PenguiFlow version shared by every package.

Usage::

    python scripts/set_version.py 0.2.0      # or: make bump VERSION=0.2.0

The version lives only in the root ``VERSION`` file. Each package reads it through
``[tool.hatch.version]`` and the sibling pins are generated from it at build time
by ``scripts/hatch_pins.py``, so rewriting that one file bumps everything.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["CANONICAL_VERSION", "main", "set_version"]

VERSION_FILE = Path(__file__).resolve().parent.parent / "VERSION"

_NUMBER = r"(?:0|[1-9][0-9]*)"
CANONICAL_VERSION = re.compile(
    rf"(?:{_NUMBER}!)?"  # epoch
    rf"{_NUMBER}(?:\.{_NUMBER})*"  # release segment
    rf"(?:(?:a|b|rc){_NUMBER})?"  # pre-release
    rf"(?:\.post{_NUMBER})?"  # post-release
    rf"(?:\.dev{_NUMBER})?"  # development release
)
"""A public PEP 440 version in canonical form (what PyPI shows and pins compare)."""


def set_version(version: str, version_file: Path = VERSION_FILE) -> str:
    """Validate ``version`` and write it to ``version_file``.

    Args:
        version: The new version, e.g. ``"0.2.0"`` or ``"1.0.0rc1"``.
        version_file: The file holding the shared version.

    Returns:
        The previous version.

    Raises:
        ValueError: If ``version`` is not a canonical public PEP 440 version.
    """
    candidate = version.strip()
    if not CANONICAL_VERSION.fullmatch(candidate):
        raise ValueError(
            f"{version!r} is not a canonical PEP 440 version; use forms like "
            "1.2.0, 1.2.0a1, 1.2.0rc2, 1.2.0.post1 or 1.2.0.dev3 "
            "(no leading 'v', no local '+tag', no leading zeros)"
        )
    previous = version_file.read_text(encoding="utf-8").strip()
    version_file.write_text(f"{candidate}\n", encoding="utf-8")
    return previous


def main(argv: list[str] | None = None) -> int:
    """Run the command line interface and return the exit status."""
    parser = argparse.ArgumentParser(description="Set the version of all PenguiFlow packages.")
    parser.add_argument("version", help="new version, e.g. 0.2.0")
    args = parser.parse_args(argv)
    try:
        previous = set_version(args.version)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"version: {previous} -> {args.version.strip()} (written to {VERSION_FILE.name})")
    print("run `make venv` (or `make test`) to refresh the installed editable metadata")
    return 0


if __name__ == "__main__":
    sys.exit(main())
