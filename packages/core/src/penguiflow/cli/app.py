"""The ``penguiflow`` console script: one parser over the registered commands, one-line errors.

Usage::

    penguiflow COMMAND [ARGS ...]
    penguiflow --help              list the installed commands and the known missing ones
    penguiflow COMMAND --help

The commands come from the ``penguiflow.commands`` entry points (see
`penguiflow.cli.registry`). Running one imports that command only; ``--help``
and an unknown command import them all, to list them.

Errors are one line on stderr, never a traceback. Exit status: whatever the
command returns (0 on success); 1 a command failed, is broken, or belongs to
a distribution that is not installed (the line says what to ``pip install``);
2 the command line is wrong, including an unknown command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from penguiflow.cli._support import CliError, OneLineParser, fail
from penguiflow.cli.registry import KNOWN_COMMANDS, CommandRegistry, not_installed

__all__ = ["PROG", "build_parser", "main"]

PROG = "penguiflow"
"""The program name errors start with (``penguiflow: error: ...``)."""

_HELP_FLAGS = ("-h", "--help")


def build_parser(registry: CommandRegistry, selected: str | None = None) -> argparse.ArgumentParser:
    """Return the parser of ``penguiflow`` over the commands of ``registry``.

    Args:
        registry: The registered commands.
        selected: Build the full parser of this command only, importing
            nothing else. Without it every command is imported to show its
            help line, and a broken one is listed as unavailable.

    Raises:
        CliError: ``selected`` is broken (exit code 1).
    """
    missing = registry.missing_known()
    epilog = None
    if missing:
        width = max(len(known.name) for known in missing)
        lines = [f"  {known.name.ljust(width)}  {known.install_line}" for known in missing]
        epilog = "not installed:\n" + "\n".join(lines)
    parser = OneLineParser(
        prog=PROG,
        description="PenguiFlow command line.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        title="commands",
        dest="command",
        metavar="COMMAND",
        required=True,
        parser_class=OneLineParser,
    )
    if selected is not None:
        command = registry.load(selected)
        sub = commands.add_parser(selected, help=command.help, description=command.help)
        command.add_arguments(sub)
        return parser
    for name in registry.names:
        commands.add_parser(name, help=registry.help_line(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``penguiflow`` on ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Example:
        ```python
        raise SystemExit(
            main(
                [
                    "worker",
                    "myapp.flows:build_flow",
                    "--node",
                    "embed",
                    "--bus",
                    "redis://localhost:6379/0",
                ]
            )
        )
        ```
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(arguments)
    except CliError as exc:
        return fail(PROG, str(exc), exc.exit_code)
    except ImportError as exc:  # a missing driver names the extra to install
        return fail(PROG, str(exc), 1)
    except KeyboardInterrupt:
        return fail(PROG, "interrupted", 130)
    except Exception as exc:  # a command's unexpected failure: still one line
        return fail(PROG, f"{type(exc).__name__}: {exc}", 1)


def _run(arguments: list[str]) -> int:
    registry = CommandRegistry.discover()
    position = next((i for i, arg in enumerate(arguments) if not arg.startswith("-")), None)
    name = None if position is None else arguments[position]
    selected = None
    if name is not None and name in registry:
        # `penguiflow --help worker` asks for the overview: argparse acts on --help first.
        if not any(arg in _HELP_FLAGS for arg in arguments[:position]):
            selected = name
    elif name is not None and name in KNOWN_COMMANDS:
        raise not_installed(KNOWN_COMMANDS[name])
    parser = build_parser(registry, selected)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # --help printed; parse errors raise CliError instead
        return exc.code if isinstance(exc.code, int) else 0
    command = registry.load(args.command)
    status: object = command.run(args)  # a third-party command may not keep its promise
    if not isinstance(status, int) or isinstance(status, bool):
        raise CliError(
            f"command {args.command!r} returned {type(status).__name__}, not an exit status (int)"
        )
    return status
