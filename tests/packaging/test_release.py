"""`make release VERSION=X.Y.Z` (scripts/release.py), run in a copy of the checkout.

The copy holds the files git would check out (tracked and new, not ignored),
so the release edits its VERSION and CHANGELOG.md, never this checkout's. It
runs with this checkout's dev env (``VENV=``); ``--old-file`` tells make that
the env's stamp is up to date, so the copy's newer files cannot make it
reinstall the dev env from the copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

__all__: list[str] = []

TIMEOUT_S = 600.0
CHANGELOG = """# Changelog

Intro.

## [Unreleased]
{entries}## [0.0.9] - 2026-01-01

- The first one.
"""


@pytest.fixture
def checkout_copy(repo_root: Path, tmp_path: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo_root,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    copy = tmp_path / "checkout"
    for name in filter(None, listed.split("\0")):
        source = repo_root / name
        if source.is_file():  # a file deleted but not yet staged is still listed
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def _make_release(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    venv = Path(sys.executable).parent.parent
    stamp = venv / ".penguiflow-dev.stamp"
    make = ["make", "--no-print-directory", "-C", str(copy), f"VENV={venv}", f"--old-file={stamp}"]
    return subprocess.run(
        [*make, "release", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )


def _release_script(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(copy / "scripts" / "release.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )


@pytest.mark.slow
def test_release_bumps_dates_builds_checks_and_uploads_nothing(
    checkout_copy: Path, repo_root: Path, shared_version: str
) -> None:
    result = _make_release(checkout_copy, "VERSION=9.9.9")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (checkout_copy / "VERSION").read_text(encoding="utf-8") == "9.9.9\n"
    assert (repo_root / "VERSION").read_text(encoding="utf-8").strip() == shared_version

    changelog = (checkout_copy / "CHANGELOG.md").read_text(encoding="utf-8")
    dated = re.search(
        r"^## \[Unreleased\]\n\n## \[9\.9\.9\] - \d{4}-\d{2}-\d{2}\n", changelog, re.M
    )
    assert dated, changelog[:2000]
    original = (repo_root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.replace(dated.group(0), "## [Unreleased]\n") == original

    files = sorted(p.name for p in (checkout_copy / "dist").iterdir())
    assert len(files) == 10 and all("-9.9.9" in name for name in files), files
    assert "ready to upload 10 files (nothing was uploaded):" in result.stdout
    upload = next(line for line in result.stdout.splitlines() if "twine upload" in line)
    assert upload == "to publish: python -m twine upload " + " ".join(
        f"dist/{name}" for name in _in_build_order(files)
    )
    with zipfile.ZipFile(checkout_copy / "dist" / "penguiflow_core-9.9.9-py3-none-any.whl") as whl:
        meta = whl.read("penguiflow_core-9.9.9.dist-info/METADATA").decode()
    assert "Requires-Dist: penguiflow-planner==9.9.9; extra == 'planner'" in meta

    # A second run (after a failed upload, say) keeps the dated changelog and rebuilds.
    again = _release_script(checkout_copy, "9.9.9")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (checkout_copy / "CHANGELOG.md").read_text(encoding="utf-8") == changelog


def _in_build_order(files: list[str]) -> list[str]:
    # build_dists builds the package folders by name and lists each sdist before its wheel.
    return sorted(files, key=lambda name: (name.split("-")[0], name.endswith(".whl")))


def test_release_needs_a_version(checkout_copy: Path, repo_root: Path) -> None:
    result = _make_release(checkout_copy)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: make release VERSION=X.Y.Z\n")
    assert (checkout_copy / "VERSION").read_bytes() == (repo_root / "VERSION").read_bytes()


@pytest.mark.parametrize(
    ("version", "entries", "message"),
    [
        ("0.0.1", "\n- Something.\n\n", "0.0.1 is older than the current version"),
        ("v9.9.9", "\n- Something.\n\n", "'v9.9.9' is not a canonical PEP 440 version"),
        ("9.9.9", "\n\n", "nothing is listed under '## [Unreleased]' in CHANGELOG.md"),
    ],
)
def test_release_refuses_before_changing_anything(
    checkout_copy: Path, version: str, entries: str, message: str
) -> None:
    changelog = checkout_copy / "CHANGELOG.md"
    changelog.write_text(CHANGELOG.format(entries=entries), encoding="utf-8")
    before = (checkout_copy / "VERSION").read_text(encoding="utf-8")
    result = _release_script(checkout_copy, version)
    assert result.returncode == 2
    assert message in result.stderr
    assert (checkout_copy / "VERSION").read_text(encoding="utf-8") == before
    assert changelog.read_text(encoding="utf-8") == CHANGELOG.format(entries=entries)
    assert not (checkout_copy / "dist").exists()


def test_the_entries_move_under_the_dated_version(checkout_copy: Path) -> None:
    # Only the changelog step: a version that refuses to build stops the run after it.
    changelog = checkout_copy / "CHANGELOG.md"
    changelog.write_text(CHANGELOG.format(entries="\n### Added\n\n- A thing.\n\n"), "utf-8")
    (checkout_copy / "packages" / "a2a" / "pyproject.toml").write_text("not toml [", "utf-8")
    result = _release_script(checkout_copy, "1.0.0", "--date", "2027-02-03")
    assert result.returncode == 1, result.stdout + result.stderr
    assert changelog.read_text(encoding="utf-8") == (
        "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n## [1.0.0] - 2027-02-03\n\n"
        "### Added\n\n- A thing.\n\n## [0.0.9] - 2026-01-01\n\n- The first one.\n"
    )
