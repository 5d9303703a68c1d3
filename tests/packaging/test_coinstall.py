"""The co-installation guard in a real venv: `penguiflow` 2.x and penguiflow-core in one place.

The published single-package ``penguiflow`` is not installed: a stand-in wheel
with the same name, a ``penguiflow/__init__.py`` and its metadata is enough
to reproduce the clash (the guard reads the metadata folder, pip overwrites
and removes the files by their ``RECORD``). penguiflow-core comes from the
session's local index, pydantic from the usual one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

__all__: list[str] = []

pytestmark = pytest.mark.slow

TIMEOUT_S = 600.0
STAND_IN_VERSION = "2.7.3"

# Import twice with every warning recorded: the guard runs once, at the first import.
PROBE = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import penguiflow
    import penguiflow
    from penguiflow import create
print(json.dumps({
    "version": penguiflow.__version__,
    "warnings": [(w.category.__name__, str(w.message)) for w in caught],
}))
"""

SITE_PACKAGES = "import sysconfig; print(sysconfig.get_path('purelib'))"


def _run(args: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=TIMEOUT_S
    )


def _ok(args: list[str | Path]) -> str:
    result = _run(args)
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _stand_in_wheel(folder: Path) -> Path:
    """A wheel of `penguiflow` that ships penguiflow/__init__.py, like the published 2.x."""
    info = f"penguiflow-{STAND_IN_VERSION}.dist-info"
    files = {
        "penguiflow/__init__.py": b'"""Stand-in for the single-package penguiflow 2.x."""\n',
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: penguiflow\nVersion: {STAND_IN_VERSION}\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: penguiflow-tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    wheel = folder / f"penguiflow-{STAND_IN_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_core_over_the_single_package_distribution_warns_once_and_the_fix_works(
    package_index: str, shared_version: str, tmp_path: Path
) -> None:
    _ok([sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv"])
    python = tmp_path / "venv" / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python]
    core = f"penguiflow-core=={shared_version}"
    _ok([*pip, "install", "--quiet", "--no-index", _stand_in_wheel(tmp_path)])
    _ok([*pip, "install", "--quiet", "--extra-index-url", package_index, core])

    probe: dict[str, Any] = json.loads(_ok([python, "-I", "-c", PROBE]))
    site = _ok([python, "-I", "-c", SITE_PACKAGES]).strip()
    assert probe["version"] == shared_version
    assert probe["warnings"] == [
        [
            "RuntimeWarning",
            f"the distribution 'penguiflow' {STAND_IN_VERSION} is installed next to "
            f"penguiflow-core in {site}; both ship penguiflow/__init__.py and overwrite each "
            "other's files. Remove it with `pip uninstall penguiflow`, then restore "
            f"PenguiFlow's files with `pip install --force-reinstall --no-deps {core}`.",
        ]
    ]

    # The advertised fix, step by step: the uninstall takes penguiflow/__init__.py with it...
    _ok([*pip, "uninstall", "--yes", "penguiflow"])
    broken = _run([python, "-I", "-c", "from penguiflow import create"])
    assert broken.returncode == 1 and "ImportError" in broken.stderr
    # ...and the reinstall brings it back, without the warning.
    reinstall = ["install", "--quiet", "--force-reinstall", "--no-deps"]
    _ok([*pip, *reinstall, "--extra-index-url", package_index, core])
    fixed: dict[str, Any] = json.loads(_ok([python, "-I", "-c", PROBE]))
    assert fixed == {"version": shared_version, "warnings": []}
