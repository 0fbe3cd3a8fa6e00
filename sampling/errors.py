"""The one exception of the sampling package."""

from __future__ import annotations


class SamplingError(ValueError):
    """Invalid design input (sizes, bounds, frame, blocks); the message is 简体中文 for users."""
