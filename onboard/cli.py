"""Command line: parses arguments, runs a command, and is the only place errors become messages and exit
codes.

Imports nothing heavy at module level: `onboard --help`, `--version` and `status` must start fast.
Each command lives in onboard/commands/<module>.py with `add_arguments(parser)` and `run(args) -> int`;
those modules, too, import heavy libraries inside `run` only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from onboard import __version__
from onboard.errors import Exit, OnboardError

# name -> (module in onboard.commands, one-line help). Order is the order of `onboard --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "start": ("journey", "start the journey for a VO and run it as far as it goes"),
    "resume": ("journey", "continue the journey (as often as needed, days apart)"),
    "status": ("journey", "where the journey stands: done, current, next, and what it waits for"),
    "history": ("journey", "every step the journey took, with times and outcomes"),
    "reset": ("journey", "forget the journey's state (files and credentials are kept)"),
    "confirm": (
        "confirm",
        "open the VO's e-mail confirmation link by hand (checked like the mail reader does)",
    ),
    "convert": ("credentials", "convert the CA's PKCS#12 into grid PEM files, a clean .p12 and links"),
    "keygen": ("credentials", "make a key and CSR locally, for CAs that take a request"),
    "doctor": ("credentials", "check the installed credential against what grid tools require"),
    "vos": ("vos", "the VO catalog: how each VO registers members and what it needs"),
    "explain": ("explain", "what a CA portal's or grid tool's error message means, and whom to ask"),
    "trust": ("trust", "the grid trust anchors in use: check them, or install the IGTF bundle"),
    "browser-import": (
        "browser",
        "import your certificate into Firefox/Thunderbird (NSS), or show the steps",
    ),
    "browser-export": (
        "browser",
        "export a certificate from Firefox/Thunderbird into onboard (the OSG flow)",
    ),
    "workflows": ("workflows", "list and validate the journeys onboard knows"),
    "demo": ("demo", "the whole journey against a throwaway sandbox grid, non-interactively"),
    "sandbox": ("sandbox", "the embedded grid (CA, VOMS-Admin, mail, submit host) for sessions and tests"),
}


def _width() -> int:
    try:
        return max(40, min(int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size().columns, 120)) - 2
    except (OSError, ValueError):
        return 78


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter asks shutil for the terminal width each time it is made (and argparse makes one
    per argument); importing shutil and asking once is start-up time `onboard status` cannot spare."""

    WIDTH: int | None = None

    def __init__(self, prog: str, **kw) -> None:
        if _Formatter.WIDTH is None:
            _Formatter.WIDTH = _width()
        super().__init__(prog, width=kw.pop("width", _Formatter.WIDTH), **kw)


class _RawDescription(_Formatter, argparse.RawDescriptionHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw) -> None:
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)

    def error(self, message: str) -> None:  # usage errors: one line, one hint, exit 2
        raise _Usage(message, self.prog)


class _Usage(Exception):
    def __init__(self, message: str, prog: str):
        super().__init__(message)
        self.prog = prog


def _command_in(argv: list[str]) -> str | None:
    """The command named on the line (skipping the value of --config), without parsing the rest."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--config":
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. Only the module of the command on the line is imported (start-up time); with argv=None
    every command is built (for documentation and tests)."""
    parser = _Parser(prog="onboard", description="From nothing to a working grid VO credential.",
                     epilog="Exit codes: 0 done, 1 error, 2 usage, 75 waiting (run `onboard resume` later); "
                            "others name the failure (see README).")
    parser.add_argument("--version", action="version", version=f"onboard {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", help="configuration file (default: the platform config directory)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no explanations, only what happens")
    chosen = _command_in(argv) if argv is not None else None
    if argv is not None and chosen is None:
        # no command on the line: `onboard --help`, or a usage error. The command list is text, not
        # sub-parsers, because making a parser per command costs more start-up time than the help has.
        parser.add_argument("command", metavar="COMMAND", nargs="?", choices=list(COMMANDS),
                            help="one of the commands listed above")
        parser.description = (parser.description or "") + "\n\ncommands:\n" + "\n".join(
            f"  {name:<16}{text}" for name, (_, text) in COMMANDS.items())
        parser.formatter_class = _RawDescription
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        if chosen and name != chosen:
            continue  # building parsers costs start-up time; only the one on the line is needed
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        module = importlib.import_module(f"onboard.commands.{module_name}")
        module.add_arguments(name, p)
        p.set_defaults(_module=module)
    return parser


def _report(err: OnboardError, debug: bool) -> int:
    from onboard.ui import style

    code = int(err.exit_code)
    if code == Exit.WAITING:
        print(err.message, file=sys.stderr)
    else:
        print(style("error:", "31;1", sys.stderr), err.message, file=sys.stderr)
    if err.hint:
        print(style("hint:", "36", sys.stderr), err.hint, file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or bool(os.environ.get("ONBOARD_DEBUG"))
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return Exit.USAGE
        return int(args._module.run(args))
    except _Usage as e:
        print(f"error: {e}", file=sys.stderr)
        print(f"hint: see `{e.prog} --help`.", file=sys.stderr)
        return Exit.USAGE
    except OnboardError as e:
        if debug:
            import traceback

            traceback.print_exc()
        return _report(e, debug)
    except KeyboardInterrupt:
        print("\ninterrupted.", file=sys.stderr)
        print("hint: nothing was lost; `onboard resume` picks up where it stopped.", file=sys.stderr)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        return Exit.ERROR
    except Exception as e:  # a bug: say so in one line, traceback only with --debug
        if debug:
            raise
        print(f"error: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print("hint: run again with --debug and report the traceback.", file=sys.stderr)
        return Exit.ERROR


if __name__ == "__main__":
    raise SystemExit(main())
