"""`scripts/build_dists.py` (`make build`): every package's sdist and wheel, checked, never mixed.

The session's ``built_dists`` fixture is one run of the script on this
checkout. The failure cases run it on a copy of the monorepo's build files
with one package in it, so that one edit can break the build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # only names the fixture's type: conftest is no importable module
    from conftest import BuiltDists

__all__: list[str] = []

TIMEOUT_S = 300.0


@pytest.fixture
def small_repo(repo_root: Path, tmp_path: Path) -> Path:
    """The monorepo's VERSION and build scripts with one package, packages/playground."""
    (tmp_path / "scripts").mkdir()
    for script in ("build_dists.py", "hatch_pins.py", "hatch_sdist.py"):
        shutil.copy2(repo_root / "scripts" / script, tmp_path / "scripts")
    shutil.copy2(repo_root / "VERSION", tmp_path)
    shutil.copytree(
        repo_root / "packages" / "playground",
        tmp_path / "packages" / "playground",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return tmp_path


def _build_dists(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "build_dists.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_every_package_gets_an_sdist_and_a_wheel_of_the_shared_version(
    built_dists: BuiltDists, package_dirs: dict[str, Path], shared_version: str
) -> None:
    assert sorted(built_dists.sdists) == sorted(built_dists.wheels) == sorted(package_dirs)
    for dist, sdist in built_dists.sdists.items():
        stem = f"{dist.replace('-', '_')}-{shared_version}"
        assert sdist.name == f"{stem}.tar.gz"
        assert built_dists.wheels[dist].name == f"{stem}-py3-none-any.whl"
    assert len(list(built_dists.folder.iterdir())) == 2 * len(package_dirs)


def test_twine_check_passes_for_every_file(built_dists: BuiltDists) -> None:
    files = sorted(built_dists.folder.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == len(files)


def test_old_files_in_dist_are_replaced(small_repo: Path) -> None:
    dist = small_repo / "dist"
    dist.mkdir()
    (dist / "penguiflow_playground-0.0.1-py3-none-any.whl").write_bytes(b"stale")
    (dist / "penguiflow_playground-0.0.1.tar.gz").write_bytes(b"stale")
    result = _build_dists(small_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    version = (small_repo / "VERSION").read_text(encoding="utf-8").strip()
    assert sorted(p.name for p in dist.iterdir()) == [
        f"penguiflow_playground-{version}-py3-none-any.whl",
        f"penguiflow_playground-{version}.tar.gz",
    ]
    assert f"built and checked in {dist}" in result.stdout


def test_a_hand_written_sibling_pin_cannot_be_built(small_repo: Path) -> None:
    _edit(
        small_repo / "packages" / "playground" / "pyproject.toml",
        'dependencies = ["penguiflow-core"]',
        'dependencies = ["penguiflow-core==0.0.9"]',
    )
    result = _build_dists(small_repo)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert (
        "`dependencies`: write the sibling 'penguiflow-core' as a bare name; its pin is "
        "generated from VERSION, got 'penguiflow-core==0.0.9'" in output
    )
    assert not list((small_repo / "dist").glob("*.whl"))


def test_a_version_other_than_the_shared_one_cannot_be_built(small_repo: Path) -> None:
    # The package reads its version from a file of its own instead of the shared VERSION.
    package = small_repo / "packages" / "playground"
    (package / "OWN_VERSION").write_text("9.9.9\n", encoding="utf-8")
    _edit(package / "pyproject.toml", 'path = "../../VERSION"', 'path = "OWN_VERSION"')
    result = _build_dists(small_repo)
    assert result.returncode == 1
    version = (small_repo / "VERSION").read_text(encoding="utf-8").strip()
    assert (
        f"penguiflow-playground would be built as version 9.9.9, but the shared version file "
        f"{small_repo / 'VERSION'} says {version}." in result.stdout + result.stderr
    )
