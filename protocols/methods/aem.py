"""Anode-effect minutes per cell-day (AEM), the activity datum of the PFC slope method.

AEM = Σ AE minutes ÷ Σ operating cell-days over the period (IPCC 2006 Vol 3 Ch 4 §4.4.2.4,
Eq. 4.26 notation; US EPA 40 CFR 98.63, Eq. F-2 "AEM"). It is a ratio of sums, never a mean
of daily ratios, so it is invariant to how the period is split. The detector settings that
define an anode effect (trigger voltage, minimum duration) travel with the result, because
AEM from an 8 V trigger and from a 6 V trigger are different quantities.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.methods.errors import MethodError, require_non_negative

__all__ = ["AemResult", "aem", "aem_value"]

METHOD = "ae_minutes_per_cell_day"


@dataclass(frozen=True, slots=True)
class AemResult:
    """AEM with its inputs and the anode-effect definition used to count the minutes."""

    aem: float
    ae_minutes: float
    cell_days: float
    trigger_v: float | None = None
    min_duration_s: float | None = None
    ae_count: int | None = None
    method: str = METHOD

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "aem": self.aem,
            "inputs": {
                "ae_minutes": self.ae_minutes,
                "cell_days": self.cell_days,
                "ae_count": self.ae_count,
            },
            "anode_effect_definition": {
                "trigger_v": self.trigger_v,
                "min_duration_s": self.min_duration_s,
            },
        }


def aem_value(ae_minutes: float, cell_days: float) -> float:
    """Plain AEM for hot paths; the caller guarantees cell_days > 0."""
    return ae_minutes / cell_days


def aem(
    ae_minutes: float,
    cell_days: float,
    *,
    trigger_v: float | None = None,
    min_duration_s: float | None = None,
    ae_count: int | None = None,
) -> AemResult:
    """Validated AEM. Zero cell-days (line down all period) has no AEM: raise."""
    m = require_non_negative("ae_minutes", ae_minutes)
    cd = require_non_negative("cell_days", cell_days)
    if cd == 0:
        raise MethodError("cell_days must be > 0 (no cell operated, AEM undefined)")
    return AemResult(
        aem=m / cd,
        ae_minutes=m,
        cell_days=cd,
        trigger_v=trigger_v,
        min_duration_s=min_duration_s,
        ae_count=ae_count,
    )
