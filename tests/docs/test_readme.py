"""The README's code runs as written and its two commands exist in the Makefile."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_flow_snippet_runs_and_prints_what_it_says():
    match = re.search(r"## A flow in one screen\n\n```python\n(.*?)```", README, re.S)
    assert match, "README lost its 'A flow in one screen' snippet"
    done = subprocess.run(
        [sys.executable, "-c", match.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "text='show metrics' topic='metrics'"


def test_the_two_commands_are_make_targets():
    assert "make demo" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "PENGUIFLOW_REQUIRE_SERVICES=1" in ci
