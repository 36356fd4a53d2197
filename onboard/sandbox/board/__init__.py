"""The instructor's board as a live web page served by the sandbox (routes.py), for the projector: a row
per trainee and a picture of the room (rows.py, room.py), approve and reject from it; the instructor's
alone (access.py). The terminal board (`onboard sandbox board`, onboard/orientation/board.py) reads the
same rows."""

from __future__ import annotations


def install(app) -> None:
    # imported here: the terminal board uses rows.py alone, without the web server's modules
    from onboard.sandbox.board import routes

    routes.install(app)
