"""``python -m penguiflow.cli``: the ``penguiflow`` console script."""

from __future__ import annotations

from penguiflow.cli.app import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
