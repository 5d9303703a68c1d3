"""The ``penguiflow`` command line: the subcommand registry and the factory contract.

``penguiflow`` runs the subcommands that installed distributions register
under the ``penguiflow.commands`` entry-point group; each is a `Command`.
Commands that load user code by name (``penguiflow worker``,
``penguiflow-admin``, the sibling packages' ``a2a serve`` and ``dev``) share
one factory contract: `load_target` for flows and planners, `load_object`
for anything else.
"""

from __future__ import annotations

from penguiflow.cli._support import CliError
from penguiflow.cli.app import main
from penguiflow.cli.factory import (
    FactoryError,
    FactoryErrorCode,
    LoadedTarget,
    TargetKind,
    load_object,
    load_target,
)
from penguiflow.cli.registry import Command

__all__ = [
    "CliError",
    "Command",
    "FactoryError",
    "FactoryErrorCode",
    "LoadedTarget",
    "TargetKind",
    "load_object",
    "load_target",
    "main",
]
