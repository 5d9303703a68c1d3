"""penguiflow.cli.registry and app: subcommands from ``penguiflow.commands`` entry points.

The entry points are real: each test writes a small distribution (a
``*.dist-info`` folder and its modules) into a temporary folder on
``sys.path``, as pip would, and runs ``penguiflow`` in-process or in a
subprocess.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from penguiflow.cli import CliError, main
from penguiflow.cli.registry import ENTRY_POINT_GROUP, KNOWN_COMMANDS, CommandRegistry

GREETER = """
from penguiflow.cli import CliError


class Hello:
    name = "hello"
    help = "greet someone"

    def add_arguments(self, parser):
        parser.add_argument("who")
        parser.add_argument("--status", type=int, default=0)

    def run(self, args):
        if args.who == "nobody":
            raise CliError("nobody to greet", exit_code=3)
        if args.who == "bug":
            raise RuntimeError("the greeter has a bug")
        print(f"hello {args.who}")
        return args.status


class Sloppy:
    name = "sloppy"
    help = "forgets to return an exit status"

    def add_arguments(self, parser):
        pass

    def run(self, args):
        print("done")


command = Hello()
sloppy = Sloppy()
"""

BAD_COMMANDS = """
class Member:
    def __init__(self, name, help="does things", run=True, add_arguments=True):
        self.name = name
        self.help = help
        if run:
            self.run = lambda args: 0
        if add_arguments:
            self.add_arguments = lambda parser: None


class AClass:
    name = "a-class"
    help = "a class, not an instance"

    def add_arguments(self, parser):
        pass

    def run(self, args):
        return 0


no_run = Member("no-run", run=False)
bad_help = Member("bad-help", help=42)
misnamed = Member("other-name")
multiline = Member("multiline", help="first line\\nsecond line")
not_callable = Member("not-callable")
not_callable.run = "run me"
"""

BROKEN = {
    "missing-module": "no_such_plugin_xyz:command",
    "raising": "raising_cmd:command",
    "no-attr": "bad_cmds:nothing",
    "no-run": "bad_cmds:no_run",
    "bad-help": "bad_cmds:bad_help",
    "misnamed": "bad_cmds:misnamed",
    "multiline": "bad_cmds:multiline",
    "not-callable": "bad_cmds:not_callable",
    "a-class": "bad_cmds:AClass",
}

PROBLEMS = {
    "missing-module": "failed to load: ModuleNotFoundError: No module named 'no_such_plugin_xyz'",
    "raising": "failed to load: RuntimeError: plugin misconfigured",
    "no-attr": "failed to load: AttributeError: module 'bad_cmds' has no attribute 'nothing'",
    "no-run": "Member lacks run (a command needs name, help, add_arguments and run)",
    "bad-help": "its help is int, not str",
    "misnamed": "its name is 'other-name', not 'misnamed'",
    "multiline": "its help must be one non-empty line",
    "not-callable": "its run is not callable",
    "a-class": "it loads the class AClass; point it at an instance",
}


@dataclass
class Site:
    """A folder on sys.path where test distributions are 'installed'."""

    path: Path
    modules: list[str] = field(default_factory=list)

    def install(self, dist: str, version: str, commands: dict[str, str], **modules: str) -> None:
        info = self.path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{n} = {v}" for n, v in commands.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, source in modules.items():
            (self.path / f"{name}.py").write_text(source, encoding="utf-8")
            self.modules.append(name)
        importlib.invalidate_caches()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """argparse wraps help lines to the terminal; keep each command on one line."""
    monkeypatch.setenv("COLUMNS", "500")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.syspath_prepend(str(tmp_path))
    found = Site(tmp_path)
    yield found
    for name in found.modules:  # the next test writes its own modules under the same names
        sys.modules.pop(name, None)


@pytest.fixture
def plugins(site: Site) -> Site:
    """greeter-cmds 1.0 brings ``hello`` and ``sloppy``; broken-cmds 2.0 brings broken ones."""
    site.install(
        "greeter-cmds",
        "1.0",
        {"hello": "greeter_cmds:command", "sloppy": "greeter_cmds:sloppy"},
        greeter_cmds=GREETER,
    )
    site.install(
        "broken-cmds",
        "2.0",
        BROKEN,
        bad_cmds=BAD_COMMANDS,
        raising_cmd="raise RuntimeError('plugin misconfigured')\n",
    )
    return site


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("penguiflow: error: "), err
    assert "Traceback" not in err
    return lines[0].removeprefix("penguiflow: error: ")


# -- a plugged-in command ------------------------------------------------------------


def test_a_registered_command_runs_with_its_arguments(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hello", "Ada"]) == 0
    assert capsys.readouterr().out == "hello Ada\n"


def test_the_command_s_status_is_the_exit_status(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hello", "Ada", "--status", "4"]) == 4
    assert capsys.readouterr().out == "hello Ada\n"


def test_a_cli_error_from_a_command_is_one_line_with_its_code(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hello", "nobody"]) == 3
    assert one_error_line(capsys.readouterr().err) == "nobody to greet"


def test_a_command_s_unexpected_exception_is_one_line(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hello", "bug"]) == 1
    assert one_error_line(capsys.readouterr().err) == "RuntimeError: the greeter has a bug"


def test_a_command_must_return_an_exit_status(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sloppy"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "done\n"
    assert one_error_line(captured.err) == (
        "command 'sloppy' returned NoneType, not an exit status (int)"
    )


def test_a_command_s_usage_errors_are_one_line(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hello"]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        "the following arguments are required: who (see 'penguiflow hello --help')"
    )


def test_running_a_command_imports_no_other_command(plugins: Site) -> None:
    assert main(["hello", "Ada"]) == 0
    assert "bad_cmds" not in sys.modules
    assert "raising_cmd" not in sys.modules


def test_help_lists_installed_commands_and_known_missing_ones(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "hello greet someone" in lines
    assert "worker serve one node of a flow from a message bus" in lines
    missing = CommandRegistry.discover().missing_known()
    assert {known.name for known in missing} == set(KNOWN_COMMANDS)  # none registers it yet
    assert out.rstrip().endswith(
        "not installed:\n"
        '  a2a    pip install "penguiflow-core[a2a]"\n'
        '  tools  pip install "penguiflow-core[tools]"\n'
        '  dev    pip install "penguiflow-core[cli]"'
    )


def test_help_before_a_command_shows_the_overview(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help", "hello"]) == 0
    out = capsys.readouterr().out
    assert "greet someone" in out and "worker" in out


def test_a_command_s_own_help(plugins: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hello", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: penguiflow hello [-h] [--status STATUS] who")
    assert "bad_cmds" not in sys.modules


# -- broken commands -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_command_is_reported_in_one_line(
    plugins: Site, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main([name]) == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"command '{name}' cannot run: entry point '{name} = {BROKEN[name]}' of broken-cmds 2.0: "
        f"{PROBLEMS[name]}"
    )


def test_broken_commands_do_not_break_the_others(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in BROKEN:
        assert main([name]) == 1
    capsys.readouterr()
    assert main(["hello", "Ada"]) == 0
    assert capsys.readouterr().out == "hello Ada\n"


def test_help_lists_broken_commands_as_unavailable(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    out = " ".join(captured.out.split())  # a long name puts its help on the next line
    for name in BROKEN:
        assert (
            f" {name} unavailable: {PROBLEMS[name]} (entry point '{name} = {BROKEN[name]}' "
            "of broken-cmds 2.0) "
        ) in out
    assert " hello greet someone " in out


def test_a_name_registered_by_two_distributions_is_broken(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.install("greeter-cmds", "1.0", {"hello": "greeter_cmds:command"}, greeter_cmds=GREETER)
    site.install("copycat-cmds", "0.3", {"hello": "greeter_cmds:command"})
    assert main(["hello", "Ada"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("command 'hello' cannot run: ")
    assert "'hello = greeter_cmds:command' of greeter-cmds 1.0" in line
    assert "'hello = greeter_cmds:command' of copycat-cmds 0.3" in line
    assert line.endswith("several distributions register it; uninstall all but one")


def test_an_entry_point_without_a_distribution() -> None:
    registry = CommandRegistry(
        [importlib.metadata.EntryPoint("ghost", "no_such_plugin_xyz:command", ENTRY_POINT_GROUP)]
    )
    assert registry.names == ("ghost",)
    with pytest.raises(CliError, match="of an unknown distribution: failed to load"):
        registry.load("ghost")
    with pytest.raises(KeyError):
        registry.load("nope")


# -- unknown and not-installed commands ----------------------------------------------


def test_an_unknown_command_is_a_usage_error_listing_the_commands(
    plugins: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["frob", "--x"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("argument COMMAND: invalid choice: 'frob' (choose from ")
    for name in ("hello", "worker", "sloppy"):
        assert f"'{name}'" in line
    assert line.endswith("(see 'penguiflow --help')")


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "required: COMMAND" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("name", "install"),
    [
        ("a2a", 'pip install "penguiflow-core[a2a]"'),
        ("tools", 'pip install "penguiflow-core[tools]"'),
        ("dev", 'pip install "penguiflow-core[cli]"'),
    ],
)
def test_a_known_command_not_installed_names_its_install_line(
    capsys: pytest.CaptureFixture[str], name: str, install: str
) -> None:
    assert name not in CommandRegistry.discover(), (
        f"{KNOWN_COMMANDS[name].distribution} registers '{name}' now: test that it runs instead"
    )
    assert main([name, "serve", "--port", "1"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.endswith(install)
    assert f"'{name}'" in line and KNOWN_COMMANDS[name].distribution in line
    try:
        importlib.metadata.distribution(KNOWN_COMMANDS[name].distribution)
    except importlib.metadata.PackageNotFoundError:
        assert line == (
            f"'{name}' is not installed; it comes with {KNOWN_COMMANDS[name].distribution}: "
            f"{install}"
        )
    else:  # the workspace installs the a2a and tools skeletons, which register nothing yet
        assert "is installed but registers no" in line


def test_a_module_can_be_the_command(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.install(
        "module-cmds",
        "0.1",
        {"shout": "shout_cmd"},
        shout_cmd=(
            'name = "shout"\n'
            'help = "say it loudly"\n'
            "def add_arguments(parser):\n"
            '    parser.add_argument("text")\n'
            "def run(args):\n"
            "    print(args.text.upper())\n"
            "    return 0\n"
        ),
    )
    assert main(["shout", "hi"]) == 0
    assert capsys.readouterr().out == "HI\n"


def test_a_registered_command_wins_over_the_known_table(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.install(
        "greeter-cmds",
        "1.0",
        {"dev": "dev_cmd:command"},
        dev_cmd=GREETER.replace('"hello"', '"dev"'),
    )
    assert main(["dev", "Ada"]) == 0
    assert capsys.readouterr().out == "hello Ada\n"


# -- the real console script and python -m -------------------------------------------


def run_penguiflow(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "penguiflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_python_m_runs_plugged_in_commands(plugins: Site) -> None:
    done = run_penguiflow("hello", "Ada", "--status", "5", pythonpath=plugins.path)
    assert (done.returncode, done.stdout, done.stderr) == (5, "hello Ada\n", "")


def test_python_m_help_survives_broken_commands(plugins: Site) -> None:
    done = run_penguiflow("--help", pythonpath=plugins.path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = " ".join(done.stdout.split())
    assert " hello greet someone " in out
    assert " worker serve one node of a flow from a message bus " in out
    assert (
        " raising unavailable: failed to load: RuntimeError: plugin misconfigured "
        "(entry point 'raising = raising_cmd:command' of broken-cmds 2.0) "
    ) in out


def test_python_m_broken_command(plugins: Site) -> None:
    done = run_penguiflow("raising", pythonpath=plugins.path)
    assert done.returncode == 1
    assert one_error_line(done.stderr) == (
        "command 'raising' cannot run: entry point 'raising = raising_cmd:command' of "
        "broken-cmds 2.0: failed to load: RuntimeError: plugin misconfigured"
    )


def test_python_m_a2a_names_the_install_line() -> None:
    done = run_penguiflow("a2a", "serve", "app:flow")
    assert done.returncode == 1
    assert done.stdout == ""
    assert one_error_line(done.stderr).endswith('pip install "penguiflow-core[a2a]"')


def test_the_console_script_lists_worker() -> None:
    script = Path(sys.executable).parent / "penguiflow"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "worker" in done.stdout
