"""What the commands share: one-line errors, ``KEY=VALUE`` options, URL redaction."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from penguiflow.errors import PenguiFlowError

__all__ = ["CliError", "OneLineParser", "fail", "parse_options", "redact"]

_URL_PASSWORD = re.compile(r"(://[^/:@]*:)[^/@]*@")


class CliError(PenguiFlowError):
    """A command failed; the console script prints it as one line and exits with ``exit_code``.

    Raise it from a `penguiflow.cli.Command`'s ``run`` to stop with a clear
    message instead of a traceback.

    Args:
        message: What went wrong and, when it helps, what to do about it.
        exit_code: 2 for a wrong command line, 1 for a runtime failure.

    Example:
        ```python
        def run(self, args: argparse.Namespace) -> int:
            if args.port <= 0:
                raise CliError(f"--port must be > 0; got {args.port}", exit_code=2)
            ...
        ```
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit with 2."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')", exit_code=2)


def parse_options(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` options; numbers and true/false become int/float/bool.

    Raises:
        CliError: A pair is not ``KEY=VALUE`` with an identifier key (exit code 2).
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise CliError(f"{flag} takes KEY=VALUE; got {pair!r}", exit_code=2)
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for convert in (int, float):
                try:
                    value = convert(text)
                    break
                except ValueError:
                    continue
        options[key] = value
    return options


def redact(url: str) -> str:
    """Hide a password embedded in a URL before printing it."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def fail(prog: str, message: str, code: int) -> int:
    """Print ``message`` as one ``prog: error: ...`` line on stderr and return ``code``."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"{prog}: error: {line or 'failed'}", file=sys.stderr)
    return code
