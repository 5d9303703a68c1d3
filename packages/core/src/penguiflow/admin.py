"""``python -m penguiflow.admin``: the ``penguiflow-admin`` script, kept at its documented path.

The implementation lives in `penguiflow.cli.admin`; this module re-exports it.
"""

from __future__ import annotations

from penguiflow.cli.admin import (
    ENV_STATE_STORE,
    AdminError,
    build_parser,
    main,
    render_history,
    replay,
)

__all__ = ["ENV_STATE_STORE", "AdminError", "build_parser", "main", "render_history", "replay"]

if __name__ == "__main__":
    raise SystemExit(main())
