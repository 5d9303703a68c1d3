"""Build every package's sdist, then its wheel from that sdist, and check them with twine.

Usage::

    python scripts/build_dists.py [--outdir dist]      # or: make build

For each folder ``packages/<name>/`` this runs ``python -m build
--no-isolation``: build makes the sdist, unpacks it in a temporary folder away
from the monorepo and builds the wheel from there, which proves the sdist is
self-sufficient (``scripts/hatch_sdist.py``). The dev env's pinned hatchling
builds everything, so the result does not depend on what an index offers that
day. Old sdists and wheels in the output folder are removed first, so it never
mixes versions. Afterwards every package must have exactly one sdist and one
wheel at the version in ``VERSION``, and ``twine check --strict`` must pass
for all of them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

__all__ = [
    "BUILD_TIMEOUT_S",
    "ROOT",
    "BuildError",
    "Built",
    "build_all",
    "main",
    "package_folders",
]

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT_S = 300.0
"""Upper bound for building one package, or for one twine check of all files."""


class BuildError(Exception):
    """A package did not build, or the built files are not what a release needs."""


@dataclass(frozen=True, slots=True)
class Built:
    """The two files built for one distribution."""

    name: str
    sdist: Path
    wheel: Path


def package_folders(root: Path = ROOT) -> list[Path]:
    """Every ``packages/<name>/`` folder that has a ``pyproject.toml``, sorted by name."""
    return sorted(path.parent for path in (root / "packages").glob("*/pyproject.toml"))


def build_all(outdir: Path, folders: list[Path], version_file: Path) -> list[Built]:
    """Build the sdist and wheel of each folder into ``outdir`` and check them.

    Args:
        outdir: Where the files go; its old ``*.tar.gz`` and ``*.whl`` are removed.
        folders: The package folders to build.
        version_file: The shared ``VERSION`` the files must carry.

    Returns:
        One entry per folder, in the order given.

    Raises:
        BuildError: A build or ``twine check`` failed or timed out, or a package
            did not produce exactly one sdist and one wheel at the shared version.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    for old in [*outdir.glob("*.tar.gz"), *outdir.glob("*.whl")]:
        old.unlink()
    version = str(Version(version_file.read_text(encoding="utf-8").strip()))
    built: list[Built] = []
    for folder in folders:
        _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", outdir, folder])
        built.append(_find_built(outdir, _distribution_name(folder), version))
    files = [path for item in built for path in (item.sdist, item.wheel)]
    _run([sys.executable, "-m", "twine", "check", "--strict", *files])
    unexpected = sorted({*outdir.glob("*.tar.gz"), *outdir.glob("*.whl")} - set(files))
    if unexpected:
        raise BuildError(f"unexpected files in {outdir}: {[p.name for p in unexpected]}")
    return built


def main(argv: list[str] | None = None) -> int:
    """Run the command line interface and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--outdir", type=Path, default=ROOT / "dist", help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        built = build_all(args.outdir, package_folders(), ROOT / "VERSION")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"\nbuilt and checked in {args.outdir}:")
    for item in built:
        print(f"  {item.sdist.name}\n  {item.wheel.name}")
    return 0


def _run(command: list[str | Path]) -> None:
    try:
        result = subprocess.run([str(a) for a in command], check=False, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"timed out after {BUILD_TIMEOUT_S:.0f} s: {exc.cmd}") from exc
    if result.returncode != 0:
        shown = " ".join(str(a) for a in command[1:])
        raise BuildError(f"`{shown}` failed (exit {result.returncode}); its output is above")


def _distribution_name(folder: Path) -> str:
    with (folder / "pyproject.toml").open("rb") as file:
        name = tomllib.load(file)["project"]["name"]
    return str(name)


def _find_built(outdir: Path, name: str, version: str) -> Built:
    # Built files spell the name with underscores (penguiflow_core-0.1.0.tar.gz).
    stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    sdists = list(outdir.glob(f"{stem}.tar.gz"))
    wheels = list(outdir.glob(f"{stem}-*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        found = sorted(p.name for p in outdir.iterdir() if p.name.startswith(stem.split("-")[0]))
        raise BuildError(
            f"{name}: expected one sdist and one wheel of version {version} in {outdir}, "
            f"found {found}; does its version come from VERSION?"
        )
    return Built(name=name, sdist=sdists[0], wheel=wheels[0])


if __name__ == "__main__":
    sys.exit(main())
