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
        print(f"error: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print("hint: run again with --debug and report the traceback.", file=sys.stderr)
        return Exit.ERROR


if __name__ == "__main__":
    raise SystemExit(main())
