"""Command line: runs a command, and is the only place errors become messages and exit codes.

Imports nothing heavy at module level: `onboard --help`, `--version` and `status` are answered by
onboard.quick without argparse; every other line is parsed by onboard.arguments.
"""

from __future__ import annotations

import os
import sys

from onboard.errors import Exit, OnboardError


def _report(err: OnboardError) -> int:
    from onboard.ui import style

    code = int(err.exit_code)
    if code == Exit.WAITING:
        print(err.message, file=sys.stderr)
    else:
        print(style("error:", "31;1", sys.stderr), err.message, file=sys.stderr)
    if err.hint:
        print(style("hint:", "36", sys.stderr), err.hint, file=sys.stderr)
    return code


def _leave_to_the_os() -> None:
    """At exit Python's collector walks every object there is. A fast answer holds no cycles worth
    finding and no resource left open, so its objects are frozen and left to the OS: a tenth of the
    start-up time of `onboard status`, measured by bench/startup."""
    import gc

    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    as_program = argv is None  # the console script or `python -m onboard`, not a caller in Python
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or bool(os.environ.get("ONBOARD_DEBUG"))
    try:
        from onboard import quick

        code = quick.answer(argv)
        if code is not None:
            if as_program:
                _leave_to_the_os()
            return code
        from onboard import arguments

        args = arguments.parse(argv)
        return int(args._module.run(args))
    except OnboardError as e:
        if debug:
            import traceback

            traceback.print_exc()
        return _report(e)
    except KeyboardInterrupt:
        print("\ninterrupted.", file=sys.stderr)
        print("hint: nothing was lost; `onboard resume` picks up where it stopped.", file=sys.stderr)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        return Exit.ERROR
    except Exception as e:  # a bug: say so in one line, traceback only with --debug
        if debug:
            raise
        # the kind of bug and where, never its text: that may quote what the code held, a password
        # included (UnicodeEncodeError quoted a letter of one, and where it stands)
        print(f"error: internal error: {type(e).__name__} in {_where(e)}.", file=sys.stderr)
        print("hint: run again with --debug and report the traceback.", file=sys.stderr)
        return Exit.ERROR


def _where(e: BaseException) -> str:
    """The innermost frame of onboard's own code that the exception passed: module and line."""
    tb, place = e.__traceback__, "onboard"
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if name.startswith("onboard"):
            place = f"{name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return place


if __name__ == "__main__":
    raise SystemExit(main())
