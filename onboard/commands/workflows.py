"""`onboard workflows`: the journeys onboard knows, validated, with their states."""

from __future__ import annotations

import argparse

from onboard.errors import Exit


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="validate this workflow file instead of the shipped ones")


def run(args: argparse.Namespace) -> int:
    from onboard import steps, workflow

    targets = [args.file] if args.file else workflow.available()
    for target in targets:
        wf = workflow.load(target, steps.names())
        print(f"{wf.name}: {wf.title}  ({wf.file})")
        for name in wf.order():
            st = wf.states[name]
            kind = (
                "end"
                if st.final and not st.parent
                else "wait"
                if st.wait
                else "parallel"
                if st.regions
                else ""
            )
            pad = "    " if st.parent else "  "
            print(f"{pad}{name:<16} {kind:<9}{st.description}")
    return Exit.OK
