"""The argparse parser of every command. Only the module of the command on the line is imported, and
its parser is the only one built: start-up time is spent on what this run needs."""

from __future__ import annotations

import argparse
import importlib
import os

from onboard import __version__
from onboard.commands import COMMANDS, DESCRIPTION, EXIT_CODES, GLOBAL_OPTIONS
from onboard.errors import UsageError


def _width() -> int:
    try:
        return max(40, min(int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size().columns, 120)) - 2
    except (OSError, ValueError):
        return 78


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter asks shutil for the terminal width each time it is made (and argparse makes one
    per argument); asking once is enough."""

    WIDTH: int | None = None

    def __init__(self, prog: str, **kw) -> None:
        if _Formatter.WIDTH is None:
            _Formatter.WIDTH = _width()
        super().__init__(prog, width=kw.pop("width", _Formatter.WIDTH), **kw)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw) -> None:
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)

    def error(self, message: str) -> None:  # usage errors: one line, one hint, exit 2 (onboard.cli)
        raise UsageError(message, f"See `{self.prog} --help`.")


class _TopLevel(_Parser):
    def format_help(self) -> str:  # one top-level help, written once (onboard.quick)
        from onboard.quick import help_text

        return help_text()


def command_in(argv: list[str]) -> str | None:
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
    """The parser for `argv`; with argv=None every command is built (for documentation and tests)."""
    parser = _TopLevel(prog="onboard", description=DESCRIPTION, epilog=EXIT_CODES, add_help=False)
    for flags, metavar, help_text in GLOBAL_OPTIONS:
        if "--help" in flags:
            parser.add_argument(*flags, action="help", help=help_text)
        elif "--version" in flags:
            parser.add_argument(*flags, action="version", version=f"onboard {__version__}", help=help_text)
        elif metavar:
            parser.add_argument(*flags, metavar=metavar, help=help_text)
        else:
            parser.add_argument(*flags, action="store_true", help=help_text)
    chosen = command_in(argv) if argv is not None else None
    if argv is not None and chosen is None:  # no (known) command on the line: a usage error follows
        parser.add_argument("command", metavar="COMMAND", nargs="?", choices=list(COMMANDS))
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        if chosen and name != chosen:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        module = importlib.import_module(f"onboard.commands.{module_name}")
        module.add_arguments(name, p)
        p.set_defaults(_module=module)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    args = build_parser(argv).parse_args(argv)
    if not args.command:
        raise UsageError("no command given.", "See `onboard --help` for the commands.")
    return args
