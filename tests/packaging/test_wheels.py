"""Wheels build, contain only their own files, and install alone, together or mixed with editable.

Once per session the four wheels are built with the dev env's hatchling and the
wheels of what they require (pydantic, litellm, ... at the dev env's versions)
are fetched with ``pip download`` (the only network access, usually served by
pip's cache). Each scenario then gets a fresh venv without pip, filled from
those local wheels only (``--no-index``) by the test runner's pip
(``pip --python``), which keeps every scenario to a few seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TypedDict

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__: list[str] = []

pytestmark = pytest.mark.slow

# What each wheel may contain besides its .dist-info folder.
OWN_PREFIX = {
    "penguiflow-core": "penguiflow/",
    "penguiflow-planner": "penguiflow/planner/",
    "penguiflow-a2a": "penguiflow_a2a/",
    "penguiflow-tools": "penguiflow/tools/",
}
SUBPACKAGES_OF_SIBLINGS = ("penguiflow/planner/", "penguiflow/tools/")

# Run inside a venv: import the named modules, report where they came from, the
# version penguiflow reports, and every installed distribution with its requirements.
PROBE = """
import importlib, json, sys
from importlib import metadata
modules = {name: importlib.import_module(name).__file__ for name in sys.argv[1:]}
import penguiflow
print(json.dumps({
    "modules": modules,
    "version": penguiflow.__version__,
    "dists": {d.metadata["Name"]: d.requires or [] for d in metadata.distributions()},
}))
"""

# PEP 660 editable wheel via the `build` API, with the dev env's hatchling (no isolation).
BUILD_EDITABLE = (
    "import build, sys; build.ProjectBuilder(sys.argv[1]).build('editable', sys.argv[2])"
)


class Probe(TypedDict):
    """What PROBE reports from inside a venv."""

    modules: dict[str, str]
    version: str
    dists: dict[str, list[str]]


@dataclass(frozen=True)
class Wheelhouse:
    """Local wheels: ours (by distribution name) and the third-party ones they need."""

    ours: dict[str, Path]
    third_party: Path

    def find_links(self) -> list[str]:
        folders = {path.parent for path in self.ours.values()} | {self.third_party}
        return [arg for folder in sorted(folders) for arg in ("--find-links", str(folder))]


def _run(args: Iterable[str | Path]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def wheelhouse(
    package_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Wheelhouse:
    ours = tmp_path_factory.mktemp("wheels")
    # Build with the dev env's hatchling (no isolation): offline and fast.
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    _run([*pip_wheel, "--no-build-isolation", "--wheel-dir", ours, *package_dirs.values()])
    built = {
        str(canonicalize_name(path.name.split("-")[0])): path for path in sorted(ours.glob("*.whl"))
    }
    assert sorted(built) == sorted(package_dirs)

    third_party = tmp_path_factory.mktemp("third_party")
    pins = [f"{name}=={metadata.version(name)}" for name in _third_party_requirements(built)]
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", third_party, *pins])
    return Wheelhouse(ours=built, third_party=third_party)


def _third_party_requirements(wheels: dict[str, Path]) -> list[str]:
    """Names our wheels require unconditionally, besides each other (pydantic, litellm, ...)."""
    names: set[str] = set()
    for wheel_path in wheels.values():
        with zipfile.ZipFile(wheel_path) as wheel:
            (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
            lines = wheel.read(meta).decode().splitlines()
        for line in lines:
            if line.startswith("Requires-Dist:"):
                req = Requirement(line.partition(":")[2].strip())
                if req.marker is None and not canonicalize_name(req.name).startswith("penguiflow-"):
                    names.add(canonicalize_name(req.name))
    return sorted(names)


def _fresh_venv(root: Path) -> Path:
    _run([sys.executable, "-m", "venv", "--without-pip", root])
    return root / "bin" / "python"


def _install(python: Path, wheelhouse: Wheelhouse, *requirements: str | Path) -> None:
    pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install"]
    _run([*pip, "--quiet", "--no-index", *wheelhouse.find_links(), *requirements])


def _probe(python: Path, *modules: str) -> Probe:
    # -I: no PYTHONPATH, no user site, no cwd on sys.path; .pth files still apply.
    result = _run([python, "-I", "-c", PROBE, *modules])
    probe: Probe = json.loads(result.stdout)
    return probe


def _closure(root: str, requires: dict[str, list[str]]) -> set[str]:
    """Names reachable from ``root`` through unconditional (non-extra) requirements."""
    by_name = {canonicalize_name(name): reqs for name, reqs in requires.items()}
    seen: set[str] = set()
    todo = [canonicalize_name(root)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in by_name.get(name, []):
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


@pytest.mark.parametrize("dist", sorted(OWN_PREFIX))
def test_wheel_contains_only_its_own_files(dist: str, wheelhouse: Wheelhouse) -> None:
    with zipfile.ZipFile(wheelhouse.ours[dist]) as wheel:
        names = [n for n in wheel.namelist() if ".dist-info/" not in n]
    prefix = OWN_PREFIX[dist]
    assert names, dist
    assert all(name.startswith(prefix) for name in names), names
    assert f"{prefix}py.typed" in names
    if dist == "penguiflow-core":
        assert not [n for n in names if n.startswith(SUBPACKAGES_OF_SIBLINGS)]
    else:
        assert "penguiflow/__init__.py" not in names


def test_core_wheel_alone_brings_only_pydantic(
    wheelhouse: Wheelhouse, shared_version: str, tmp_path: Path
) -> None:
    python = _fresh_venv(tmp_path / "venv")
    _install(python, wheelhouse, "penguiflow-core")
    probe = _probe(python, "penguiflow")
    dists = probe["dists"]
    installed = {canonicalize_name(name) for name in dists}
    assert installed == _closure("penguiflow-core", dists)
    assert {"penguiflow-core", "pydantic"} <= installed
    assert not {name for name in installed if name.startswith("penguiflow-")} - {"penguiflow-core"}
    assert probe["version"] == shared_version
    # The wheel registers `worker` as a penguiflow.commands entry point; the siblings are missing.
    help_text = _run([python, "-m", "penguiflow.cli", "--help"]).stdout
    assert "worker" in help_text and 'pip install "penguiflow-core[a2a]"' in help_text
    missing = subprocess.run(
        [python, "-m", "penguiflow.cli", "a2a"], capture_output=True, text=True, check=False
    )
    assert (missing.returncode, missing.stderr) == (
        1,
        "penguiflow: error: 'a2a' is not installed; it comes with penguiflow-a2a: "
        'pip install "penguiflow-core[a2a]"\n',
    )


def test_all_wheels_share_the_penguiflow_namespace(
    wheelhouse: Wheelhouse, shared_version: str, tmp_path: Path
) -> None:
    python = _fresh_venv(tmp_path / "venv")
    _install(python, wheelhouse, "penguiflow-core[all]")
    probe = _probe(python, "penguiflow.planner", "penguiflow.tools", "penguiflow_a2a")
    assert probe["version"] == shared_version
    modules = probe["modules"]
    site_packages = Path(modules["penguiflow_a2a"]).parent.parent
    for name in ("penguiflow.planner", "penguiflow.tools"):
        assert Path(modules[name]).is_relative_to(site_packages / "penguiflow")


def test_editable_core_with_sibling_wheels(
    wheelhouse: Wheelhouse,
    package_dirs: dict[str, Path],
    shared_version: str,
    tmp_path: Path,
) -> None:
    editable = tmp_path / "editable"
    _run([sys.executable, "-c", BUILD_EDITABLE, package_dirs["penguiflow-core"], editable])
    (core_editable,) = editable.glob("*.whl")
    python = _fresh_venv(tmp_path / "venv")
    siblings = ("penguiflow-planner", "penguiflow-tools", "penguiflow-a2a")
    _install(python, wheelhouse, core_editable, *siblings)
    probe = _probe(python, "penguiflow", "penguiflow.planner", "penguiflow.tools", "penguiflow_a2a")
    assert probe["version"] == shared_version
    modules = probe["modules"]
    core_src = package_dirs["penguiflow-core"] / "src" / "penguiflow"
    assert Path(modules["penguiflow"]).is_relative_to(core_src)
    for name in ("penguiflow.planner", "penguiflow.tools"):
        assert Path(modules[name]).is_relative_to(tmp_path / "venv"), modules[name]


def test_dev_env_resolves_every_subpackage_from_source(package_dirs: dict[str, Path]) -> None:
    # The dev env installs all four editable; the namespace must span their src folders.
    import penguiflow.planner
    import penguiflow.tools
    import penguiflow_a2a

    expected = {
        penguiflow.planner: package_dirs["penguiflow-planner"],
        penguiflow.tools: package_dirs["penguiflow-tools"],
        penguiflow_a2a: package_dirs["penguiflow-a2a"],
    }
    for module, folder in expected.items():
        assert Path(str(module.__file__)).is_relative_to(folder / "src"), module.__name__
