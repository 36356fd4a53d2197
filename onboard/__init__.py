"""onboard: takes a new grid user from nothing to a working VO credential."""

__version__ = "0.1.0"
