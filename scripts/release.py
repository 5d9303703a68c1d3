"""Prepare a release: bump the one version, date the changelog, build and check, show the upload.

Usage::

    python scripts/release.py 0.2.0 [--date 2026-12-24]     # or: make release VERSION=0.2.0

Steps, stopping at the first failure:

1. The version must be canonical PEP 440 (``scripts/set_version.py``) and not
   older than ``VERSION``.
2. ``CHANGELOG.md``: the entries under ``## [Unreleased]`` become the section
   ``## [X.Y.Z] - <date>`` under a new, empty ``## [Unreleased]``. A release
   with nothing under Unreleased is refused. If the section already exists
   (a second run after a failed build), the changelog is left as it is.
3. ``VERSION`` (which every package reads) and ``CHANGELOG.md`` are written.
4. ``scripts/build_dists.py`` builds every sdist and wheel into ``dist/`` and
   runs ``twine check --strict``.
5. It prints what would be uploaded and the command to do it. Nothing is
   uploaded, committed or tagged.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import re
import sys
from pathlib import Path

from build_dists import ROOT, BuildError, Built, build_all, package_folders
from packaging.version import Version
from set_version import CANONICAL_VERSION, set_version

__all__ = ["UNRELEASED", "ReleaseError", "date_changelog", "main", "release"]

UNRELEASED = "## [Unreleased]"
_SECTION = re.compile(r"^## \[", re.MULTILINE)


class ReleaseError(Exception):
    """The release cannot go ahead; the message says why and what to do."""


def date_changelog(text: str, version: str, date: str) -> str:
    """``text`` with the Unreleased entries moved under ``## [version] - date``.

    Args:
        text: The contents of ``CHANGELOG.md``.
        version: The version being released.
        date: The release date, ``YYYY-MM-DD``.

    Returns:
        The new contents; ``text`` itself if the version already has a section.

    Raises:
        ReleaseError: There is no Unreleased section, or it lists nothing.
    """
    if re.search(rf"^## \[{re.escape(version)}\]", text, re.MULTILINE):
        return text
    head, marker, rest = text.partition(f"{UNRELEASED}\n")
    if not marker:
        raise ReleaseError(f"CHANGELOG.md has no '{UNRELEASED}' section")
    following = _SECTION.search(rest)
    entries = rest[: following.start()] if following else rest
    if not entries.strip():
        raise ReleaseError(
            f"nothing is listed under '{UNRELEASED}' in CHANGELOG.md; "
            "say what this release changes first"
        )
    return f"{head}{UNRELEASED}\n\n## [{version}] - {date}\n{rest}"


def release(version: str, date: str, root: Path = ROOT) -> list[Built]:
    """Bump ``root``'s version, date its changelog and build its packages into ``root/dist``.

    Raises:
        ReleaseError: The version is not canonical or older than the current one,
            or the changelog is not ready.
        BuildError: A package did not build or did not pass ``twine check``.
    """
    version_file = root / "VERSION"
    changelog = root / "CHANGELOG.md"
    current = version_file.read_text(encoding="utf-8").strip()
    if not CANONICAL_VERSION.fullmatch(version):
        raise ReleaseError(
            f"{version!r} is not a canonical PEP 440 version, e.g. 1.2.0 or 1.2.0rc1"
        )
    if Version(version) < Version(current):
        raise ReleaseError(f"{version} is older than the current version {current}")
    dated = date_changelog(changelog.read_text(encoding="utf-8"), version, date)
    set_version(version, version_file)
    changelog.write_text(dated, encoding="utf-8")
    print(f"version: {current} -> {version}; CHANGELOG.md: section [{version}] - {date}")
    return build_all(root / "dist", package_folders(root), version_file)


def main(argv: list[str] | None = None) -> int:
    """Run the command line interface and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("version", help="the version to release, e.g. 0.2.0")
    parser.add_argument(
        "--date", default=datetime.date.today().isoformat(), help="release date (today)"
    )
    args = parser.parse_args(argv)
    try:
        built = release(args.version.strip(), args.date)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    files = [path for item in built for path in (item.sdist, item.wheel)]
    print(f"\nready to upload {len(files)} files (nothing was uploaded):")
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"  {path.relative_to(ROOT)}  {path.stat().st_size:>9} bytes  sha256:{digest}")
    shown = " ".join(str(path.relative_to(ROOT)) for path in files)
    print(f"\nto publish: python -m twine upload {shown}")
    print("then commit VERSION and CHANGELOG.md, tag the release, and run `make venv`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
