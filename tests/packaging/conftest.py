"""Fixtures shared by the packaging tests: the monorepo, what it publishes, its built files.

``built_dists`` builds every package's sdist and wheel once per session, the
way ``make build`` does; ``package_index`` serves those files from a PEP 503
index on loopback. Tests of installs (and later, of generated projects) reuse
both instead of building again.
"""

from __future__ import annotations

import functools
import hashlib
import html
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

__all__ = [
    "SIBLINGS_BY_EXTRA",
    "BuiltDists",
    "built_dists",
    "extra_siblings",
    "package_dirs",
    "package_index",
    "repo_root",
    "shared_version",
]

SIBLINGS_BY_EXTRA: dict[str, frozenset[str]] = {
    "planner": frozenset({"penguiflow-planner"}),
    "a2a": frozenset({"penguiflow-a2a"}),
    "a2a-server": frozenset({"penguiflow-a2a"}),
    "tools": frozenset({"penguiflow-tools"}),
    "cli": frozenset({"penguiflow-playground"}),
    "playground": frozenset({"penguiflow-playground"}),
    "all": frozenset(
        {"penguiflow-planner", "penguiflow-a2a", "penguiflow-tools", "penguiflow-playground"}
    ),
}
"""Each extra of penguiflow-core that pulls siblings, and the siblings it pulls."""

BUILD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class BuiltDists:
    """The files ``scripts/build_dists.py`` built from this checkout, by distribution name."""

    folder: Path
    sdists: dict[str, Path]
    wheels: dict[str, Path]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test taking `core_extra` runs once per extra that pulls siblings.
    if "core_extra" in metafunc.fixturenames:
        metafunc.parametrize("core_extra", sorted(SIBLINGS_BY_EXTRA))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The monorepo root (the folder holding ``VERSION``)."""
    return Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_version(repo_root: Path) -> str:
    """The single version of every package, as written in ``VERSION``."""
    return (repo_root / "VERSION").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="session")
def package_dirs(repo_root: Path) -> dict[str, Path]:
    """Distribution name -> source folder, for every published package."""
    return {
        "penguiflow-core": repo_root / "packages" / "core",
        "penguiflow-planner": repo_root / "packages" / "planner",
        "penguiflow-a2a": repo_root / "packages" / "a2a",
        "penguiflow-tools": repo_root / "packages" / "tools",
        "penguiflow-playground": repo_root / "packages" / "playground",
    }


@pytest.fixture(scope="session")
def extra_siblings() -> dict[str, frozenset[str]]:
    """Extra of penguiflow-core -> the sibling distributions it installs."""
    return SIBLINGS_BY_EXTRA


@pytest.fixture(scope="session")
def built_dists(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltDists:
    """Every package's sdist and its wheel built from that sdist, twine-checked, once a session."""
    folder = tmp_path_factory.mktemp("dist")
    script = repo_root / "scripts" / "build_dists.py"
    result = subprocess.run(
        [sys.executable, str(script), "--outdir", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return BuiltDists(
        folder=folder,
        sdists={_dist_name(path): path for path in folder.glob("*.tar.gz")},
        wheels={_dist_name(path): path for path in folder.glob("*.whl")},
    )


@pytest.fixture(scope="session")
def package_index(
    built_dists: BuiltDists, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of a PEP 503 simple index on 127.0.0.1 serving ``built_dists``, for ``--index-url``.

    It serves our distributions only; pass it as ``--extra-index-url`` so that
    third-party requirements come from the usual index.
    """
    root = tmp_path_factory.mktemp("index")
    _write_simple_index(root, [*built_dists.sdists.values(), *built_dists.wheels.values()])
    handler = functools.partial(_QuietHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, name="package-index", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/simple/"
        finally:
            server.shutdown()
            thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # pytest shows captured output only for failing tests; the request log is noise.
        pass


def _dist_name(path: Path) -> str:
    return str(canonicalize_name(path.name.split("-")[0]))


def _write_simple_index(root: Path, files: list[Path]) -> None:
    """PEP 503 layout: ``simple/`` lists projects, ``simple/<project>/`` links its files."""
    (root / "files").mkdir()
    projects: dict[str, list[Path]] = {}
    for path in sorted(files):
        shutil.copy2(path, root / "files" / path.name)
        projects.setdefault(_dist_name(path), []).append(path)
    _write_page(root / "simple", [(f"{name}/", name) for name in sorted(projects)])
    for name, paths in projects.items():
        links = [
            (f"../../files/{p.name}#sha256={hashlib.sha256(p.read_bytes()).hexdigest()}", p.name)
            for p in paths
        ]
        _write_page(root / "simple" / name, links)


def _write_page(folder: Path, links: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True)
    anchors = "\n".join(
        f'<a href="{html.escape(href)}">{html.escape(text)}</a><br/>' for href, text in links
    )
    page = f"<!DOCTYPE html>\n<html><body>\n{anchors}\n</body></html>\n"
    (folder / "index.html").write_text(page, encoding="utf-8")
