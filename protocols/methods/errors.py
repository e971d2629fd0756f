"""The one error type the accounting methods raise for inputs they cannot use."""

from __future__ import annotations

import math

__all__ = ["MethodError", "require_finite", "require_fraction", "require_non_negative"]


class MethodError(ValueError):
    """An input outside the domain of a method (negative production, CE above 1, ...).

    A ``ValueError`` so callers that only know the standard library still catch it; the
    command line turns it into a one-line usage error (exit 2).
    """


def require_finite(name: str, value: float) -> float:
    """Return ``value`` as float, or raise if it is not a finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MethodError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise MethodError(f"{name} must be finite, got {value!r}")
    return v


def require_non_negative(name: str, value: float) -> float:
    """Return ``value`` as float, or raise if it is negative or not finite."""
    v = require_finite(name, value)
    if v < 0:
        raise MethodError(f"{name} must be >= 0, got {v:g}")
    return v


def require_fraction(name: str, value: float) -> float:
    """A fraction in (0, 1], e.g. current efficiency 0.93 (not 93)."""
    v = require_finite(name, value)
    if not 0.0 < v <= 1.0:
        raise MethodError(f"{name} must be a fraction in (0, 1], got {v:g}")
    return v
