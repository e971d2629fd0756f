"""Accounting methods shared by the agent, the collector and the offline verifier.

Pure functions and small frozen result objects: values in, values out, no I/O. Every
constant carries its source in a comment next to it, and every result names the method,
coefficients and GWP set it used, so a monthly record can be recomputed and audited.
"""

from __future__ import annotations

from protocols.methods.errors import MethodError

__all__ = ["MethodError"]
