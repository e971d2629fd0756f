"""Decimal half-up rounding, as the guidelines' reporting tables round."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["round_half_up"]


def round_half_up(x: float, places: int) -> float:
    """Round the way the guidelines' tables do (decimal, half up), not banker's rounding on
    the binary value: 0.125 → 0.13 at 2 places."""
    q = Decimal(1).scaleb(-places)
    return float(Decimal(repr(x)).quantize(q, rounding=ROUND_HALF_UP))
