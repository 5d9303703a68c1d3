"""Installing from a package index: our files from a local PEP 503 index, the rest from PyPI.

This is what a user gets from ``pip install penguiflow-core`` once the files
are published. ``package_index`` serves the session's sdists and wheels on
127.0.0.1; pip is given it as an extra index, so every third-party
requirement comes from the usual index (network, or pip's cache). One fresh
venv (without pip of its own; the test runner's pip drives it with
``--python``) first receives the bare core; each extra is then resolved with
``--dry-run --report``, and finally ``[all]`` is installed for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

__all__: list[str] = []

pytestmark = pytest.mark.slow

PIP_TIMEOUT_S = 600.0

# Run inside the venv: the version penguiflow reports and where each named module is (or None).
PROBE = """
import importlib.util, json, sys
import penguiflow
specs = {name: importlib.util.find_spec(name) for name in sys.argv[1:]}
print(json.dumps({
    "version": penguiflow.__version__,
    "modules": {name: spec.origin if spec else None for name, spec in specs.items()},
}))
"""


@dataclass(frozen=True)
class IndexVenv:
    """A fresh venv that received ``penguiflow-core`` from the index, and what it looked like."""

    python: Path
    index_url: str
    core_report: dict[str, Any]
    core_packages: dict[str, str]
    core_probe: dict[str, Any]
    core_cli_help: str
    core_cli_missing: subprocess.CompletedProcess[str]


def _run(args: list[str | Path], timeout: float = PIP_TIMEOUT_S) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=timeout
    )
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _pip(python: Path, *args: str | Path) -> str:
    return _run([sys.executable, "-m", "pip", "--python", python, *args])


def _install_report(python: Path, index_url: str, report: Path, *args: str) -> dict[str, Any]:
    _pip(python, "install", "--quiet", "--extra-index-url", index_url, "--report", report, *args)
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


def _probe(python: Path, *modules: str) -> dict[str, Any]:
    # -I: no PYTHONPATH, no user site, no cwd on sys.path, so only the venv is seen.
    data: dict[str, Any] = json.loads(_run([python, "-I", "-c", PROBE, *modules]))
    return data


def _ours(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """penguiflow distributions in a pip report: name -> (version, where pip got it)."""
    found = {}
    for item in report["install"]:
        name = str(canonicalize_name(item["metadata"]["name"]))
        if name.startswith("penguiflow"):
            found[name] = (item["metadata"]["version"], item["download_info"]["url"])
    return found


@pytest.fixture(scope="module")
def index_venv(
    package_index: str, shared_version: str, tmp_path_factory: pytest.TempPathFactory
) -> IndexVenv:
    root = tmp_path_factory.mktemp("index-venv")
    _run([sys.executable, "-m", "venv", "--without-pip", root / "venv"], timeout=120)
    python = root / "venv" / "bin" / "python"
    report = _install_report(
        python, package_index, root / "core.json", f"penguiflow-core=={shared_version}"
    )
    listed = json.loads(_pip(python, "list", "--format", "json"))
    # Taken now: the last test of this module installs [all] into the same venv.
    missing = subprocess.run(
        [python, "-m", "penguiflow.cli", "a2a"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return IndexVenv(
        python=python,
        index_url=package_index,
        core_report=report,
        core_packages={str(canonicalize_name(p["name"])): p["version"] for p in listed},
        core_probe=_probe(python, "penguiflow.planner", "penguiflow_a2a"),
        core_cli_help=_run([python, "-m", "penguiflow.cli", "--help"], timeout=60),
        core_cli_missing=missing,
    )


def test_core_alone_installs_with_pydantic_only(index_venv: IndexVenv, shared_version: str) -> None:
    assert _ours(index_venv.core_report) == {
        "penguiflow-core": (
            shared_version,
            f"{index_venv.index_url.removesuffix('simple/')}files/"
            f"penguiflow_core-{shared_version}-py3-none-any.whl",
        )
    }
    # pydantic and its own requirements, nothing else (pip itself is not in the venv).
    assert set(index_venv.core_packages) == {
        "penguiflow-core",
        "pydantic",
        "pydantic-core",
        "annotated-types",
        "typing-extensions",
        "typing-inspection",
    }
    assert index_venv.core_packages["penguiflow-core"] == shared_version
    assert index_venv.core_probe == {
        "version": shared_version,
        "modules": {"penguiflow.planner": None, "penguiflow_a2a": None},
    }


def test_core_alone_registers_worker_and_names_the_install_of_the_others(
    index_venv: IndexVenv,
) -> None:
    # The wheel registers `worker` as a penguiflow.commands entry point; a2a's is missing.
    assert "worker" in index_venv.core_cli_help
    assert 'pip install "penguiflow-core[a2a]"' in index_venv.core_cli_help
    missing = index_venv.core_cli_missing
    assert (missing.returncode, missing.stderr) == (
        1,
        "penguiflow: error: 'a2a' is not installed; it comes with penguiflow-a2a: "
        'pip install "penguiflow-core[a2a]"\n',
    )


def test_each_extra_resolves_siblings_of_the_same_version_from_the_index(
    index_venv: IndexVenv,
    core_extra: str,
    extra_siblings: dict[str, frozenset[str]],
    shared_version: str,
    tmp_path: Path,
) -> None:
    report = _install_report(
        index_venv.python,
        index_venv.index_url,
        tmp_path / "report.json",
        "--dry-run",
        "--ignore-installed",
        f"penguiflow-core[{core_extra}]=={shared_version}",
    )
    ours = _ours(report)
    assert set(ours) == {"penguiflow-core", *extra_siblings[core_extra]}
    for name, (version, url) in ours.items():
        assert version == shared_version, name
        assert url.startswith(index_venv.index_url.removesuffix("simple/")), (name, url)
    requested = [item for item in report["install"] if item["requested"]]
    assert [sorted(item["requested_extras"]) for item in requested] == [[core_extra]]


def test_all_installs_every_portion_of_the_same_version(
    index_venv: IndexVenv, shared_version: str, tmp_path: Path
) -> None:
    report = _install_report(
        index_venv.python,
        index_venv.index_url,
        tmp_path / "all.json",
        f"penguiflow-core[all]=={shared_version}",
    )
    assert {version for version, _ in _ours(report).values()} == {shared_version}
    portions = ("penguiflow.planner", "penguiflow.tools", "penguiflow.playground", "penguiflow_a2a")
    probe = _probe(index_venv.python, *portions, "jinja2", "litellm")
    assert probe["version"] == shared_version
    site_packages = Path(probe["modules"]["penguiflow_a2a"]).parents[1]
    for name in portions:
        assert Path(probe["modules"][name]).is_relative_to(site_packages), name
    assert probe["modules"]["jinja2"] and probe["modules"]["litellm"]
    _pip(index_venv.python, "check")
