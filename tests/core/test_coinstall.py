"""penguiflow._coinstall: the single-package `penguiflow` is found beside our portions, and named.

The same guard in a real venv (a stand-in `penguiflow` wheel, then penguiflow-core
over it, then the advertised fix) is ``tests/packaging/test_coinstall.py``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from penguiflow._coinstall import find_other_distribution, warn_if_coinstalled

__all__: list[str] = []


def _site(root: Path, *entries: str) -> Path:
    """A site folder holding a `penguiflow` portion and the given metadata folders."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "penguiflow").mkdir()
    for entry in entries:
        (root / entry).mkdir()
    return root


def test_our_distributions_alone_are_not_a_clash(tmp_path: Path) -> None:
    site = _site(
        tmp_path,
        "penguiflow_core-0.1.0.dist-info",
        "penguiflow_planner-0.1.0.dist-info",
        "penguiflow_a2a-0.1.0.dist-info",
        "penguiflowx-1.0.dist-info",  # another name that merely starts the same
        "penguiflow-2.7.3.egg-link",
    )
    assert find_other_distribution([str(site / "penguiflow")]) is None


@pytest.mark.parametrize(
    "entry",
    ["penguiflow-2.7.3.dist-info", "PenguiFlow-2.7.3.dist-info", "Penguiflow-2.7.3.dist-info"],
)
def test_the_single_package_distribution_is_found_with_its_version(
    tmp_path: Path, entry: str
) -> None:
    site = _site(tmp_path, "penguiflow_core-0.1.0.dist-info", entry)
    assert find_other_distribution([str(site / "penguiflow")]) == (str(site), "2.7.3")


def test_every_portion_folder_is_looked_at(tmp_path: Path) -> None:
    # Editable installs: one portion per source folder, the other distribution in site-packages.
    source = _site(tmp_path / "src")
    site = _site(tmp_path / "site-packages", "penguiflow-2.7.3.dist-info")
    missing = tmp_path / "gone" / "penguiflow"
    portions = [str(source / "penguiflow"), str(missing), str(site / "penguiflow")]
    assert find_other_distribution(portions) == (str(site), "2.7.3")


def test_the_warning_names_both_distributions_and_the_fix(tmp_path: Path) -> None:
    site = _site(
        tmp_path,
        "penguiflow-2.7.3.dist-info",
        "penguiflow_core-0.4.0.dist-info",
        "penguiflow_planner-0.4.0.dist-info",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_coinstalled([str(site / "penguiflow")])
    assert [(w.category, str(w.message)) for w in caught] == [
        (
            RuntimeWarning,
            f"the distribution 'penguiflow' 2.7.3 is installed next to penguiflow-core in "
            f"{site}; both ship penguiflow/__init__.py and overwrite each other's files. "
            "Remove it with `pip uninstall penguiflow`, then restore PenguiFlow's files with "
            "`pip install --force-reinstall --no-deps penguiflow-core==0.4.0 "
            "penguiflow-planner==0.4.0`.",
        )
    ]


def test_no_clash_no_warning(tmp_path: Path) -> None:
    site = _site(tmp_path, "penguiflow_core-0.1.0.dist-info")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_coinstalled([str(site / "penguiflow")])


def test_the_dev_env_has_no_clash() -> None:
    import penguiflow

    assert find_other_distribution(penguiflow.__path__) is None
