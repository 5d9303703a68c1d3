"""`scripts/set_version.py` rewrites the one VERSION file and refuses bad versions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__: list[str] = []


@pytest.fixture
def sandbox(repo_root: Path, tmp_path: Path) -> Path:
    # The script edits the VERSION beside its own folder, so run a copy.
    (tmp_path / "scripts").mkdir()
    shutil.copy(repo_root / "scripts" / "set_version.py", tmp_path / "scripts")
    (tmp_path / "VERSION").write_text("0.1.0\n", encoding="utf-8")
    return tmp_path


def _run(sandbox: Path, version: str) -> subprocess.CompletedProcess[str]:
    script = sandbox / "scripts" / "set_version.py"
    return subprocess.run(
        [sys.executable, str(script), version], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("version", ["0.2.0", "1.0.0rc1", "2.1.0.post1", "3.0.0a2.dev4", "1!2.0"])
def test_valid_version_is_written(sandbox: Path, version: str) -> None:
    result = _run(sandbox, version)
    assert result.returncode == 0, result.stderr
    assert (sandbox / "VERSION").read_text(encoding="utf-8") == f"{version}\n"
    assert "0.1.0 -> " + version in result.stdout


@pytest.mark.parametrize("version", ["v1.0.0", "1.0.0+local", "01.2", "1.0-rc1", "latest", ""])
def test_invalid_version_is_refused_and_file_untouched(sandbox: Path, version: str) -> None:
    result = _run(sandbox, version)
    assert result.returncode == 2
    assert "not a canonical PEP 440 version" in result.stderr
    assert (sandbox / "VERSION").read_text(encoding="utf-8") == "0.1.0\n"
