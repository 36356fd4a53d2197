"""(being written)"""

from __future__ import annotations


def add_arguments(name, p):
    pass


def run(args):
    from onboard.errors import NotImplementedStep

    raise NotImplementedStep(args.command)
