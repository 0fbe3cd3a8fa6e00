"""The results area's error, in a module without database imports: the pure steps
(``preparation``) raise it as the database steps do."""

from __future__ import annotations


class ComputeError(Exception):
    """A wave could not be computed; the message says why in Chinese."""
