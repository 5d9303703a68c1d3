"""The ``penguiflow`` subcommands: the `Command` interface, entry-point discovery, known commands.

Design: ``penguiflow`` has no built-in subcommand. Every command, core's
``worker`` included, is an entry point of the ``penguiflow.commands`` group,
and discovery reads installed metadata only. A command's module is imported
when that command runs, or when ``penguiflow --help`` lists the commands with
their help lines. A command that fails to import or does not have the
`Command` members is remembered as broken: asking for it reports one line
naming its entry point and distribution, ``--help`` lists it as unavailable,
and every other command keeps working because nothing of the broken one runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, cast

from penguiflow.cli._support import CliError

__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN_COMMANDS",
    "Command",
    "CommandRegistry",
    "KnownCommand",
    "not_installed",
]

ENTRY_POINT_GROUP = "penguiflow.commands"
"""The entry-point group ``penguiflow`` reads its subcommands from."""

_MEMBERS = ("name", "help", "add_arguments", "run")


class Command(Protocol):
    """One ``penguiflow`` subcommand, as a distribution registers it.

    A distribution registers an object with these four members (an
    instance, or a module) under the ``penguiflow.commands`` entry-point
    group; the entry point's name is the command's name:

    ```toml
    # pyproject.toml of penguiflow-a2a
    [project.entry-points."penguiflow.commands"]
    a2a = "penguiflow_a2a.cli:command"
    ```

    ```python
    # penguiflow_a2a/cli.py
    import argparse

    from penguiflow.cli import CliError, load_target


    class A2ACommand:
        name = "a2a"
        help = "serve a flow or a planner to other agents over A2A"

        def add_arguments(self, parser: argparse.ArgumentParser) -> None:
            parser.add_argument("target", help="module:attr (see penguiflow.cli.load_target)")

        def run(self, args: argparse.Namespace) -> int:
            ...  # raise CliError("...") for a failure the user can fix
            return 0


    command = A2ACommand()
    ```

    ``penguiflow`` gives ``add_arguments`` the command's own subparser, whose
    errors are already one line with exit status 2; set
    ``parser.description`` there for a longer text than ``help``. ``run``
    returns the exit status. A `CliError` it raises is printed as one
    ``penguiflow: error: ...`` line with the error's exit code; so is any
    other exception, with status 1.
    """

    name: str
    """The subcommand; it must equal the entry point's name."""
    help: str
    """One line shown by ``penguiflow --help``."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's arguments on its subparser."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Run with the parsed command line; return the exit status."""
        ...


@dataclass(frozen=True, slots=True)
class KnownCommand:
    """A command another distribution brings, and the extra of penguiflow-core that installs it.

    Attributes:
        name: The subcommand.
        distribution: The distribution that registers it.
        extra: The extra of ``penguiflow-core`` that pulls that distribution.
    """

    name: str
    distribution: str
    extra: str

    @property
    def install_line(self) -> str:
        """The command that installs it, e.g. ``pip install "penguiflow-core[a2a]"``."""
        return f'pip install "penguiflow-core[{self.extra}]"'


KNOWN_COMMANDS: Mapping[str, KnownCommand] = MappingProxyType(
    {
        known.name: known
        for known in (
            KnownCommand("a2a", "penguiflow-a2a", "a2a"),
            KnownCommand("tools", "penguiflow-tools", "tools"),
            KnownCommand("dev", "penguiflow-playground", "cli"),
        )
    }
)
"""Commands of the sibling distributions; asking for a missing one names the install line."""


@dataclass(frozen=True, slots=True)
class _Broken:
    """Why a registered command cannot run, and where it was registered."""

    name: str
    where: str
    problem: str

    def error(self) -> CliError:
        return CliError(f"command {self.name!r} cannot run: {self.where}: {self.problem}")


class CommandRegistry:
    """The ``penguiflow`` commands registered by the installed distributions.

    Commands are imported and checked on first `load`, once.

    Args:
        entry_points: Entry points of the ``penguiflow.commands`` group.
    """

    def __init__(self, entry_points: Iterable[importlib.metadata.EntryPoint]) -> None:
        self._entry_points: dict[str, list[importlib.metadata.EntryPoint]] = {}
        for entry_point in entry_points:
            self._entry_points.setdefault(entry_point.name, []).append(entry_point)
        self._loaded: dict[str, Command | _Broken] = {}

    @classmethod
    def discover(cls) -> CommandRegistry:
        """The commands registered in this environment (reads metadata; imports nothing)."""
        return cls(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))

    @property
    def names(self) -> tuple[str, ...]:
        """Every registered command, broken ones included, sorted."""
        return tuple(sorted(self._entry_points))

    def __contains__(self, name: object) -> bool:
        return name in self._entry_points

    def load(self, name: str) -> Command:
        """Import command ``name`` and check its members.

        Raises:
            CliError: The command is broken (it cannot be imported, lacks a
                member, has a member of the wrong type or another name, or two
                distributions register it); one line naming the entry point and
                its distribution. Exit code 1.
            KeyError: No distribution registers ``name``.
        """
        found = self._load(name)
        if isinstance(found, _Broken):
            raise found.error()
        return found

    def help_line(self, name: str) -> str:
        """The help line of command ``name``, or why it is unavailable."""
        found = self._load(name)
        if isinstance(found, _Broken):
            return f"unavailable: {found.problem} ({found.where})"
        return found.help

    def missing_known(self) -> tuple[KnownCommand, ...]:
        """The known sibling commands no installed distribution registers."""
        return tuple(known for name, known in KNOWN_COMMANDS.items() if name not in self)

    def _load(self, name: str) -> Command | _Broken:
        if name not in self._loaded:
            self._loaded[name] = _load_entry_point(name, self._entry_points[name])
        return self._loaded[name]


def not_installed(known: KnownCommand) -> CliError:
    """The one-line error for a known sibling command that is not registered (exit code 1)."""
    try:
        version = importlib.metadata.version(known.distribution)
    except importlib.metadata.PackageNotFoundError:
        return CliError(
            f"'{known.name}' is not installed; it comes with {known.distribution}: "
            f"{known.install_line}"
        )
    return CliError(
        f"'{known.name}' is not available: {known.distribution} {version} is installed but "
        f"registers no '{known.name}' command; install a version that does: {known.install_line}"
    )


def _where(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    origin = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"entry point '{entry_point.name} = {entry_point.value}' of {origin}"


def _load_entry_point(
    name: str, entry_points: list[importlib.metadata.EntryPoint]
) -> Command | _Broken:
    if len(entry_points) > 1:
        places = "; ".join(_where(entry_point) for entry_point in entry_points)
        return _Broken(name, places, "several distributions register it; uninstall all but one")
    entry_point = entry_points[0]
    where = _where(entry_point)
    try:
        loaded = entry_point.load()
    except Exception as exc:  # anything a third-party import can raise
        return _Broken(name, where, f"failed to load: {type(exc).__name__}: {exc}")
    problem = _problem(name, loaded)
    return _Broken(name, where, problem) if problem else cast(Command, loaded)


def _problem(name: str, loaded: object) -> str | None:
    """What keeps ``loaded`` from being command ``name``, or ``None``."""
    if isinstance(loaded, type):
        return f"it loads the class {loaded.__qualname__}; point it at an instance"
    missing = [member for member in _MEMBERS if not hasattr(loaded, member)]
    if missing:
        return (
            f"{type(loaded).__name__} lacks {', '.join(missing)} "
            "(a command needs name, help, add_arguments and run)"
        )
    for member in ("name", "help"):
        value = getattr(loaded, member)
        if not isinstance(value, str):
            return f"its {member} is {type(value).__name__}, not str"
    for member in ("add_arguments", "run"):
        if not callable(getattr(loaded, member)):
            return f"its {member} is not callable"
    command = cast(Command, loaded)
    if command.name != name:
        return f"its name is {command.name!r}, not {name!r}"
    if not command.help.strip() or "\n" in command.help.strip():
        return "its help must be one non-empty line"
    return None
