"""The answers that must come fast: `onboard --help`, `onboard --version` and `onboard status`.

They are read off the command line here, without argparse (argparse with its gettext and locale is a
good part of what `status` may take to start). Only lines this reader understands in full are answered;
anything else (a command's --help, an abbreviation, a missing value, an unknown flag) goes to the full
parser in onboard.arguments, so usage errors come from one place.
"""

from __future__ import annotations

from onboard.errors import Exit

_SWITCHES = {"--debug", "-q", "--quiet"}  # global options that change nothing in these answers


def help_text() -> str:
    """The top-level help (argparse shows this one too)."""
    from onboard.commands import COMMANDS, DESCRIPTION, EXIT_CODES, GLOBAL_OPTIONS

    shown = [(flags, f" {metavar}" if metavar else "", text) for flags, metavar, text in GLOBAL_OPTIONS]
    usage = " ".join(f"[{flags[0]}{value}]" for flags, value, _ in shown)
    options = [(", ".join(flags) + value, text) for flags, value, text in shown]
    width = max(len(left) for left, _ in options) + 2
    return "\n".join([
        f"usage: onboard {usage} COMMAND ...", "", DESCRIPTION, "", "commands:",
        *(f"  {name:<16}{text}" for name, (_, text) in COMMANDS.items()), "", "options:",
        *(f"  {left:<{width}}{text}" for left, text in options), "",
        "`onboard COMMAND --help` shows the options of a command.", EXIT_CODES, ""])


def answer(argv: list[str]) -> int | None:
    """The exit code, if the line is one of the fast ones and has been answered; None otherwise."""
    i = 0
    while i < len(argv):  # the global options, up to the command
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(help_text(), end="")
            return Exit.OK
        if arg == "--version":
            from onboard import __version__

            print(f"onboard {__version__}")
            return Exit.OK
        if arg == "--config" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            i += 2  # status reads no configuration: its value does not matter here
            continue
        if arg.startswith("--config=") or arg in _SWITCHES:
            i += 1
            continue
        if arg.startswith("-"):
            return None
        break
    if i == len(argv):  # no command: the help, as a usage error
        print(help_text(), end="")
        return Exit.USAGE
    if argv[i] != "status":
        return None
    return _status(argv[i + 1:])


def _status(rest: list[str]) -> int | None:
    vo, as_json, i = None, False, 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--json" and not as_json:
            as_json, i = True, i + 1
        elif arg == "--vo" and vo is None and i + 1 < len(rest) and not rest[i + 1].startswith("-"):
            vo, i = rest[i + 1], i + 2
        elif arg.startswith("--vo=") and vo is None:
            vo, i = arg[5:], i + 1
        else:
            return None
    from onboard.status_view import show

    return show(vo, as_json)
