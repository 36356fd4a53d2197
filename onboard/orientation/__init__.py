"""Orientation sessions, the two sides that are not the sandbox itself.

join     a trainee's machine joins the instructor's sandbox (trust anchor checked by fingerprint, config)
report   a trainee's onboard tells the sandbox where its journey stands (for the board)
board    the instructor's board: one line per trainee, from the sandbox's records and the reports

The commands are `onboard sandbox join` and `onboard sandbox board` (onboard/commands/sandbox/orientation.py).
"""
