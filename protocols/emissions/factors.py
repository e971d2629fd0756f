"""A guideline default or factor with where it comes from, and the guideline's rounding.

Every value a default table carries is a :class:`Factor`: value, unit, the reference
(guideline + table/row, or IPCC table) and how far it was checked. The policy (issue #14,
factor review; the per-value findings are in ``/work/notes/14-factors.md``):

* ``confirmed=True`` only where the value was checked against the source's *own* text, or
  where it is exact chemistry (molar-mass ratios). Nothing else.
* A value that only a *secondary reproduction* agrees with (a public table, model or parser
  that quotes the source) stays ``confirmed=False`` and names that reproduction in
  ``reproduced_by`` ("as reproduced by …"). The record therefore still says
  "(unconfirmed)" for it: a reproduction is evidence, not the source, and the 2024 Chinese
  guidelines' appendices and the IPCC PDFs could not be opened from the development machine.
* ``note`` says anything a reviewer must know, e.g. that reproductions disagree with the value.

The record's settings (``settings.emission_factors``) carry the same fields, so a verifier
sees exactly what was checked and how.
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
    ref: str  # guideline + table/row, or IPCC table
    confirmed: bool  # checked against the source's own text (or exact chemistry)
    note: str = ""
    reproduced_by: str = ""  # secondary reproduction that agrees (value stays unconfirmed)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "unit": self.unit,
            "ref": self.ref,
            "confirmed": self.confirmed,
        }
        if self.note:
            out["note"] = self.note
        if self.reproduced_by:
            out["reproduced_by"] = self.reproduced_by
        return out
