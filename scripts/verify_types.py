"""Fail when pyright finds less than a threshold of penguiflow's public symbols fully typed.

Runs ``pyright --verifytypes penguiflow --ignoreexternal --outputjson`` and
reads the completeness score (symbols exported by penguiflow whose types are
known, over all of them; third-party types are not counted against us).
Usage: ``python scripts/verify_types.py [--threshold 0.9] [--show N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = "penguiflow"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.90, help="lowest score (0.90)")
    parser.add_argument("--show", type=int, default=0, help="list N symbols that are not known")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    # pyright asks the `python` on PATH where packages live: make it this venv's.
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(bin_dir / "pyright"), "--verifytypes", PACKAGE, "--ignoreexternal", "--outputjson"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        report = json.loads(done.stdout)["typeCompleteness"]
    except (ValueError, KeyError):
        print(f"verify_types: pyright gave no report:\n{done.stdout}{done.stderr}", file=sys.stderr)
        return 2
    score = float(report["completenessScore"])
    exported = report["exportedSymbolCounts"]
    print(
        f"pyright --verifytypes {PACKAGE}: {score:.1%} of {sum(exported.values())} exported "
        f"symbols fully typed (known {exported['withKnownType']}, ambiguous "
        f"{exported['withAmbiguousType']}, unknown {exported['withUnknownType']}); "
        f"threshold {args.threshold:.0%}"
    )
    if args.show:
        unknown = [s for s in report["symbols"] if s["isExported"] and not s["isTypeKnown"]]
        for symbol in unknown[: args.show]:
            problems = "; ".join(d["message"].splitlines()[0] for d in symbol["diagnostics"])
            print(f"  {symbol['name']}: {problems}")
    if score < args.threshold:
        print(f"verify_types: {score:.1%} is below {args.threshold:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
