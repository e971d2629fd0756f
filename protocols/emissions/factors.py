"""A guideline default or factor with where it comes from, and the guideline's rounding.

Every value a default table carries is a :class:`Factor`: value, unit, the reference
(guideline + table/equation, or IPCC table) and ``confirmed`` — ``False`` where the value
could not be checked against the guideline's own text from the development machine, so a
reviewer knows what to check. The record's settings carry the same marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.methods.rounding import round_half_up

__all__ = ["Factor", "round_half_up"]


@dataclass(frozen=True, slots=True)
class Factor:
    """One default value or coefficient of a guideline table."""

    value: float
    unit: str
    ref: str  # guideline + table/equation, or IPCC table
    confirmed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "unit": self.unit,
            "ref": self.ref,
            "confirmed": self.confirmed,
        }
        if self.note:
            out["note"] = self.note
        return out
