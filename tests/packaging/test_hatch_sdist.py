"""`scripts/hatch_sdist.py`: an sdist carries what its build needs and builds on its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import tomllib
from email.parser import HeaderParser
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # only names the fixture's type: conftest is no importable module
    from conftest import BuiltDists

__all__: list[str] = []

SHARED_FILES = ("VERSION", "scripts/hatch_pins.py", "scripts/hatch_sdist.py")
BUILD_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def hook_module(repo_root: Path) -> ModuleType:
    # Hatchling loads the hook from its path too; the script is not an importable package.
    path = repo_root / "scripts" / "hatch_sdist.py"
    spec = importlib.util.spec_from_file_location("hatch_sdist", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sdist_files(sdist: Path) -> dict[str, bytes]:
    """Member path inside the project folder -> content, for every file of the sdist."""
    with tarfile.open(sdist) as archive:
        files = {}
        for member in archive.getmembers():
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                files[member.name.split("/", 1)[1]] = extracted.read()
    return files


def _build(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", *[str(a) for a in args]],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT_S,
    )


# -- the rewriting, on its own -------------------------------------------------------


def test_paths_outside_the_package_map_to_their_place_in_the_sdist(
    hook_module: ModuleType, tmp_path: Path
) -> None:
    package = tmp_path / "packages" / "demo"
    (package / "src").mkdir(parents=True)
    (tmp_path / "VERSION").write_text("1.0\n", encoding="utf-8")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "hook.py").write_text("", encoding="utf-8")
    config: dict[str, Any] = {
        "project": {"name": "demo"},
        "tool": {
            "hatch": {
                "version": {"path": "../../VERSION"},
                "metadata": {"hooks": {"custom": {"path": "../../scripts/hook.py"}}},
                "build": {"targets": {"wheel": {"sources": ["src"], "only-include": ["src/x"]}}},
            }
        },
    }
    assert hook_module.outside_references(config, package) == {
        "../../VERSION": "VERSION",
        "../../scripts/hook.py": "scripts/hook.py",
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../../MISSING", "leaves the package folder but names no file"),
        ("../x/../../VERSION", "only leading '..' parts"),
        ("../../README.md", "which the package already has"),
    ],
)
def test_paths_the_sdist_could_not_carry_are_refused(
    hook_module: ModuleType, tmp_path: Path, path: str, message: str
) -> None:
    package = tmp_path / "packages" / "demo"
    package.mkdir(parents=True)
    (tmp_path / "VERSION").write_text("1.0\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("root\n", encoding="utf-8")
    (package / "README.md").write_text("package\n", encoding="utf-8")
    config = {"tool": {"hatch": {"version": {"path": path}}}}
    with pytest.raises(ValueError, match=message):
        hook_module.outside_references(config, package)


def test_rewrite_replaces_whole_strings_only(hook_module: ModuleType) -> None:
    text = (
        '[tool.hatch.version]\npath = "../../VERSION"\n'
        "[tool.x]\nkeep = \"a ../../VERSION b\"\nlist = ['../../VERSION']\n"
    )
    rewritten = hook_module.rewrite_pyproject(text, {"../../VERSION": "VERSION"})
    assert tomllib.loads(rewritten) == {
        "tool": {
            "hatch": {"version": {"path": "VERSION"}},
            "x": {"keep": "a ../../VERSION b", "list": ["VERSION"]},
        }
    }


def test_rewrite_refuses_a_path_it_cannot_edit_in_place(hook_module: ModuleType) -> None:
    # An escaped character: the parsed value matches, the written text does not.
    text = '[tool.hatch.version]\npath = "../../VERSIO\\u004e"\n'
    with pytest.raises(ValueError, match="plain one-line TOML string"):
        hook_module.rewrite_pyproject(text, {"../../VERSION": "VERSION"})


# -- the sdists of the session's build ------------------------------------------------


@pytest.mark.parametrize("shared", SHARED_FILES)
def test_every_sdist_carries_the_shared_files(
    built_dists: BuiltDists, repo_root: Path, shared: str
) -> None:
    for dist, sdist in built_dists.sdists.items():
        assert _sdist_files(sdist)[shared] == (repo_root / shared).read_bytes(), dist


def test_sdist_pyproject_differs_only_in_the_shared_paths(
    built_dists: BuiltDists, package_dirs: dict[str, Path]
) -> None:
    for dist, sdist in built_dists.sdists.items():
        shipped = _sdist_files(sdist)["pyproject.toml"].decode()
        assert "../" not in shipped, dist
        original = (package_dirs[dist] / "pyproject.toml").read_text(encoding="utf-8")
        assert shipped == original.replace('"../../', '"'), dist


def test_sdist_metadata_has_the_version_and_the_pins(
    built_dists: BuiltDists, shared_version: str
) -> None:
    for dist, sdist in built_dists.sdists.items():
        files = _sdist_files(sdist)
        pkg_info = HeaderParser().parsestr(files["PKG-INFO"].decode())
        assert (pkg_info["Name"], pkg_info["Version"]) == (dist, shared_version)
        siblings = [
            r for r in pkg_info.get_all("Requires-Dist") or [] if r.startswith("penguiflow")
        ]
        assert siblings, dist
        assert all(f"=={shared_version}" in requirement for requirement in siblings), siblings
        assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]
        if dist != "penguiflow-core":
            assert "src/penguiflow/__init__.py" not in files


def test_an_unpacked_sdist_builds_alone_and_ships_itself_unchanged(
    built_dists: BuiltDists, shared_version: str, tmp_path: Path
) -> None:
    # Nothing of the monorepo is reachable from tmp_path: only the sdist's own files.
    with tarfile.open(built_dists.sdists["penguiflow-planner"]) as archive:
        archive.extractall(tmp_path, filter="data")
    (project,) = tmp_path.iterdir()
    result = _build(["--outdir", tmp_path / "out", "."], cwd=project)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    wheel = tmp_path / "out" / f"penguiflow_planner-{shared_version}-py3-none-any.whl"
    assert wheel.is_file()
    again = _sdist_files(tmp_path / "out" / f"penguiflow_planner-{shared_version}.tar.gz")
    first = _sdist_files(built_dists.sdists["penguiflow-planner"])
    assert again.keys() == first.keys()
    for name in ("pyproject.toml", *SHARED_FILES):
        assert again[name] == first[name], name
