"""The command line's error type, in a module of its own: every area's command module (also
those of the pure cores) raises it, and ``survey.cli`` — which imports them all — catches it."""

from __future__ import annotations


class CommandError(Exception):
    """An expected failure of a command: printed as one line, exit status 1."""
