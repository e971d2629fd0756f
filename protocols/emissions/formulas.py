"""The emission formulas of the 2024 guidelines, pure: numbers in, tonnes CO2 out.

Molar-mass ratios are the guidelines' own: 44/12 (C → CO2), 44/56 (CaO → CO2), 44/40
(MgO → CO2). Carbonate factors are IPCC 2006 Vol 3 Ch 2 Table 2.1 (stoichiometric).
Each function raises :class:`~protocols.methods.errors.MethodError` on a negative quantity
or a fraction outside [0, 1], so a CLI can print one line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.emissions.factors import Factor
from protocols.methods.errors import MethodError, require_non_negative

__all__ = [
    "CAO_TO_CO2",
    "CARBONATE_FACTORS",
    "C_TO_CO2",
    "MGO_TO_CO2",
    "CarbonFlow",
    "anode_co2",
    "carbon_balance_co2",
    "carbonate_co2",
    "clinker_co2",
    "clinker_co2_ef",
    "fuel_co2",
]

C_TO_CO2 = 44.0 / 12.0  # CETS-AG-04.01/02.01/03.01-V01-2024: 44/12, molar mass ratio
CAO_TO_CO2 = 44.0 / 56.0  # CETS-AG-02.01-V01-2024 clinker equation: 44/56
MGO_TO_CO2 = 44.0 / 40.0  # CETS-AG-02.01-V01-2024 clinker equation: 44/40

#: t CO2 per t carbonate, IPCC 2006 Vol 3 Ch 2 Table 2.1 (stoichiometric: CaCO3 44.01/100.09,
#: CaMg(CO3)2 88.02/184.40)
CARBONATE_FACTORS: dict[str, Factor] = {
    # confirmed by chemistry (44.0095/100.0869 = 0.439713; 88.019/184.4008 = 0.477324)
    "limestone": Factor(0.43971, "t CO2/t CaCO3", "IPCC 2006 Vol 3 Ch 2 Table 2.1", True),
    "dolomite": Factor(0.47732, "t CO2/t CaMg(CO3)2", "IPCC 2006 Vol 3 Ch 2 Table 2.1", True),
}


def _fraction(name: str, v: float) -> float:
    if not (isinstance(v, int | float) and math.isfinite(v) and 0.0 <= v <= 1.0):
        raise MethodError(f"{name} must be a fraction in [0, 1], got {v!r}")
    return float(v)


def anode_co2(net_anode_t_per_t: float, production_t: float, sulphur: float, ash: float) -> float:
    """Anode CO2 (CETS-AG-04.01-V01-2024, anode consumption equation):
    NC × P × (1 − S − A) × 44/12."""
    nc = require_non_negative("net_anode_t_per_t", net_anode_t_per_t)
    p = require_non_negative("production_t", production_t)
    s, a = _fraction("sulphur", sulphur), _fraction("ash", ash)
    if s + a > 1.0:
        raise MethodError(f"sulphur + ash must not exceed 1, got {s + a!r}")
    return nc * p * (1.0 - s - a) * C_TO_CO2


def fuel_co2(quantity: float, ncv: float, carbon_content: float, oxidation: float) -> float:
    """Fuel combustion CO2: FC × NCV × CC × OF × 44/12 (FC t or 10⁴ Nm³, NCV GJ per that
    unit, CC t C/GJ, OF a fraction)."""
    fc = require_non_negative("quantity", quantity)
    ncv_ = require_non_negative("ncv", ncv)
    cc = require_non_negative("carbon_content", carbon_content)
    of = _fraction("oxidation", oxidation)
    return fc * ncv_ * cc * of * C_TO_CO2


def clinker_co2(
    clinker_t: float,
    cao: float,
    mgo: float,
    cao_noncarbonate: float = 0.0,
    mgo_noncarbonate: float = 0.0,
) -> float:
    """Clinker process CO2 (CETS-AG-02.01-V01-2024):
    Q × ((CaO − CaO_non-carbonate) × 44/56 + (MgO − MgO_non-carbonate) × 44/40)."""
    q = require_non_negative("clinker_t", clinker_t)
    x, y = _fraction("cao", cao), _fraction("mgo", mgo)
    x0 = _fraction("cao_noncarbonate", cao_noncarbonate)
    y0 = _fraction("mgo_noncarbonate", mgo_noncarbonate)
    if x0 > x or y0 > y:
        raise MethodError("non-carbonate CaO/MgO cannot exceed the clinker's CaO/MgO content")
    return q * ((x - x0) * CAO_TO_CO2 + (y - y0) * MGO_TO_CO2)


def clinker_co2_ef(clinker_t: float, ef: float) -> float:
    """Clinker process CO2 with an emission factor (t CO2/t clinker): Q × EF."""
    return require_non_negative("clinker_t", clinker_t) * require_non_negative("ef", ef)


def carbonate_co2(quantity: float, purity: float, kind: str) -> float:
    """Carbonate (flux) CO2: Q × P × F, F per ``kind`` (IPCC 2006 Vol 3 Table 2.1)."""
    q = require_non_negative("quantity", quantity)
    p = _fraction("purity", purity)
    f = CARBONATE_FACTORS.get(kind)
    if f is None:
        raise MethodError(f"kind must be one of {', '.join(CARBONATE_FACTORS)}, got {kind!r}")
    return q * p * f.value


@dataclass(frozen=True, slots=True)
class CarbonFlow:
    """One carbon-carrying flow of a balance: quantity × carbon fraction (t C per unit)."""

    name: str
    quantity: float
    carbon_fraction: float


def carbon_balance_co2(inputs: Sequence[CarbonFlow], outputs: Sequence[CarbonFlow]) -> float:
    """Carbon mass balance (CETS-AG-03.01-V01-2024): (Σ in Q×C − Σ out Q×C) × 44/12.
    May be negative for a process that exports more carbon than it takes in."""
    for f in (*inputs, *outputs):
        require_non_negative(f"{f.name}.quantity", f.quantity)
        require_non_negative(f"{f.name}.carbon_fraction", f.carbon_fraction)
    c_in = math.fsum(f.quantity * f.carbon_fraction for f in inputs)
    c_out = math.fsum(f.quantity * f.carbon_fraction for f in outputs)
    return (c_in - c_out) * C_TO_CO2
