"""Wheels contain only their own files, and the namespace spans wheels mixed with editable installs.

The wheels are the session's ``built_dists`` (built from the sdists, as a
release builds them). Installing them from an index, alone and all together,
is ``test_index_install.py``; here an editable core meets sibling wheels, and
the dev env (all editable) resolves every portion from its source folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # only names the fixture's type: conftest is no importable module
    from conftest import BuiltDists

__all__: list[str] = []

# What each wheel may contain besides its .dist-info folder.
OWN_PREFIX = {
    "penguiflow-core": "penguiflow/",
    "penguiflow-planner": "penguiflow/planner/",
    "penguiflow-a2a": "penguiflow_a2a/",
    "penguiflow-tools": "penguiflow/tools/",
    "penguiflow-playground": "penguiflow/playground/",
}
SUBPACKAGES_OF_SIBLINGS = ("penguiflow/planner/", "penguiflow/tools/", "penguiflow/playground/")

# Run inside a venv: where each named module would be loaded from, and penguiflow's version.
# find_spec imports the parent package (penguiflow) but not the module itself, so a
# portion is located without importing its own third-party requirements.
PROBE = """
import importlib.util, json, sys
import penguiflow
print(json.dumps({
    "version": penguiflow.__version__,
    "modules": {name: importlib.util.find_spec(name).origin for name in sys.argv[1:]},
}))
"""

# PEP 660 editable wheel via the `build` API, with the dev env's hatchling (no isolation).
BUILD_EDITABLE = (
    "import build, sys; build.ProjectBuilder(sys.argv[1]).build('editable', sys.argv[2])"
)
TIMEOUT_S = 600.0


def _run(args: list[str | Path]) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=TIMEOUT_S
    )
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_every_package_has_a_wheel(built_dists: BuiltDists, package_dirs: dict[str, Path]) -> None:
    assert sorted(built_dists.wheels) == sorted(package_dirs) == sorted(OWN_PREFIX)


@pytest.mark.parametrize("dist", sorted(OWN_PREFIX))
def test_wheel_contains_only_its_own_files(dist: str, built_dists: BuiltDists) -> None:
    with zipfile.ZipFile(built_dists.wheels[dist]) as wheel:
        names = [n for n in wheel.namelist() if ".dist-info/" not in n]
    prefix = OWN_PREFIX[dist]
    assert names, dist
    assert all(name.startswith(prefix) for name in names), names
    assert f"{prefix}py.typed" in names
    if dist == "penguiflow-core":
        assert not [n for n in names if n.startswith(SUBPACKAGES_OF_SIBLINGS)]
    else:
        assert "penguiflow/__init__.py" not in names


@pytest.mark.slow
def test_editable_core_with_sibling_wheels(
    built_dists: BuiltDists,
    package_index: str,
    package_dirs: dict[str, Path],
    shared_version: str,
    tmp_path: Path,
) -> None:
    editable = tmp_path / "editable"
    _run([sys.executable, "-c", BUILD_EDITABLE, package_dirs["penguiflow-core"], editable])
    (core_editable,) = editable.glob("*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv"])
    python = tmp_path / "venv" / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    # The editable core brings pydantic; the sibling wheels go in as files only.
    _run([*pip, "--extra-index-url", package_index, core_editable])
    siblings = [path for name, path in built_dists.wheels.items() if name != "penguiflow-core"]
    _run([*pip, "--no-deps", *siblings])
    portions = ("penguiflow.planner", "penguiflow.tools", "penguiflow.playground", "penguiflow_a2a")
    # -I: no PYTHONPATH, no user site, no cwd on sys.path; .pth files still apply.
    probe = json.loads(_run([python, "-I", "-c", PROBE, "penguiflow", *portions]))
    assert probe["version"] == shared_version
    modules = probe["modules"]
    core_src = package_dirs["penguiflow-core"] / "src" / "penguiflow"
    assert Path(modules["penguiflow"]).is_relative_to(core_src)
    for name in portions:
        assert Path(modules[name]).is_relative_to(tmp_path / "venv"), modules[name]


def test_dev_env_resolves_every_subpackage_from_source(package_dirs: dict[str, Path]) -> None:
    # The dev env installs all five editable; the namespace must span their src folders.
    import penguiflow.planner
    import penguiflow.playground
    import penguiflow.tools
    import penguiflow_a2a

    expected = {
        penguiflow.planner: package_dirs["penguiflow-planner"],
        penguiflow.tools: package_dirs["penguiflow-tools"],
        penguiflow.playground: package_dirs["penguiflow-playground"],
        penguiflow_a2a: package_dirs["penguiflow-a2a"],
    }
    for module, folder in expected.items():
        assert Path(str(module.__file__)).is_relative_to(folder / "src"), module.__name__
