"""The one exception of the estimation core."""

from __future__ import annotations


class EstimationError(ValueError):
    """Invalid design, data or weighting input; the message is 简体中文 and names what is wrong."""
